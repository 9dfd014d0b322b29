"""Voice activity in a live stream: where speech starts, and the pauses that end utterances.

Silero VAD, the ONNX model faster-whisper ships (and runs itself with `vad_filter`), is run
window by window as the audio arrives, carrying its recurrent state from one block to the
next: the probabilities are those of running it over the whole stream at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import get_vad_model

WINDOW_SAMPLES = 512
"""The model's window at 16 kHz: 32 ms."""
_CONTEXT_SAMPLES = 64
"""Samples of the window before that the model sees with each window."""
_STATE_SHAPE = (1, 1, 128)


class SpeechProbability:
    """The probability of speech in each 32 ms window of a 16 kHz stream, block by block."""

    def __init__(self) -> None:
        self._model = get_vad_model()  # one ONNX session per process, shared by every stream
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Feed int16 samples; the probabilities of the windows now complete."""
        samples = np.concatenate([self._pending, audio.astype(np.float32) / 32768.0])
        whole = len(samples) - len(samples) % WINDOW_SAMPLES
        self._pending = samples[whole:]
        if not whole:
            return np.zeros(0, dtype=np.float32)
        windows = samples[:whole].reshape(-1, WINDOW_SAMPLES)
        contexts = np.vstack([self._context[None], windows[:-1, -_CONTEXT_SAMPLES:]])
        self._context = windows[-1, -_CONTEXT_SAMPLES:].copy()
        batch = np.ascontiguousarray(np.concatenate([contexts, windows], axis=1))
        probabilities, self._h, self._c = self._model.session.run(None, {"input": batch, "h": self._h, "c": self._c})
        return probabilities.ravel()


@dataclass(frozen=True)
class PauseRules:
    """When speech starts, and how long a pause ends an utterance (faster-whisper's VAD
    thresholds: speech from 0.5, silence below 0.35)."""

    pause_ms: int = 160
    """Silence that ends an utterance."""
    min_utterance_ms: int = 1000
    """Speech shorter than this is not ended at a pause but runs on into the next: Whisper
    reads a phrase better with the words around it, and every decode costs a full window."""
    speech_threshold: float = 0.5
    silence_threshold: float = 0.35


@dataclass(frozen=True)
class Span:
    """An utterance's speech, in samples from the start of the stream."""

    start: int
    end: int


class UtteranceTracker:
    """Follows a stream's speech probabilities and reports each utterance when a pause ends it."""

    def __init__(self, rules: PauseRules) -> None:
        self._rules = rules
        self._pause_windows = max(1, rules.pause_ms * 16 // WINDOW_SAMPLES)
        self._min_utterance_samples = rules.min_utterance_ms * 16
        self._windows = 0
        self.open_start: int | None = None
        """Where the speech of the utterance still open started; None while there is none."""
        self.last_speech_end = 0
        """Where the last window of speech heard so far ends."""
        self.silent_windows = 0
        """Windows of silence since the last speech of the utterance still open."""

    def push(self, probabilities: np.ndarray) -> list[Span]:
        """Feed the next windows' probabilities; the utterances their pauses ended."""
        ended = []
        for probability in probabilities:
            position = self._windows * WINDOW_SAMPLES
            self._windows += 1
            if probability >= self._rules.speech_threshold:
                if self.open_start is None:
                    self.open_start = position
                self.silent_windows = 0
                self.last_speech_end = position + WINDOW_SAMPLES
            elif self.open_start is not None and probability < self._rules.silence_threshold:
                self.silent_windows += 1
                long_enough = self.last_speech_end - self.open_start >= self._min_utterance_samples
                if self.silent_windows >= self._pause_windows and long_enough:
                    ended.append(Span(self.open_start, self.last_speech_end))
                    self.open_start = None
        return ended

    def end(self) -> Span | None:
        """End the open utterance now (the stream ended, or the client asked)."""
        if self.open_start is None:
            return None
        span = Span(self.open_start, self.last_speech_end)
        self.open_start = None
        return span
