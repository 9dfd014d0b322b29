"""Start the project's services on free loopback ports: used by the tests and the benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from services.common.health import wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (a gunicorn master's workers, nginx's), read from /proc;
    OSError once `pid` has ended."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def rss_mb(pid: int) -> float:
    """A process's resident memory (VmRSS), in MB; OSError once it has ended."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)  # ended, not yet reaped: a zombie has no memory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until something listens on the loopback `port`, or `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


@dataclass
class Endpoint:
    """Where a server answers: one started here, or one already running (a compose stack)."""

    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@dataclass
class Running(Endpoint):
    """A server process started here, and where it answers."""

    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Server(Running):
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_service(
    service: str, models_dir: Path, log_path: Path, app: str | None = None, port: int | None = None, **env: str
) -> Server:
    """Run services/<service> under gunicorn (its own gunicorn.conf.py) on a free loopback port
    (or on `port`: a service started again where it ran before).

    `app` is the entry point, by default the service's WSGI app (`services.<service>.wsgi:app`);
    an ASGI service names its own (`services.realtime.asgi:app`).
    """
    prefix = service.upper()
    port = port or free_port()
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
        app or f"services.{service}.wsgi:app",
    ]
    with log_path.open("a") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    if not wait_until_healthy(f"{server.url}/healthz", timeout=180, still_running=lambda: process.poll() is None):
        server.stop()
        raise RuntimeError(f"{service} did not become healthy:\n{log_path.read_text()}")
    return server


def start_wyoming(kind: str, models_dir: Path, log_path: Path, ready: bool = True, **env: str) -> Server:
    """A Wyoming server (`tts` or `asr`) on a free loopback port; its url is tcp://host:port.
    Waits until it answers `describe` with something to serve, or (not `ready`) at all."""
    from services.wyoming.probe import report

    port = free_port()
    environment = {
        **os.environ,
        "MODELS_DIR": str(models_dir),
        "WYOMING_HOST": "127.0.0.1",
        f"WYOMING_{kind.upper()}_PORT": str(port),
        f"WYOMING_{kind.upper()}_METRICS_PORT": str(free_port()),
        **env,
    }
    command = [sys.executable, "-m", "services.wyoming", kind]
    with log_path.open("a") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(f"tcp://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 180
    while report(server.url)["status"] not in (("ok",) if ready else ("ok", "unavailable")):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the Wyoming {kind} server did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    return server


@dataclass
class Gateway(Running):
    log_dir: Path


def nginx_binary() -> str:
    for candidate in ("nginx", "/usr/sbin/nginx"):
        path = shutil.which(candidate)
        if path:
            return path
    raise RuntimeError(
        "nginx is not installed ('make test' installs it as root; else: apt-get install nginx libnginx-mod-http-js)"
    )


def start_gateway(
    work_dir: Path,
    tts_url: str,
    asr_url: str,
    orchestrator_url: str,
    max_audio_seconds: int = 15,
    realtime_url: str | None = None,
    status_port: int | None = None,
    **settings: str,
) -> Gateway:
    """nginx with the project's template, in the foreground, on a free loopback port. Without a
    `realtime_url`, /api/stt/ws leads to the default address (where nothing may listen: 502).
    Its status page (stub_status) is on `status_port`, or on another free port."""
    port = free_port()
    environment = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "GATEWAY_STATUS_PORT": str(status_port or free_port()),
        "TTS_SERVICE_URL": tts_url,
        "ASR_SERVICE_URL": asr_url,
        "ORCHESTRATOR_URL": orchestrator_url,
        "MAX_AUDIO_DURATION": str(max_audio_seconds),
        **settings,
    }
    if realtime_url:
        environment["REALTIME_SERVICE_URL"] = realtime_url
    config = work_dir / "nginx.conf"
    # Under the test's own directory, private to its user as `make run`'s may be: the workers
    # keep a body or an answer larger than their buffers in a temporary file there.
    run_dir = work_dir / "run"
    render = [sys.executable, str(ROOT / "nginx" / "render.py"), "--output", str(config)]
    render += ["--run-dir", str(run_dir), "--log-dir", str(work_dir / "logs")]
    subprocess.run(render, env=environment, check=True)
    error_log = work_dir / "logs" / "gateway.error.log"
    command = [nginx_binary(), "-c", str(config), "-e", str(error_log), "-g", "daemon off;"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    gateway = Gateway(f"http://127.0.0.1:{port}", process, work_dir / "logs")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited:\n{error_log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return gateway
        except OSError:
            time.sleep(0.05)
    gateway.stop()
    raise RuntimeError("nginx did not start listening")
