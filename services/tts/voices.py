"""Voice bundles exported by `make export`: discovery, manifests, loading."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from services.tts.engines.piper import PiperVoice
from services.tts.engines.silero import SileroVoice

_LOG = logging.getLogger(__name__)

MANIFEST_NAME = "voice.json"


class Synthesizer(Protocol):
    sample_rate: int
    supports_speed: bool
    max_speed: float
    """The fastest the model itself speaks; the stream time-stretches speech that must be faster."""

    def synthesize(
        self, text: str, speed: float = 1.0, first_part_seconds: float = 0.0, max_span_seconds: float = 0.0
    ) -> Iterator[np.ndarray]:
        """Float32 mono audio for one piece of text, in one or more consecutive parts: the
        first `first_part_seconds` long, none longer than `max_span_seconds` where the engine
        can cut spans (0: no bound)."""
        ...


_ENGINES: dict[str, type] = {"piper": PiperVoice, "silero": SileroVoice}
# The original project's voice is Silero: when one is exported it is the default.
_DEFAULT_ENGINE_ORDER = ("silero", "piper")


@dataclass(frozen=True)
class Voice:
    id: str
    manifest: dict[str, Any]
    synthesizer: Synthesizer

    def describe(self) -> dict[str, Any]:
        """What `/api/voices` tells clients about this voice."""
        source = self.manifest.get("source", {})
        return {
            "id": self.id,
            "engine": self.manifest["engine"],
            "language": self.manifest.get("language"),
            "native_sample_rate": self.manifest["sample_rate"],
            "speakers": self.manifest.get("speakers", []),
            "default_speaker": self.manifest.get("default_speaker"),
            "license": self.manifest.get("license"),
            "source": {key: source.get(key) for key in ("package", "version", "url", "sha256") if source.get(key)},
            "model_sha256": self.manifest.get("model_sha256"),
        }


def find_bundles(tts_models_dir: Path) -> list[Path]:
    """Bundle directories (those holding a manifest), sorted by voice id."""
    if not tts_models_dir.is_dir():
        return []
    # Names starting with "." are bundles still being written by the exporter.
    return sorted(
        path.parent for path in tts_models_dir.glob(f"*/{MANIFEST_NAME}") if not path.parent.name.startswith(".")
    )


def load_voice(bundle_dir: Path, threads: int) -> Voice:
    manifest = json.loads((bundle_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    engine = manifest.get("engine")
    if engine not in _ENGINES:
        raise ValueError(f"{bundle_dir}: unknown engine {engine!r}")
    return Voice(id=bundle_dir.name, manifest=manifest, synthesizer=_ENGINES[engine](bundle_dir, manifest, threads))


def default_voice_id(voices: dict[str, Voice]) -> str:
    """The voice a request gets when it names none (TTS_DEFAULT_VOICE overrides this)."""
    for engine in _DEFAULT_ENGINE_ORDER:
        for voice in voices.values():
            if voice.manifest["engine"] == engine:
                return voice.id
    return next(iter(voices), "")


def load_voices(tts_models_dir: Path, threads: int) -> dict[str, Voice]:
    """Every exported voice that loads; a broken bundle is logged and left out."""
    voices: dict[str, Voice] = {}
    for bundle_dir in find_bundles(tts_models_dir):
        try:
            voices[bundle_dir.name] = load_voice(bundle_dir, threads)
        except Exception:
            _LOG.exception("voice bundle %s failed to load; not serving it", bundle_dir)
    return voices
