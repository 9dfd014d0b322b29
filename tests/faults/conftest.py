"""The fault suite's stack: every service and the gateway, on loopback, started here and
stopped, killed and started again by the tests (`make test-faults`)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from bench.harness import Gateway, Server, child_pids, start_gateway, start_service

# Small, so that overload and leaked places show with few requests.
TTS_SETTINGS = {"TTS_MAX_STREAMS": "4", "TTS_MAX_QUEUE": "0", "TTS_READER_GRACE_SECONDS": "5"}
ASR_SETTINGS = {"ASR_ENGINE": "whisper", "ASR_READ_TIMEOUT": "2"}


@dataclass
class Stack:
    models_dir: Path
    work: Path
    gateway: Gateway
    services: dict[str, Server] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.gateway.url

    def port(self, service: str) -> int:
        return int(self.services[service].url.rsplit(":", 1)[1])

    def worker_pid(self, service: str) -> int:
        """The pid of the service's one gunicorn worker (the master's child)."""
        master = self.services[service].process.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            children = child_pids(master)
            if children:
                return children[0]
            time.sleep(0.1)
        raise AssertionError(f"{service} has no worker")

    def kill_worker(self, service: str) -> int:
        pid = self.worker_pid(service)
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self, service: str) -> None:
        self.services[service].stop()

    def start(self, service: str) -> None:
        """Start `service` again where it ran (its port), with the same settings."""
        port = self.port(service)
        settings = TTS_SETTINGS if service == "tts" else ASR_SETTINGS
        self.services[service] = start_service(
            service, self.models_dir, self.work / f"{service}.log", port=port, **settings
        )

    def healthy(self) -> bool:
        return requests.get(f"{self.url}/healthz", timeout=10).status_code == 200


@pytest.fixture(scope="module")
def stack(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("faults")
    tts = start_service("tts", models_dir, work / "tts.log", **TTS_SETTINGS)
    asr = start_service("asr", models_dir, work / "asr.log", **ASR_SETTINGS)
    orchestrator = start_service(
        "orchestrator", models_dir, work / "orchestrator.log", TTS_SERVICE_URL=tts.url, ASR_SERVICE_URL=asr.url
    )
    gateway = start_gateway(work, tts.url, asr.url, orchestrator.url)
    stack = Stack(models_dir, work, gateway, {"tts": tts, "asr": asr, "orchestrator": orchestrator})
    yield stack
    gateway.stop()
    for server in stack.services.values():
        server.stop()
