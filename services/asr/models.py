"""ASR models exported by `make export`, and the choice of the engine to run."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.asr.engines.base import Engine
from services.asr.settings import AsrSettings

_LOG = logging.getLogger(__name__)

MANIFEST_NAME = "model.json"


@dataclass(frozen=True)
class ExportedModel:
    directory: Path
    manifest: dict[str, Any]

    @property
    def engine(self) -> str:
        return self.manifest["engine"]

    @property
    def name(self) -> str:
        return self.manifest["name"]


@dataclass(frozen=True)
class EngineChoice:
    engine: Engine | None
    notes: list[str]
    """What a person should know: a substituted model, or why nothing is served."""


def find_models(asr_dir: Path) -> list[ExportedModel]:
    found = []
    for manifest_path in sorted(asr_dir.glob(f"*/{MANIFEST_NAME}")) if asr_dir.is_dir() else []:
        if manifest_path.parent.name.startswith("."):
            continue  # still being written by the exporter
        try:
            found.append(ExportedModel(manifest_path.parent, json.loads(manifest_path.read_text())))
        except (OSError, ValueError):
            _LOG.exception("unreadable model manifest %s", manifest_path)
    return found


def _load(model: ExportedModel, settings: AsrSettings) -> Engine:
    if model.engine == "vosk":
        from services.asr.engines.vosk_engine import VoskEngine

        return VoskEngine(model.directory, model.manifest["language"])
    from services.asr.engines.whisper_engine import WhisperEngine, WhisperOptions
    from services.asr.voice_activity import PauseRules

    options = WhisperOptions(
        settings.whisper_beam_size,
        settings.cpu_threads,
        settings.concurrent_decodes,
        PauseRules(pause_ms=settings.pause_ms),
        settings.partial_interval_ms,
        settings.early_decoding,
    )
    return WhisperEngine(model.directory, model.name, options)


def pick_model(models: list[ExportedModel], settings: AsrSettings) -> tuple[ExportedModel | None, list[str]]:
    engine = settings.engine or ("vosk" if any(m.engine == "vosk" for m in models) else "whisper")
    candidates = [m for m in models if m.engine == engine]
    if not candidates:
        return None, [f"no {engine} model is exported; run 'make export'"]
    wanted = settings.vosk_model if engine == "vosk" else f"whisper-{settings.whisper_model_size}"
    chosen = next((m for m in candidates if m.directory.name == wanted), None)
    if chosen is not None or not wanted:
        return chosen or candidates[0], []
    substitute = candidates[0]
    return substitute, [f"{wanted} is not exported (offline?); serving {substitute.directory.name} instead"]


def choose_engine(settings: AsrSettings) -> EngineChoice:
    model, notes = pick_model(find_models(settings.models_dir), settings)
    for note in notes:
        _LOG.warning(note)
    if model is None:
        return EngineChoice(None, notes)
    try:
        engine = _load(model, settings)
    except Exception as error:  # a broken model must not stop the service from saying so
        _LOG.exception("model %s failed to load", model.directory)
        return EngineChoice(None, [*notes, f"model {model.directory.name} failed to load: {error}"])
    _LOG.info("ASR engine: %s, model %s", engine.name, engine.model)
    return EngineChoice(engine, notes)
