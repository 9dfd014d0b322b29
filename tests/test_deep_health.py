"""`GET /healthz/deep`: the stack is healthy only when speech it makes is heard back.

A voice whose audio model is altered to output silence still loads, so `/healthz` says "ok";
the deep check must say it is failing, and why.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
import requests
from onnx import helper, numpy_helper

from bench.harness import Endpoint, Server, free_port, start_service
from tests.conftest import VOICE_ID

SILENCE_CACHE_SECONDS = "0"  # every request checks again


def test_the_gateway_hears_its_own_speech(gateway: Endpoint) -> None:
    answer = requests.get(f"{gateway.url}/healthz/deep", timeout=60)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["status"] == "ok" and report["reason"] is None
    assert report["word_error_rate"] <= report["max_word_error_rate"]
    assert "quick brown fox" in report["heard"].lower()
    steps = report["steps_ms"]
    assert 0 < steps["tts"] < steps["total"] and 0 < steps["asr"] < steps["total"]
    assert answer.headers["Cache-Control"] == "no-store"


def test_probes_share_one_check_while_it_is_fresh(gateway: Endpoint) -> None:
    """Eight probes at once, then one more: all get the same verdict, checked once."""
    with ThreadPoolExecutor(8) as pool:
        reports = list(pool.map(lambda _: requests.get(f"{gateway.url}/healthz/deep", timeout=60).json(), range(8)))
    again = requests.get(f"{gateway.url}/healthz/deep", timeout=60).json()
    checks = {(report["checked_at"], report["steps_ms"]["total"]) for report in [*reports, again]}
    # One check per orchestrator worker at most (each keeps its own verdict).
    assert len(checks) <= 2, checks


def silenced_voice(models_dir: Path, into: Path) -> Path:
    """A copy of the models with the voice's audio model multiplied by zero at its output."""
    shutil.copytree(models_dir / "tts", into / "tts")
    audio_model = into / "tts" / VOICE_ID / "audio.onnx"
    model = onnx.load(str(audio_model))
    output = model.graph.output[0]
    loud = f"{output.name}_before_silence"
    for node in model.graph.node:
        node.output[:] = [loud if name == output.name else name for name in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), "silence_gain"))
    model.graph.node.append(helper.make_node("Mul", [loud, "silence_gain"], [output.name]))
    onnx.save(model, str(audio_model))
    return into


@pytest.fixture(scope="module")
def silent_stack(
    models_dir: Path, asr_whisper_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """A TTS service whose voice makes silence, and an orchestrator over it and a working ASR."""
    work = tmp_path_factory.mktemp("silent")
    silent_models = silenced_voice(models_dir, work / "models")
    tts = start_service("tts", silent_models, work / "tts.log")
    orchestrator = start_service(
        "orchestrator", models_dir, work / "orchestrator.log", TTS_SERVICE_URL=tts.url,
        ASR_SERVICE_URL=asr_whisper_server.url, DEEP_HEALTH_CACHE_SECONDS=SILENCE_CACHE_SECONDS,
    )  # fmt: skip
    yield tts, orchestrator
    orchestrator.stop()
    tts.stop()


def test_a_voice_that_makes_silence_fails_the_deep_check_only(silent_stack: tuple[Server, Server]) -> None:
    tts, orchestrator = silent_stack
    # Everything looks fine to the plain checks: the voice loaded, and it streams audio.
    assert requests.get(f"{tts.url}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{orchestrator.url}/healthz/all", timeout=10).status_code == 200
    speech = requests.post(f"{tts.url}/api/tts", json={"text": "Hello there."}, timeout=30)
    assert speech.status_code == 200 and len(speech.content) > 16000 and not any(speech.content)
    answer = requests.get(f"{orchestrator.url}/healthz/deep", timeout=60)
    assert answer.status_code == 503
    report = answer.json()
    assert report["status"] == "failing"
    assert report["word_error_rate"] > report["max_word_error_rate"]
    assert "did not come back" in report["reason"]
    assert report["steps_ms"]["tts"] > 0 and report["steps_ms"]["asr"] > 0


@pytest.fixture
def unreachable_orchestrator(models_dir: Path, tmp_path: Path) -> Iterator[Server]:
    """An orchestrator whose TTS and ASR addresses lead nowhere."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    orchestrator = start_service(
        "orchestrator", models_dir, tmp_path / "orchestrator.log", TTS_SERVICE_URL=nowhere, ASR_SERVICE_URL=nowhere
    )
    yield orchestrator
    orchestrator.stop()


def test_a_service_that_is_down_fails_the_deep_check_at_once(unreachable_orchestrator: Server) -> None:
    answer = requests.get(f"{unreachable_orchestrator.url}/healthz/deep", timeout=30)
    assert answer.status_code == 503
    report = answer.json()
    assert report["reason"] == "tts could not be reached (ConnectionError)"
    assert report["heard"] is None and "tts" not in report["steps_ms"]
