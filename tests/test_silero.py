"""The Silero exporter on a small package with Silero's interface, and the exported voice served.

The real v3 package cannot be downloaded here; tests/fixtures/silero_like.py builds one with the
same loading interface, a TorchScript core called with keyword tensors, data-dependent length
and a complex spectral tail.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import soxr
import torch

from bench.harness import Server, start_service
from export.silero import VOICE_ID, export_silero
from services.tts.engines.silero import SymbolTokenizer
from services.tts.text.normalize import normalize_text
from tests.conftest import pcm_to_float
from tests.fixtures.silero_like import build_package


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("silero-package") / "v3_like.pt"
    build_package(str(path))
    return path


@pytest.fixture(scope="module")
def exported(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("silero-models")
    report = export_silero(models / "tts", package=package, origin=str(package))
    assert report.status == "exported", report
    return models


def manifest_of(models: Path) -> dict:
    return json.loads((models / "tts" / VOICE_ID / "voice.json").read_text())


def package_model(package: Path):
    return torch.package.PackageImporter(str(package)).load_pickle("tts_models", "model")


def test_export_splits_off_the_complex_tail_and_passes_the_parity_gate(exported: Path) -> None:
    manifest = manifest_of(exported)
    assert manifest["engine"] == "silero"
    assert manifest["dsp"]["type"] == "istft" and manifest["dsp"]["complex_gain"]
    assert manifest["parity"]["min_snr_db"] >= 30
    assert {spec["role"] for spec in manifest["inputs"].values()} == {"tokens", "speaker", "pace"}
    assert manifest["speakers"] == ["en_0", "en_1", "en_2"] and manifest["default_speaker"] == "en_0"
    assert "non-commercial" in manifest["license"]
    assert len(manifest["source"]["sha256"]) == 64


def test_tokenizer_matches_the_package_beyond_the_captured_texts(exported: Path, package: Path) -> None:
    manifest = manifest_of(exported)
    tokenize = SymbolTokenizer(manifest["frontend"])
    for vector in manifest["test_vectors"]:
        assert tokenize(vector["text"]) == vector["tokens"]
    model = package_model(package)
    for text in ["Numbers like 42 are dropped!", "UPPER and lower, mixed.", "Ünïcode — and dashes - too?"]:
        assert tokenize(text) == model.prepare_text(text)


def test_second_export_is_skipped_as_up_to_date(exported: Path, package: Path) -> None:
    report = export_silero(exported / "tts", package=package, origin=str(package))
    assert (report.status, "up to date" in report.detail) == ("skipped", True)


def test_a_core_that_cannot_be_split_fails_clearly(tmp_path: Path) -> None:
    package = tmp_path / "inline.pt"
    build_package(str(package), splittable=False)
    report = export_silero(tmp_path / "tts", package=package, origin=str(package))
    assert report.status == "failed"
    assert "cannot export" in report.detail and "complex" in report.detail
    assert not (tmp_path / "tts" / VOICE_ID).exists()


def test_a_checksum_mismatch_is_refused(package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILERO_SHA256", "0" * 64)
    report = export_silero(tmp_path / "tts", package=package, origin=str(package))
    assert report.status == "failed" and "SHA-256" in report.detail


def test_offline_without_a_local_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SILERO_MODEL_PATH", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("export.silero.SILERO_URL", "http://127.0.0.1:9/v3_en.pt")  # nothing listens there
    report = export_silero(tmp_path / "tts")
    assert report.status == "skipped" and "cannot download" in report.detail


@pytest.fixture(scope="module")
def silero_server(exported: Path, models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The TTS service with the exported Silero voice beside the Piper voice."""
    shutil.copytree(models_dir / "tts" / "en_US-joe-medium", exported / "tts" / "en_US-joe-medium")
    server = start_service("tts", exported, tmp_path_factory.mktemp("silero-tts") / "tts.log", TTS_WORKERS="1")
    yield server
    server.stop()


def test_service_serves_silero_as_the_default_voice(silero_server: Server, package: Path) -> None:
    voices = requests.get(f"{silero_server.url}/api/voices", timeout=10).json()
    assert voices["default"] == VOICE_ID
    assert {voice["id"] for voice in voices["voices"]} == {VOICE_ID, "en_US-joe-medium"}

    text = "Hello there, how are you today?"
    response = requests.post(f"{silero_server.url}/api/tts", json={"text": text}, timeout=60)
    assert response.status_code == 200 and response.headers["X-Voice"] == VOICE_ID
    served = pcm_to_float(response.content)
    model = package_model(package)
    reference = soxr.resample(
        model.apply_tts(text=normalize_text(text), speaker="en_0").numpy(), model.sample_rate, 16000
    )
    assert abs(len(served) - len(reference)) <= 2
    n = min(len(served), len(reference))
    noise = np.sum((served[:n] - reference[:n]) ** 2)
    assert 10 * np.log10(np.sum(reference[:n] ** 2) / noise) >= 30


def test_the_piper_voice_is_still_served_by_name(silero_server: Server) -> None:
    response = requests.post(
        f"{silero_server.url}/api/tts", json={"text": "Still here.", "voice": "en_US-joe-medium"}, timeout=60
    )
    assert response.status_code == 200 and response.headers["X-Voice"] == "en_US-joe-medium"
