"""Whisper engine (faster-whisper, CTranslate2 int8) with word timestamps.

Whisper reads a whole utterance at once, so the session collects the upload and decodes when
it ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from faster_whisper import WhisperModel

from services.asr.engines.base import Transcript, Word

_LOG = logging.getLogger(__name__)


def transcribe_options(language: str, beam_size: int) -> dict[str, Any]:
    """faster-whisper's `transcribe` options."""
    return {
        "language": language,
        "beam_size": beam_size,
        "word_timestamps": True,
        # Without it, Whisper tends to invent words ("Thank you.") for silence.
        "vad_filter": True,
        "condition_on_previous_text": False,
        # Timestamp tokens stay on even for audio within one window: without them Whisper
        # often runs on past the end of a short utterance ("... thank you very much").
        "without_timestamps": False,
    }


@dataclass(frozen=True)
class WhisperOptions:
    beam_size: int = 3
    cpu_threads: int = 2
    num_workers: int = 1
    """Decodes that may run at once in one process (one per concurrent request thread)."""


class WhisperSession:
    def __init__(self, model: WhisperModel, language: str, beam_size: int) -> None:
        self._model = model
        self._language = language
        self._beam_size = beam_size
        self._blocks: list[np.ndarray] = []

    def accept(self, audio: np.ndarray) -> None:
        if audio.size:
            self._blocks.append(audio)

    def finish(self) -> Transcript:
        if not self._blocks:
            return Transcript()
        audio = np.concatenate(self._blocks).astype(np.float32) / 32768.0
        segments, _ = self._model.transcribe(audio, **transcribe_options(self._language, self._beam_size))
        words = [
            Word(
                start_ms=round(word.start * 1000),
                end_ms=round(word.end * 1000),
                text=word.word.strip(),
                confidence=word.probability,
            )
            for segment in segments
            for word in segment.words or []
            if word.word.strip()
        ]
        return Transcript(words)


class WhisperEngine:
    name = "whisper"

    def __init__(self, model_dir: Path, model_name: str, options: WhisperOptions) -> None:
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
        _LOG.info("whisper model %s loaded from %s", model_name, model_dir)

    def start(self, language: str) -> WhisperSession:
        return WhisperSession(self._model, language, self._options.beam_size)

    def describe(self) -> dict[str, Any]:
        languages = sorted(self.languages) if self.languages is not None else "any"
        return {"engine": self.name, "model": self.model, "languages": languages, "streaming": False}
