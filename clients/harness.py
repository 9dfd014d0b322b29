"""Start the project's services on free loopback ports: used by the tests and the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from services.common.health import wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    log_path: Path
    process: subprocess.Popen

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


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
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        f"services/{service}/gunicorn.conf.py",
        f"services.{service}.wsgi:app",
    ]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", log_path, process)
    if not wait_until_healthy(f"{server.url}/healthz", timeout=180, still_running=lambda: process.poll() is None):
        server.stop()
        raise RuntimeError(f"{service} did not become healthy:\n{log_path.read_text()}")
    return server
