"""The stack on Docker Swarm with two replicas each of TTS and ASR: `make test-swarm`.

A load runs through the gateway while Swarm spreads it, rolls TTS over to new replicas, and
loses a replica whose container is killed. In this order: the load first, the kill last.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import requests

from tests.conftest import pcm_to_float
from tests.deploy.docker import SwarmStack, run
from tests.deploy.stacks import SWARM_REPLICAS

TEXT = "A short sentence for the load."


@dataclass
class Outcome:
    started: float
    finished: float
    error: str  # "" when the request succeeded


@dataclass
class Load:
    """Clients that send TTS requests through the gateway one after another, until stopped."""

    url: str
    clients: int = 3
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _client(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = session.post(f"{self.url}/api/tts", json={"text": TEXT}, timeout=60)
                if response.status_code != 200:
                    error = f"{response.status_code}: {response.text[:200]}"
                elif len(response.content) < 16000:  # half a second of speech at least
                    error = f"only {len(response.content)} bytes of audio"
                else:
                    error = ""
            except requests.RequestException as failure:
                error = repr(failure)
            self.outcomes.append(Outcome(started, time.monotonic(), error))

    def __enter__(self) -> Self:
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.error]


def served_by(access_log: str, path: str, port: int) -> Counter[str]:
    """Requests to `path` per replica address, from the gateway's access log."""
    pattern = re.compile(rf'"POST {re.escape(path)}[ ?][^"]*" 200 .* upstream=([0-9.]+):{port} ')
    return Counter(pattern.findall(access_log))


def test_a_load_is_spread_over_every_replica(swarm_stack: SwarmStack) -> None:
    speech = requests.post(f"{swarm_stack.gateway_url}/api/tts", json={"text": TEXT}, timeout=60).content
    with Load(swarm_stack.gateway_url) as load:
        for _ in range(12):
            response = requests.post(
                f"{swarm_stack.gateway_url}/api/stt/bytes?sr=16000&ch=1&fmt=s16le", data=speech, timeout=60
            )
            assert response.status_code == 200 and "sentence" in response.json()["text"].lower(), response.text
        time.sleep(2)
    assert not load.failures and len(load.outcomes) >= 12, load.failures[:3]
    log = swarm_stack.gateway_access_log()
    for service, path, port in (("tts", "/api/tts", 8082), ("asr", "/api/stt/bytes", 8081)):
        counts = served_by(log, path, port)
        replicas = {replica.address for replica in swarm_stack.replicas(service)}
        assert set(counts) == replicas and len(replicas) == SWARM_REPLICAS, (service, counts, replicas)
        print(f"{service}: requests per replica {dict(counts)}")


def test_a_rolling_update_of_tts_under_load_fails_no_request(swarm_stack: SwarmStack) -> None:
    before = {replica.task for replica in swarm_stack.replicas("tts")}
    with Load(swarm_stack.gateway_url) as load:
        run(["docker", "service", "update", "--force", "--detach=false", f"{swarm_stack.name}_tts"], timeout=900)
        time.sleep(2)
    after = {replica.task for replica in swarm_stack.replicas("tts")}
    assert len(after) == SWARM_REPLICAS and not before & after, (before, after)
    assert not load.failures, [outcome.error for outcome in load.failures[:5]]
    print(f"{len(load.outcomes)} requests during the update, none failed")


def test_a_killed_replica_fails_at_most_its_requests_in_flight(swarm_stack: SwarmStack) -> None:
    victim = swarm_stack.replicas("tts")[0]
    with Load(swarm_stack.gateway_url) as load:
        time.sleep(3)
        killed_at = time.monotonic()
        run(["docker", "kill", victim.container])
        time.sleep(15)
    in_flight = [outcome for outcome in load.outcomes if outcome.started < killed_at < outcome.finished]
    assert len(load.failures) <= len(in_flight) <= load.clients, [outcome.error for outcome in load.failures]
    assert all(outcome.started < killed_at for outcome in load.failures), "a request after the kill failed"
    after = [outcome for outcome in load.outcomes if outcome.started > killed_at]
    assert len(after) >= 10, len(after)
    print(f"{len(load.failures)} of {len(in_flight)} requests in flight failed; {len(after)} after the kill succeeded")
    # Swarm replaces the replica.
    swarm_stack.wait_until_serving(SWARM_REPLICAS)
    pcm = requests.post(f"{swarm_stack.gateway_url}/api/tts", json={"text": TEXT}, timeout=60).content
    assert np.abs(pcm_to_float(pcm)).max() > 0.05
