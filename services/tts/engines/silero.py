"""Silero voices exported to ONNX: symbol tokens -> acoustic graph -> (inverse STFT) -> audio.

`make export` captured what the package's synthesis core receives and how its text becomes
tokens, and wrote it to voice.json; the voice checks at load that its tokenizer reproduces
the package's own tokens for the texts captured then, and refuses to serve otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from services.tts.engines.onnx import create_session
from services.tts.engines.spectral import InverseStft


class SymbolTokenizer:
    """Silero's text preparation: lower case, symbols to ids, others dropped, wrapped."""

    def __init__(self, frontend: dict[str, Any]) -> None:
        self._ids = {symbol: index for index, symbol in enumerate(frontend["symbols"])}
        self._skipped = set(frontend.get("skipped_symbols", ""))
        self._lowercase = bool(frontend.get("lowercase", True))
        self._prefix = list(frontend.get("prefix", []))
        self._suffix = list(frontend.get("suffix", []))

    def __call__(self, text: str) -> list[int]:
        text = text.lower() if self._lowercase else text
        ids = [self._ids[char] for char in text if char in self._ids and char not in self._skipped]
        return [*self._prefix, *ids, *self._suffix]


class SileroVoice:
    max_speed = 2.0  # the pace Silero's own API allows at the most

    def __init__(self, bundle_dir: Path, manifest: dict[str, Any], threads: int) -> None:
        self.sample_rate: int = int(manifest["sample_rate"])
        self._tokenize = SymbolTokenizer(manifest["frontend"])
        for vector in manifest.get("test_vectors", []):
            if self._tokenize(vector["text"]) != vector["tokens"]:
                raise ValueError(f"tokenizer does not reproduce the package's tokens for {vector['text']!r}")
        self._inputs: dict[str, dict[str, Any]] = manifest["inputs"]
        self.supports_speed = any(spec["role"] == "pace" for spec in self._inputs.values())
        speakers = manifest.get("speakers") or [None]
        self._speaker_id = speakers.index(manifest.get("default_speaker", speakers[0]))
        self._session = create_session(bundle_dir / manifest["models"]["acoustic"], threads)
        dsp = manifest.get("dsp")
        self._dsp = None if dsp is None else self._load_dsp(bundle_dir, dsp)

    @staticmethod
    def _load_dsp(bundle_dir: Path, dsp: dict[str, Any]) -> InverseStft:
        if dsp["type"] != "istft":
            raise ValueError(f"unknown DSP stage {dsp['type']!r}")
        gain = np.load(bundle_dir / dsp["complex_gain"]) if dsp.get("complex_gain") else None
        return InverseStft(
            n_fft=int(dsp["n_fft"]),
            hop_length=int(dsp["hop_length"]),
            window=np.load(bundle_dir / dsp["window"]),
            center=bool(dsp.get("center", True)),
            complex_gain=gain,
        )

    def _feeds(self, tokens: list[int], speed: float) -> dict[str, np.ndarray]:
        feeds = {}
        for name, spec in self._inputs.items():
            role = spec["role"]
            if role == "tokens":
                value = np.asarray([tokens], dtype=np.int64)
            elif role == "speaker":
                value = np.asarray([self._speaker_id], dtype=np.int64)
            elif role == "pace":
                value = np.asarray(float(spec["value"]) * speed, dtype=spec["dtype"])
            else:  # a constant the package always passed
                value = np.asarray(spec["value"], dtype=spec["dtype"])
            feeds[name] = value
        return feeds

    def synthesize(
        self, text: str, speed: float = 1.0, first_part_seconds: float = 0.0, max_span_seconds: float = 0.0
    ) -> Iterator[np.ndarray]:
        """Audio for one piece of text, in one part (the graph has no span decoding)."""
        tokens = self._tokenize(text)
        if len(tokens) > len(self._tokenize("")):
            yield from self.synthesize_tokens(tokens, speed)

    def synthesize_tokens(self, tokens: list[int], speed: float = 1.0) -> Iterator[np.ndarray]:
        outputs = self._session.run(None, self._feeds(tokens, speed))
        if self._dsp is None:
            yield outputs[0].reshape(-1)
        else:
            real, imag = outputs
            yield self._dsp(real[0], imag[0])
