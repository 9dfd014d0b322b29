"""Whisper over a stream of audio: each utterance decoded as soon as a pause ends it, and
partial hypotheses of the utterance still open.

Whisper reads a whole stretch of audio at once, so nothing can be decoded word by word as it
arrives. What can be done is to decode early: voice activity detection ends an utterance at a
pause and its decode starts at once, beside the stream, so when the stream ends only its last
utterance is left to decode, however long the stream was.

The decode of the last utterance can start even before a pause ends it: once speech has
stopped for a moment (64 ms) and no other decode is waited for, the utterance so far is
decoded on speculation. If speech goes on, that decode is dropped; if the pause ends the
utterance, or the stream ends, with no speech since, it is the utterance's decode, and the
answer after a stream's last byte comes that much sooner.

Partials re-decode the open utterance at a steady cadence, cheaply (greedy, no timestamps).
A new hypothesis is only believed as far as it agrees with the one before it (LocalAgreement):
the partial grows by the words two decodes in a row agree on, so it does not flicker, and it
changes a word only when two decodes in a row read it otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace

import numpy as np

from services.asr.decode_queue import PARTIAL, URGENT, DecodeQueue
from services.asr.engines.base import Segment
from services.asr.voice_activity import PauseRules, Span, SpeechProbability, UtteranceTracker

SAMPLE_RATE = 16000
PAD_SAMPLES = SAMPLE_RATE // 5
"""Audio kept around an utterance's speech when it is decoded: 200 ms each side."""
SPECULATE_AFTER_SILENT_WINDOWS = 2
"""Silence (32 ms windows) after which the open utterance is decoded on speculation."""
MIN_PARTIAL_SAMPLES = SAMPLE_RATE // 4
"""Speech heard before a first partial is tried: less seldom holds a whole word."""

Decode = Callable[[np.ndarray], list[Segment]]
"""Float audio at 16 kHz to segments, times from its start."""
DecodePartial = Callable[[np.ndarray], str]


def _shifted(segment: Segment, seconds: float) -> Segment:
    shift_ms = round(seconds * 1000)
    words = [replace(word, start_ms=word.start_ms + shift_ms, end_ms=word.end_ms + shift_ms) for word in segment.words]
    return replace(segment, start=segment.start + seconds, end=segment.end + seconds, words=words)


def _comparable(word: str) -> str:
    return word.strip(".,!?;:\"'").lower()


def _common_prefix(first: list[str], second: list[str]) -> int:
    common = 0
    for one, other in zip(first, second, strict=False):
        if _comparable(one) != _comparable(other):
            break
        common += 1
    return common


class PartialAgreement:
    """The words of an open utterance that two hypotheses in a row agree on.

    Words once agreed stay while later pairs of hypotheses agree with them, and the partial grows
    by what those pairs add. A single hypothesis that reads them otherwise changes nothing; two in
    a row that agree on another reading replace them (a misheard first word, later heard in
    context, must not freeze the partial until the utterance ends).
    """

    def __init__(self) -> None:
        self._previous: list[str] = []
        self.agreed: list[str] = []

    def hypothesis(self, text: str) -> None:
        words = text.split()
        common = _common_prefix(self._previous, words)
        self._previous = words
        if not common:
            return
        consistent = _common_prefix(self.agreed, words[:common]) == min(len(self.agreed), common)
        if not consistent:
            self.agreed = words[:common]
        elif common > len(self.agreed):
            self.agreed = [*self.agreed, *words[len(self.agreed) : common]]


class WhisperStream:
    """The audio of one stream, its utterances' decodes in order, and its partial."""

    def __init__(
        self,
        decode: Decode,
        queue: DecodeQueue,
        rules: PauseRules,
        decode_partial: DecodePartial | None = None,
        partial_interval_ms: int = 300,
    ) -> None:
        self._decode = decode
        self._decode_partial = decode_partial
        self._queue = queue
        self._partial_interval = partial_interval_ms * SAMPLE_RATE // 1000
        self._speech = SpeechProbability()
        self._tracker = UtteranceTracker(rules)
        self._audio = np.zeros(0, dtype=np.int16)
        self._base = 0
        """Where `_audio` starts, in samples from the start of the stream."""
        self._decodes: list[Future[list[Segment]]] = []
        """Ended utterances not yet taken, oldest first."""
        self._speculation: tuple[Span, Future[list[Segment]]] | None = None
        """The open utterance's speech as far as it was decoded on speculation, and that decode."""
        self._lock = threading.Lock()  # partial state, written by decode threads
        self._agreement = PartialAgreement()
        self._partial_job: Future[str] | None = None
        self._partial_until = 0

    @property
    def samples(self) -> int:
        return self._base + len(self._audio)

    def open_seconds(self) -> float:
        start = self._tracker.open_start
        return 0.0 if start is None else (self.samples - start) / SAMPLE_RATE

    def accept(self, audio: np.ndarray) -> None:
        """Feed int16 samples; starts the decode of each utterance a pause ends."""
        if not audio.size:
            return
        self._audio = np.concatenate([self._audio, audio])
        for span in self._tracker.push(self._speech.push(audio)):
            self._start_decode(span, min(span.end + PAD_SAMPLES, self.samples))
        self._maybe_speculate()
        if self._decode_partial is not None:
            self._maybe_start_partial()
        self._drop_decoded_audio()

    def end(self) -> None:
        """End the open utterance: its decode starts with the audio to the end."""
        span = self._tracker.end()
        if span is not None:
            self._start_decode(span, self.samples)
        elif self._speculation is not None:  # speech that never reached a window of its own
            self._speculation[1].cancel()
            self._speculation = None

    def finished(self) -> list[Future[list[Segment]]]:
        """Take the decodes of the ended utterances, oldest first."""
        decodes, self._decodes = self._decodes, []
        return decodes

    def take_done(self) -> list[list[Segment]]:
        """The ended utterances decoded so far, in order (stops at the first still decoding)."""
        done = []
        while self._decodes and self._decodes[0].done():
            done.append(self._decodes.pop(0).result())
        return done

    def partial(self) -> str:
        with self._lock:
            return " ".join(self._agreement.agreed)

    def close(self) -> None:
        for decode in self._decodes:
            decode.cancel()
        self._decodes = []
        if self._speculation is not None:
            self._speculation[1].cancel()
            self._speculation = None
        with self._lock:
            if self._partial_job is not None:
                self._partial_job.cancel()

    def _slice(self, start: int, end: int) -> tuple[np.ndarray, float]:
        """Float audio from `start` (less the padding) to `end`, and where it starts (seconds)."""
        first = max(start - PAD_SAMPLES, self._base)
        audio = self._audio[first - self._base : end - self._base].astype(np.float32) / 32768.0
        return audio, first / SAMPLE_RATE

    def _submit_decode(self, start: int, end: int) -> Future[list[Segment]]:
        audio, offset = self._slice(start, end)
        decode = self._decode
        return self._queue.submit(URGENT, lambda: [_shifted(s, offset) for s in decode(audio)])

    def _start_decode(self, span: Span, end: int) -> None:
        """The utterance `span` has ended: decode it to `end` (or take its speculative decode)."""
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation[0] == span:
            self._decodes.append(speculation[1])
        else:
            if speculation is not None:
                speculation[1].cancel()
            self._decodes.append(self._submit_decode(span.start, end))
        with self._lock:  # a new utterance: its partial starts from nothing
            self._agreement = PartialAgreement()
            self._partial_until = end

    def _maybe_speculate(self) -> None:
        start = self._tracker.open_start
        if start is None or self._tracker.silent_windows < SPECULATE_AFTER_SILENT_WINDOWS:
            return
        span = Span(start, self._tracker.last_speech_end)
        if self._speculation is not None:
            if self._speculation[0] == span:
                return  # decoding this already
            self._speculation[1].cancel()  # speech went on since: moot (if not begun)
            self._speculation = None
        # Only on a spare decode thread: under load, speculating would delay decodes others wait for.
        if not self._queue.has_urgent_work():
            self._speculation = (span, self._submit_decode(span.start, self.samples))

    def _maybe_start_partial(self) -> None:
        start = self._tracker.open_start
        with self._lock:
            busy = self._partial_job is not None and not self._partial_job.done()
        if start is None or busy or self.samples - start < MIN_PARTIAL_SAMPLES:
            return
        if self.samples - self._partial_until < self._partial_interval:
            return
        audio, _ = self._slice(start, self.samples)
        self._partial_until = self.samples
        agreement = self._agreement
        assert self._decode_partial is not None
        job = self._queue.submit(PARTIAL, lambda: self._decode_partial(audio))

        def agree(done: Future[str]) -> None:
            if done.cancelled() or done.exception() is not None:
                return
            with self._lock:
                if agreement is self._agreement:  # its utterance is still the open one
                    agreement.hypothesis(done.result())

        with self._lock:
            self._partial_job = job
        job.add_done_callback(agree)

    def _drop_decoded_audio(self) -> None:
        # Every decode took a copy of its audio; keep what the open utterance (or the next)
        # may still need.
        start = self._tracker.open_start
        keep_from = (self.samples if start is None else start) - 2 * PAD_SAMPLES
        if keep_from - self._base > SAMPLE_RATE * 10:
            self._audio = self._audio[keep_from - self._base :]
            self._base = keep_from
