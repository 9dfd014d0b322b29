"""Whisper engine (faster-whisper, CTranslate2 int8) with word timestamps.

Whisper reads a whole utterance at once, so the session collects the upload and decodes when
it ends. faster-whisper decodes 30-second windows and yields each window's segments when the
window is done, and so do the segments of a recognition here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import Segment as WhisperSegment

from services.asr.engines.base import Recognition, RecognitionOptions, Segment, Word

_LOG = logging.getLogger(__name__)


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


class WhisperSession:
    def __init__(self, model: WhisperModel, beam_size: int, default_language: str | None) -> None:
        self._model = model
        self._beam_size = beam_size
        self._default_language = default_language
        self._blocks: list[np.ndarray] = []

    def accept(self, audio: np.ndarray) -> None:
        if audio.size:
            self._blocks.append(audio)

    def finish(self, options: RecognitionOptions) -> Recognition:
        """Start decoding: the language is known (given, or detected) when this returns; the
        segments are decoded as they are taken."""
        if not self._blocks:
            return Recognition(options.language or self._default_language or "en", iter(()))
        audio = np.concatenate(self._blocks).astype(np.float32) / 32768.0
        decoded, info = self._model.transcribe(audio, **transcribe_options(options, self._beam_size))
        return Recognition(info.language, _segments(decoded))


class WhisperEngine:
    name = "whisper"

    def __init__(self, model_dir: Path, model_name: str, options: WhisperOptions) -> None:
        self.id = model_dir.name
        self.model = model_name
        self._options = options
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=options.cpu_threads,
            num_workers=options.num_workers,
            local_files_only=True,
        )
        multilingual = self._model.model.is_multilingual
        self.languages = None if multilingual else frozenset(self._model.supported_languages)
        self.translates = multilingual
        _LOG.info("whisper model %s loaded from %s", model_name, model_dir)

    def start(self) -> WhisperSession:
        default = None if self.languages is None else next(iter(sorted(self.languages)))
        return WhisperSession(self._model, self._options.beam_size, default)

    def describe(self) -> dict[str, Any]:
        languages = sorted(self.languages) if self.languages is not None else "any"
        return {
            "id": self.id,
            "engine": self.name,
            "model": self.model,
            "languages": languages,
            "translates": self.translates,
            "streaming": False,
        }
