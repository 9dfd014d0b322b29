"""Vosk (Kaldi) engine: decodes each block as it arrives, so little is left at the end."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import vosk

from services.asr.audio_input import ENGINE_SAMPLE_RATE
from services.asr.engines.base import Transcript, Word

vosk.SetLogLevel(-1)  # Kaldi's own logging goes to stderr line by line; ours says what matters
_LOG = logging.getLogger(__name__)


class VoskSession:
    def __init__(self, model: vosk.Model) -> None:
        self._recognizer = vosk.KaldiRecognizer(model, ENGINE_SAMPLE_RATE)
        self._recognizer.SetWords(True)
        self._words: list[Word] = []

    def accept(self, audio: np.ndarray) -> None:
        if audio.size and self._recognizer.AcceptWaveform(audio.astype("<i2", copy=False).tobytes()):
            self._collect(self._recognizer.Result())

    def finish(self) -> Transcript:
        self._collect(self._recognizer.FinalResult())
        return Transcript(self._words)

    def _collect(self, result_json: str) -> None:
        for item in json.loads(result_json).get("result", []):
            self._words.append(
                Word(
                    start_ms=round(item["start"] * 1000),
                    end_ms=round(item["end"] * 1000),
                    text=item["word"],
                    confidence=item.get("conf"),
                )
            )


class VoskEngine:
    name = "vosk"

    def __init__(self, model_dir: Path, language: str) -> None:
        self.model = model_dir.name
        self.languages = frozenset({language})
        self._model = vosk.Model(str(model_dir))
        _LOG.info("vosk model %s loaded (language %s)", model_dir, language)

    def start(self, language: str) -> VoskSession:
        return VoskSession(self._model)

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": self.model, "languages": sorted(self.languages), "streaming": True}
