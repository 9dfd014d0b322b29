"""Vosk (Kaldi) engine: decodes each block as it arrives, so little is left at the end.

Each utterance Kaldi ends (at a pause) is a segment. Vosk has none of Whisper's decoder
measures but a confidence per word: a segment's `avg_logprob` is the mean log confidence of
its words; its tokens, temperature, compression ratio and no-speech probability stay zero.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import vosk

from services.asr.audio_input import ENGINE_SAMPLE_RATE
from services.asr.engines.base import (
    Alternative,
    LiveOptions,
    Recognition,
    RecognitionOptions,
    Segment,
    Utterance,
    Word,
)

vosk.SetLogLevel(-1)  # Kaldi's own logging goes to stderr line by line; ours says what matters
_LOG = logging.getLogger(__name__)


def _words(items: list[dict[str, Any]]) -> list[Word]:
    return [
        Word(
            start_ms=round(item["start"] * 1000),
            end_ms=round(item["end"] * 1000),
            text=item["word"],
            confidence=item.get("conf"),
        )
        for item in items
    ]


class VoskSession:
    def __init__(self, model: vosk.Model, language: str) -> None:
        self._recognizer = vosk.KaldiRecognizer(model, ENGINE_SAMPLE_RATE)
        self._recognizer.SetWords(True)
        self._language = language
        self._segments: list[Segment] = []

    def accept(self, audio: np.ndarray) -> None:
        if audio.size and self._recognizer.AcceptWaveform(audio.astype("<i2", copy=False).tobytes()):
            self._collect(self._recognizer.Result())

    def finish(self, options: RecognitionOptions) -> Recognition:
        """The utterances decoded while the audio arrived, and the last one. The options are
        the model's already: one language, no prompt, no sampling."""
        self._collect(self._recognizer.FinalResult())
        return Recognition(self._language, iter(self._segments))

    def _collect(self, result_json: str) -> None:
        words = _words(json.loads(result_json).get("result", []))
        if not words:
            return
        confidences = [max(word.confidence or 1.0, 1e-6) for word in words]
        self._segments.append(
            Segment(
                id=len(self._segments),
                start=words[0].start_ms / 1000,
                end=words[-1].end_ms / 1000,
                text=" ".join(word.text for word in words),
                words=words,
                avg_logprob=sum(map(math.log, confidences)) / len(confidences),
            )
        )


class VoskLiveSession:
    """Kaldi ends utterances itself (its endpointer) while it decodes each block, so every
    result is ready when the block that ends it has been accepted."""

    def __init__(self, model: vosk.Model, options: LiveOptions) -> None:
        if options.phrases:
            # A grammar: only these words (and "[unk]" for anything else) can be recognized.
            grammar = json.dumps([*options.phrases, "[unk]"], ensure_ascii=False)
            self._recognizer = vosk.KaldiRecognizer(model, ENGINE_SAMPLE_RATE, grammar)
        else:
            self._recognizer = vosk.KaldiRecognizer(model, ENGINE_SAMPLE_RATE)
        self._recognizer.SetWords(True)
        self._recognizer.SetMaxAlternatives(options.alternatives)
        self._finished: list[Utterance] = []
        self._open_samples = 0

    def accept(self, audio: np.ndarray) -> None:
        self._open_samples += audio.size
        if audio.size and self._recognizer.AcceptWaveform(audio.astype("<i2", copy=False).tobytes()):
            self._finished.append(self._utterance(self._recognizer.Result()))
            self._open_samples = 0

    def open_seconds(self) -> float:
        return self._open_samples / ENGINE_SAMPLE_RATE

    def take_finished(self) -> list[Utterance]:
        finished, self._finished = self._finished, []
        return finished

    def partial(self) -> str:
        return json.loads(self._recognizer.PartialResult()).get("partial", "")

    def end_utterance(self) -> list[Utterance]:
        self._open_samples = 0
        return [*self.take_finished(), self._utterance(self._recognizer.FinalResult())]

    def close(self) -> None:
        self._finished = []

    @staticmethod
    def _utterance(result_json: str) -> Utterance:
        result = json.loads(result_json)
        if "alternatives" not in result:
            return Utterance(_words(result.get("result", [])))
        # With alternatives Kaldi gives each reading's words without confidences; the
        # reading's own confidence is its score.
        alternatives = [
            Alternative(item.get("text", ""), float(item.get("confidence", 0.0)), _words(item.get("result", [])))
            for item in result["alternatives"]
        ]
        return Utterance(alternatives[0].words if alternatives else [], alternatives)


class VoskEngine:
    name = "vosk"
    translates = False

    def __init__(self, model_dir: Path, language: str) -> None:
        self.id = self.model = model_dir.name
        self.languages = frozenset({language})
        self._language = language
        self._model = vosk.Model(str(model_dir))
        _LOG.info("vosk model %s loaded (language %s)", model_dir, language)

    def start(self, options: RecognitionOptions | None = None) -> VoskSession:
        return VoskSession(self._model, self._language)

    def start_live(self, options: LiveOptions) -> VoskLiveSession:
        return VoskLiveSession(self._model, options)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "engine": self.name,
            "model": self.model,
            "languages": sorted(self.languages),
            "streaming": True,
        }
