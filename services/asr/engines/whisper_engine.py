"""Whisper engine (faster-whisper, CTranslate2 int8) with word timestamps.

Whisper reads a whole utterance at once. When a session knows its options from the start,
it decodes each utterance of the upload as soon as a pause ends it (see `whisper_stream`), so
at the end of the upload only the last one is left; otherwise it collects the upload and
decodes it whole when it ends. faster-whisper decodes 30-second windows and yields each
window's segments when the window is done, and so do the segments of a recognition here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import Segment as WhisperSegment

from services.asr.decode_queue import DecodeQueue
from services.asr.engines.base import (
    LiveOptions,
    Recognition,
    RecognitionOptions,
    Segment,
    Utterance,
    Word,
)
from services.asr.engines.whisper_draft import DraftWhisperModel
from services.asr.engines.whisper_stream import WhisperStream
from services.asr.voice_activity import PauseRules

_LOG = logging.getLogger(__name__)

SAMPLE_RATE = 16000
DRAFT_TOKENS_PER_SECOND = 6


def transcribe_options(options: RecognitionOptions, beam_size: int) -> dict[str, Any]:
    """faster-whisper's `transcribe` options for a request."""
    chosen: dict[str, Any] = {
        "language": options.language,
        "task": options.task,
        "beam_size": beam_size,
        "initial_prompt": options.prompt or None,
        "word_timestamps": options.word_times,
        # Without it, Whisper tends to invent words ("Thank you.") for silence.
        "vad_filter": True,
        "condition_on_previous_text": False,
        # Timestamp tokens stay on even for audio within one window: without them Whisper
        # often runs on past the end of a short utterance ("... thank you very much").
        "without_timestamps": False,
    }
    # A temperature of 0 is OpenAI's "start at 0 and raise it when decoding fails", which is
    # faster-whisper's default schedule; another value is used as it is.
    if options.temperature:
        chosen["temperature"] = options.temperature
    return chosen


@dataclass(frozen=True)
class WhisperOptions:
    beam_size: int = 3
    cpu_threads: int = 2
    num_workers: int = 1
    """Decodes that may run at once in one process (one per concurrent request thread)."""
    pauses: PauseRules = field(default_factory=PauseRules)
    """The pauses that end an utterance, which is then decoded at once."""
    partial_interval_ms: int = 300
    """How often a live stream's open utterance is decoded again for its partial."""
    early_decoding: bool = True
    """Whether an upload's utterances are decoded as pauses end them (see `WhisperSession`)."""


def _segments(decoded: Iterable[WhisperSegment]) -> Iterator[Segment]:
    # faster-whisper counts segments from 1; OpenAI's API, like every list here, from 0.
    for index, segment in enumerate(decoded):
        words = [
            Word(
                start_ms=round(word.start * 1000),
                end_ms=round(word.end * 1000),
                text=word.word.strip(),
                confidence=word.probability,
            )
            for word in segment.words or []
            if word.word.strip()
        ]
        yield Segment(
            id=index,
            start=segment.start,
            end=segment.end,
            text=segment.text,
            words=words,
            seek=segment.seek,
            tokens=list(segment.tokens),
            temperature=segment.temperature or 0.0,
            avg_logprob=segment.avg_logprob,
            compression_ratio=segment.compression_ratio,
            no_speech_prob=segment.no_speech_prob,
        )


def _numbered(utterances: Iterable[list[Segment]]) -> Iterator[Segment]:
    for index, segment in enumerate(segment for segments in utterances for segment in segments):
        yield replace(segment, id=index)


class WhisperSession:
    def __init__(self, engine: WhisperEngine, options: RecognitionOptions | None) -> None:
        self._engine = engine
        self._blocks: list[np.ndarray] = []
        self._early_options = options
        # Utterances are decoded early only in a language known now: decoded one by one, a
        # multilingual model would detect the language of each.
        language = options.language or engine.default_language if options else None
        early = options is not None and language is not None and engine.early_decoding
        self._early = engine.stream(replace(options, language=language)) if early else None
        self._language = language

    def accept(self, audio: np.ndarray) -> None:
        if audio.size:
            self._blocks.append(audio)
            if self._early is not None:
                self._early.accept(audio)

    def finish(self, options: RecognitionOptions) -> Recognition:
        """Start decoding what is left: the language is known (given, or detected) when this
        returns; the segments are decoded as they are taken."""
        if self._early is not None and options == self._early_options:
            self._early.end()
            decodes = self._early.finished()
            return Recognition(self._language or "en", _numbered(decode.result() for decode in decodes))
        if self._early is not None:  # asked otherwise in the end: what was decoded early is moot
            self._early.close()
        if not self._blocks:
            return Recognition(options.language or self._engine.default_language or "en", iter(()))
        audio = np.concatenate(self._blocks).astype(np.float32) / 32768.0
        return self._engine.decode_whole(audio, options)


class WhisperLiveSession:
    """A live stream: utterances end at pauses, partials from re-decoding the open one."""

    def __init__(self, stream: WhisperStream) -> None:
        self._stream = stream

    def accept(self, audio: np.ndarray) -> None:
        self._stream.accept(audio)

    def take_finished(self) -> list[Utterance]:
        # An utterance in which Whisper heard no word (a cough, a door) is not reported.
        return [utterance for utterance in map(_utterance, self._stream.take_done()) if utterance.words]

    def partial(self) -> str:
        return self._stream.partial()

    def open_seconds(self) -> float:
        return self._stream.open_seconds()

    def end_utterance(self) -> list[Utterance]:
        self._stream.end()
        return [_utterance(decode.result()) for decode in self._stream.finished()]

    def close(self) -> None:
        self._stream.close()


def _utterance(segments: list[Segment]) -> Utterance:
    return Utterance([word for segment in segments for word in segment.words])


class WhisperEngine:
    name = "whisper"

    def __init__(self, model_dir: Path, model_name: str, options: WhisperOptions) -> None:
        self.id = model_dir.name
        self.model = model_name
        self._options = options
        self._model_dir = model_dir
        self._whisper = self._load(WhisperModel)
        self._draft: WhisperModel | None = None
        """The model for partials, loaded with the first live stream (see `whisper_draft`)."""
        self._draft_lock = threading.Lock()
        multilingual = self._whisper.model.is_multilingual
        self.languages = None if multilingual else frozenset(self._whisper.supported_languages)
        self.default_language = None if self.languages is None else min(self.languages)
        self.translates = multilingual
        # Decodes of ended utterances and partials, at most as many at once as CTranslate2 runs.
        self._queue = DecodeQueue(options.num_workers)
        _LOG.info("whisper model %s loaded from %s", model_name, model_dir)

    @property
    def early_decoding(self) -> bool:
        return self._options.early_decoding

    def _load(self, model_class: type[WhisperModel]) -> WhisperModel:
        return model_class(
            str(self._model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=self._options.cpu_threads,
            num_workers=self._options.num_workers,
            local_files_only=True,
        )

    def _draft_model(self) -> WhisperModel:
        with self._draft_lock:
            if self._draft is None:
                self._draft = self._load(DraftWhisperModel)
            return self._draft

    def transcribe_options(self, options: RecognitionOptions) -> dict[str, Any]:
        return transcribe_options(options, self._options.beam_size)

    def decode_whole(self, audio: np.ndarray, options: RecognitionOptions) -> Recognition:
        decoded, info = self._whisper.transcribe(audio, **self.transcribe_options(options))
        return Recognition(info.language, _segments(decoded))

    def start(self, options: RecognitionOptions | None = None) -> WhisperSession:
        return WhisperSession(self, options)

    def start_live(self, options: LiveOptions) -> WhisperLiveSession:
        prompt = ", ".join(options.phrases) or None  # expected phrases: Whisper's prompt
        language = options.language or self.default_language
        options_now = RecognitionOptions(language=language, prompt=prompt)
        return WhisperLiveSession(self.stream(options_now, partials=options.partials))

    def stream(self, options: RecognitionOptions, partials: bool = False) -> WhisperStream:
        """Early decoding of a stream's utterances with these options (and partials, cheaply)."""
        chosen = self.transcribe_options(options)
        # A partial is a draft: greedy at temperature 0 only (a failed draft is not decoded
        # again hotter: the next one comes soon), no timestamps, no voice filter.
        draft = {
            **chosen,
            "beam_size": 1,
            "temperature": 0.0,
            "word_timestamps": False,
            "without_timestamps": True,
            "vad_filter": False,
        }

        def decode(audio: np.ndarray) -> list[Segment]:
            decoded, _ = self._whisper.transcribe(audio, **chosen)
            return list(_segments(decoded))

        draft_model = self._draft_model() if partials else self._whisper

        def decode_partial(audio: np.ndarray) -> str:
            # Speech holds a few tokens a second: a bound ends a draft caught repeating itself.
            most_tokens = DRAFT_TOKENS_PER_SECOND * len(audio) // SAMPLE_RATE + 8
            decoded, _ = draft_model.transcribe(audio, **draft, max_new_tokens=most_tokens)
            return " ".join(segment.text.strip() for segment in decoded)

        return WhisperStream(
            decode,
            self._queue,
            self._options.pauses,
            decode_partial if partials else None,
            self._options.partial_interval_ms,
        )

    def describe(self) -> dict[str, Any]:
        languages = sorted(self.languages) if self.languages is not None else "any"
        return {
            "id": self.id,
            "engine": self.name,
            "model": self.model,
            "languages": languages,
            "translates": self.translates,
            # Live streams (WebSocket) get partials and utterances as pauses end them.
            "streaming": True,
        }
