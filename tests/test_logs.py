"""Service logs as `make run` keeps them: a gunicorn daemon (its stderr goes nowhere) writing
`<LOG_DIR>/<service>.log` and `<service>.access.log`, rotated by size."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bench.harness import ROOT, free_port

MAX_BYTES = 1 << 16  # the smallest LOG_MAX_BYTES allowed


@dataclass
class Daemon:
    url: str
    log_dir: Path


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """The orchestrator (no models to load), started as `make run` starts every service."""
    port, pid_file, log_dir = free_port(), tmp_path / "orchestrator.pid", tmp_path / "logs"
    environment = {
        **os.environ,
        "LOG_DIR": str(log_dir),
        "LOG_MAX_BYTES": str(MAX_BYTES),
        "LOG_BACKUPS": "2",
        "ORCHESTRATOR_HOST": "127.0.0.1",
        "ORCHESTRATOR_PORT": str(port),
        "TTS_SERVICE_URL": "http://127.0.0.1:9",
        "ASR_SERVICE_URL": "http://127.0.0.1:9",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "services/orchestrator/gunicorn.conf.py"]
    subprocess.run(
        [*command, "--daemon", "--pid", str(pid_file), "services.orchestrator.wsgi:app"],
        cwd=ROOT,
        env=environment,
        check=True,
        timeout=60,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_answer(url)
        yield Daemon(url, log_dir)
    finally:
        for _ in range(100):  # the daemon writes its pid file once it runs
            if pid_file.exists():
                break
            time.sleep(0.1)
        os.kill(int(pid_file.read_text()), signal.SIGTERM)


def wait_for_answer(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/healthz", timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def wait_for_line(path: Path, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                if text in line:
                    return line
        time.sleep(0.1)
    raise AssertionError(f"no line with {text!r} in {path}")


def test_a_daemon_logs_its_workers_records_and_one_line_per_request_with_its_id(daemon: Daemon) -> None:
    # A record of the app, made in the worker after the fork.
    wait_for_line(daemon.log_dir / "orchestrator.log", "orchestrator: ASR at http://127.0.0.1:9")
    answer = requests.get(f"{daemon.url}/healthz", headers={"X-Request-ID": "req-4711"}, timeout=10)
    line = wait_for_line(daemon.log_dir / "orchestrator.access.log", "id=req-4711")
    assert f'"GET /healthz HTTP/1.1" {answer.status_code}' in line


def test_the_logs_are_rotated_by_size(daemon: Daemon) -> None:
    access_log = daemon.log_dir / "orchestrator.access.log"
    with requests.Session() as session:
        for number in range(2000):  # about 90 bytes a line: two rotations and more
            session.get(f"{daemon.url}/healthz", headers={"X-Request-ID": f"rotation-{number}"}, timeout=10)
    wait_for_line(access_log, "id=rotation-1999")
    rotated = sorted(daemon.log_dir.glob("orchestrator.access.log.*"))
    assert [path.name for path in rotated] == ["orchestrator.access.log.1", "orchestrator.access.log.2"]
    # A file is rotated once a line takes it past the size: by at most that line.
    assert all(path.stat().st_size <= MAX_BYTES + 200 for path in [access_log, *rotated])
