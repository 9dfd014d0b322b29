"""Which exported ASR model the service runs (unit): Vosk when there is one, else Whisper."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from services.asr.models import ExportedModel, pick_model
from services.asr.settings import AsrSettings

SETTINGS = AsrSettings(
    models_dir=Path("models/asr"),
    engine="",
    whisper_model_size="base.en",
    vosk_model="",
    max_audio_seconds=15,
    block_bytes=8192,
    whisper_beam_size=5,
    cpu_threads=2,
    concurrent_decodes=2,
    read_timeout_seconds=10,
    max_decodes=2,
    max_queue=8,
    queue_seconds=10,
    early_decoding=True,
    pause_ms=160,
    partial_interval_ms=300,
)


def model(directory: str, engine: str) -> ExportedModel:
    return ExportedModel(Path(directory), {"engine": engine, "name": directory})


WHISPER_TINY = model("whisper-tiny.en", "whisper")
WHISPER_BASE = model("whisper-base.en", "whisper")
VOSK_EN = model("vosk-small-en-us-0.15", "vosk")


def test_vosk_is_preferred_when_exported() -> None:
    assert pick_model([WHISPER_TINY, VOSK_EN], SETTINGS) == (VOSK_EN, [])


def test_without_vosk_the_requested_whisper_size_runs() -> None:
    assert pick_model([WHISPER_TINY, WHISPER_BASE], SETTINGS) == (WHISPER_BASE, [])


def test_a_missing_whisper_size_is_replaced_and_said_so() -> None:
    chosen, notes = pick_model([WHISPER_TINY], SETTINGS)
    assert chosen == WHISPER_TINY
    assert notes == ["whisper-base.en is not exported (offline?); serving whisper-tiny.en instead"]


def test_asr_engine_overrides_the_preference() -> None:
    assert pick_model([WHISPER_TINY, VOSK_EN], replace(SETTINGS, engine="whisper", whisper_model_size="tiny.en")) == (
        WHISPER_TINY,
        [],
    )


def test_nothing_exported_is_explained() -> None:
    assert pick_model([], SETTINGS) == (None, ["no whisper model is exported; run 'make export'"])
    assert pick_model([WHISPER_TINY], replace(SETTINGS, engine="vosk")) == (
        None,
        ["no vosk model is exported; run 'make export'"],
    )
