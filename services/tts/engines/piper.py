"""Piper (VITS) voices: espeak-ng phonemes -> phoneme ids -> ONNX -> audio."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from piper.phoneme_ids import phonemes_to_ids
from piper.phonemize_espeak import EspeakPhonemizer

from services.tts.engines.onnx import create_session

# espeak-ng keeps its current voice in process-global state: one phonemizer per process,
# and one caller at a time.
_PHONEMIZER_LOCK = threading.Lock()
_phonemizer: EspeakPhonemizer | None = None


def phonemize(espeak_voice: str, text: str) -> list[str]:
    """Phonemes of `text` as one sequence (espeak's own sentence breaks become pauses)."""
    global _phonemizer
    with _PHONEMIZER_LOCK:
        if _phonemizer is None:
            _phonemizer = EspeakPhonemizer()
        sentences = _phonemizer.phonemize(espeak_voice, text)
    phonemes: list[str] = []
    for sentence in sentences:
        if phonemes and sentence:
            phonemes.append(" ")
        phonemes.extend(sentence)
    return phonemes


@dataclass(frozen=True)
class PiperScales:
    noise_scale: float
    length_scale: float
    noise_w: float


class PiperVoice:
    """One Piper voice bundle (`model.onnx` + `voice.json`) loaded for synthesis."""

    def __init__(self, bundle_dir: Path, manifest: dict[str, Any], threads: int) -> None:
        frontend = manifest["frontend"]
        self.sample_rate: int = int(manifest["sample_rate"])
        self._espeak_voice: str = frontend["espeak_voice"]
        self._phoneme_id_map: dict[str, list[int]] = frontend["phoneme_id_map"]
        self._scales = PiperScales(**manifest["scales"])
        self._gain = float(manifest.get("output_gain", 1.0))
        self._speaker_id: int | None = 0 if int(manifest.get("num_speakers", 1)) > 1 else None
        self._session = create_session(bundle_dir / manifest["model"], threads)

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        """Audio for one piece of normalized text: float32 mono at `self.sample_rate`."""
        phonemes = phonemize(self._espeak_voice, text)
        if not phonemes:
            return np.zeros(0, dtype=np.float32)
        ids = phonemes_to_ids(phonemes, self._phoneme_id_map)
        inputs = {
            "input": np.asarray([ids], dtype=np.int64),
            "input_lengths": np.asarray([len(ids)], dtype=np.int64),
            "scales": np.asarray(
                [self._scales.noise_scale, self._scales.length_scale / speed, self._scales.noise_w],
                dtype=np.float32,
            ),
        }
        if self._speaker_id is not None:
            inputs["sid"] = np.asarray([self._speaker_id], dtype=np.int64)
        audio = self._session.run(None, inputs)[0].reshape(-1)
        if self._gain != 1.0:
            audio *= self._gain
        return audio
