"""What every recognition engine offers the service, and what it gives back.

A session takes the audio of one upload block by block as it arrives; `finish` then
decodes what is left and gives the segments one by one as they are decoded, so a front door
can send each on before the next is ready.

A live session takes an endless stream instead: it ends utterances at pauses, gives each as
soon as it is decoded, and tells what it has heard so far of the utterance still open.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

TRANSCRIBE, TRANSLATE = "transcribe", "translate"


@dataclass(frozen=True)
class Word:
    start_ms: int
    end_ms: int
    text: str
    confidence: float | None = None

    def as_segment(self) -> dict[str, Any]:
        segment: dict[str, Any] = {"start_ms": self.start_ms, "end_ms": self.end_ms, "text": self.text}
        if self.confidence is not None:
            segment["confidence"] = round(self.confidence, 3)
        return segment


@dataclass(frozen=True)
class Segment:
    """A stretch of speech as the engine decoded it, with its words.

    The decoder's own measures are Whisper's; an engine without one of them leaves it at
    zero (see each engine).
    """

    id: int
    start: float
    """Seconds into the uploaded audio."""
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    seek: int = 0
    tokens: list[int] = field(default_factory=list)
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class RecognitionOptions:
    language: str | None = None
    """The spoken language's code; None lets a multilingual model detect it."""
    task: str = TRANSCRIBE
    """TRANSCRIBE, or TRANSLATE into English (multilingual Whisper models only)."""
    prompt: str | None = None
    """Text that comes before the audio: spellings, names, style."""
    temperature: float | None = None
    """Sampling temperature; None (or 0) for the engine's own schedule."""
    word_times: bool = True
    """Whether the words' times are wanted: Whisper finds them in a pass of its own."""


@dataclass
class Recognition:
    """An utterance being decoded: its language, and its segments as they are decoded."""

    language: str
    segments: Iterator[Segment]


@dataclass(frozen=True)
class Transcript:
    """A whole utterance, decoded."""

    language: str
    segments: list[Segment]

    @classmethod
    def of(cls, recognition: Recognition) -> Transcript:
        return cls(recognition.language, list(recognition.segments))

    @property
    def words(self) -> list[Word]:
        return [word for segment in self.segments for word in segment.words]

    @property
    def text(self) -> str:
        """The words, one space between each."""
        return " ".join(word.text for word in self.words)


@dataclass(frozen=True)
class Alternative:
    """One reading of an utterance, with how sure the engine is of it."""

    text: str
    confidence: float
    words: list[Word] = field(default_factory=list)


@dataclass(frozen=True)
class Utterance:
    """A stretch of speech a live session has ended (at a pause, or when asked), decoded.

    Word times count from the start of the stream.
    """

    words: list[Word]
    alternatives: list[Alternative] = field(default_factory=list)
    """The readings asked for with `LiveOptions.alternatives`, best first (engines that give
    one reading give that one)."""

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


@dataclass(frozen=True)
class LiveOptions:
    language: str | None = None
    """The spoken language's code; None for the model's own (or detection)."""
    phrases: tuple[str, ...] = ()
    """Phrases the speech is expected to hold: a grammar for Vosk, a prompt for Whisper."""
    alternatives: int = 0
    """How many readings of each utterance to give (0: the best one only)."""
    partials: bool = True
    """Whether the client reads partial results; without them an engine that must decode
    again for each (Whisper) spends that time on the utterances alone."""


class LiveSession(Protocol):
    """An endless stream of speech, recognized as it arrives."""

    def accept(self, audio: np.ndarray) -> None:
        """Feed 16 kHz mono int16 samples. Decoding that takes long runs beside the stream."""
        ...

    def take_finished(self) -> list[Utterance]:
        """The utterances decoded since the last call, oldest first; never waits."""
        ...

    def partial(self) -> str:
        """The words heard so far of the utterance still open; it only grows until it ends."""
        ...

    def open_seconds(self) -> float:
        """How long the utterance still open has run (0 while there is no speech)."""
        ...

    def end_utterance(self) -> list[Utterance]:
        """End the open utterance now and wait for every utterance not yet taken, decoded."""
        ...

    def close(self) -> None:
        """Drop what is pending: the stream is over (or its client gone)."""
        ...


class RecognitionSession(Protocol):
    """One utterance: audio is fed in blocks as it arrives, decoding ends with `finish`."""

    def accept(self, audio: np.ndarray) -> None:
        """Feed 16 kHz mono int16 samples."""
        ...

    def finish(self, options: RecognitionOptions) -> Recognition: ...


class Engine(Protocol):
    id: str
    """The exported model's directory name, unique among the models served."""
    name: str
    model: str
    languages: frozenset[str] | None
    """Language codes the model recognizes; None when it detects any language."""
    translates: bool
    """Whether it can translate speech into English (TRANSLATE)."""

    def start(self, options: RecognitionOptions | None = None) -> RecognitionSession:
        """A session for one upload; given the options at the start, an engine may decode
        parts of the upload before it ends (finish with other options decodes it anew)."""
        ...

    def start_live(self, options: LiveOptions) -> LiveSession: ...

    def describe(self) -> dict[str, Any]: ...
