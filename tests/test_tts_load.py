"""TTS under load, against a real service: long streams do not lock out short requests, and
listeners who stop taking audio lose their place (timing lives in bench/bench_tts_load.py)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bench.bench_tts import PARAGRAPH
from bench.harness import Server, start_service

BYTES_PER_SECOND = 32000  # the native API's default: s16le, 16 kHz
LONG_TEXT = " ".join([PARAGRAPH] * 4)  # about a minute of speech


class PacedListener(threading.Thread):
    """Asks for a long text and takes its audio at playback pace, as a player does, until told
    to stop."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self._url = url
        self.status = 0
        self.started_playing = threading.Event()
        self.finished = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        with requests.post(f"{self._url}/api/tts", json={"text": LONG_TEXT}, stream=True, timeout=120) as response:
            self.status = response.status_code
            received, first = 0, None
            for chunk in response.iter_content(chunk_size=4096):
                first = first or time.monotonic()
                self.started_playing.set()
                received += len(chunk)
                time.sleep(max(0.0, received / BYTES_PER_SECOND - 1.0 - (time.monotonic() - first)))
                if self.stop.is_set():
                    return
        self.started_playing.set()
        self.finished.set()


def open_tts_request(server: Server, text: str, receive_buffer: int = 4096) -> socket.socket:
    """A raw POST /api/tts whose reading the test controls; the small receive buffer keeps the
    audio in the server's hands, not queued on this side."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", server.port))
    body = json.dumps({"text": text}).encode()
    head = (
        f"POST /api/tts HTTP/1.1\r\nHost: tts\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def read_until_closed(sock: socket.socket, timeout: float = 60) -> int:
    """Bytes read until the server closes the connection (or resets it)."""
    sock.settimeout(timeout)
    total = 0
    try:
        while chunk := sock.recv(65536):
            total += len(chunk)
    except ConnectionResetError:
        pass
    return total


def worker_rss_mb(server: Server) -> float:
    """Resident memory of the gunicorn worker under `server`'s master process, in MB."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue  # a process that ended meanwhile
        if int(fields.get("PPid", "0")) == server.process.pid:
            return int(fields["VmRSS"].split()[0]) / 1024
    raise AssertionError("no worker process found")


def wait_for_admission(server: Server, timeout: float = 60) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.post(f"{server.url}/api/tts", json={"text": "Are you free now?"}, timeout=60)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


@pytest.fixture
def one_place_tts(models_dir: Path, tmp_path: Path) -> Iterator[Server]:
    """A service that holds one stream at a time and lets a silent listener go after 2 s."""
    server = start_service(
        "tts", models_dir, tmp_path / "tts.log", TTS_MAX_STREAMS="1", TTS_MAX_QUEUE="0", TTS_READER_GRACE_SECONDS="2",
        TTS_AHEAD_SECONDS="0.5",
    )  # fmt: skip
    yield server
    server.stop()


@pytest.fixture
def tts_alone(models_dir: Path, tmp_path: Path) -> Iterator[Server]:
    """A service of this test's own: its log and its load are this test's alone.

    Its queue is 5 s: a ninth stream starting beside eight waits for one of them to get
    ahead of its listener, which on a slow machine can take longer than the default second.
    """
    server = start_service("tts", models_dir, tmp_path / "tts.log", TTS_QUEUE_TIMEOUT="5")
    yield server
    server.stop()


def test_a_short_request_is_served_while_long_streams_play(tts_alone: Server) -> None:
    """Nine listeners each hold a minute-long stream; a short request is still served, whole,
    while they play (a fixed number of places would be full: every one is held)."""
    tts_server = tts_alone
    listeners = [PacedListener(tts_server.url) for _ in range(9)]
    for listener in listeners:
        listener.start()
    try:
        for listener in listeners:
            assert listener.started_playing.wait(60)
        assert [listener.status for listener in listeners] == [200] * 9
        time.sleep(5)  # the listeners hold streams that are ahead of their playback now
        short = requests.post(f"{tts_server.url}/api/tts", json={"text": "Is there room for me?"}, timeout=60)
        assert short.status_code == 200, short.text
        assert len(short.content) > BYTES_PER_SECOND  # more than a second of speech
        assert not any(listener.finished.is_set() for listener in listeners)  # all still playing
    finally:
        for listener in listeners:
            listener.stop.set()
        for listener in listeners:
            listener.join(timeout=60)


def test_a_listener_who_stops_reading_is_dropped_and_its_place_freed(one_place_tts: Server, tmp_path: Path) -> None:
    silent = open_tts_request(one_place_tts, LONG_TEXT)
    try:
        assert silent.recv(64).startswith(b"HTTP/1.1 200")
        held = requests.post(f"{one_place_tts.url}/api/tts", json={"text": "Me too."}, timeout=30)
        assert held.status_code == 503 and int(held.headers["Retry-After"]) >= 1
        # The one place comes free once the grace period has passed.
        assert wait_for_admission(one_place_tts).status_code == 200
        # And the silent listener's stream is cut, not ended as if it were complete.
        assert read_until_closed(silent) < 30 * BYTES_PER_SECOND
    finally:
        silent.close()
    assert "dropped a client that took no audio" in (tmp_path / "tts.log").read_text()


def test_a_listener_slower_than_real_time_is_dropped(one_place_tts: Server, tmp_path: Path) -> None:
    slow = open_tts_request(one_place_tts, LONG_TEXT)
    received = 0
    try:
        slow.settimeout(30)
        # A quarter of real time: 2 KB every quarter second, where playback takes 8 KB.
        while chunk := slow.recv(2048):
            received += len(chunk)
            time.sleep(0.25)
    except ConnectionResetError:
        pass
    finally:
        slow.close()
    assert received < 30 * BYTES_PER_SECOND  # cut long before the minute of audio
    assert "dropped a client reading slower than real time" in (tmp_path / "tts.log").read_text()
    assert wait_for_admission(one_place_tts).status_code == 200


def test_memory_after_parallel_bursts_stays_bounded(tts_alone: Server) -> None:
    """Eight streams at once, three times over: the worker's memory stays under a bound and
    does not grow burst after burst (a worker once grew with the most streams it ever ran)."""

    def burst() -> None:
        threads = [
            threading.Thread(
                target=requests.post,
                args=(f"{tts_alone.url}/api/tts",),
                kwargs={"json": {"text": PARAGRAPH}, "timeout": 120},
            )
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    burst()
    burst()  # the first bursts grow the worker to its working size
    after_first = worker_rss_mb(tts_alone)
    burst()
    burst()
    after_third = worker_rss_mb(tts_alone)
    assert after_third < 450, (after_first, after_third)
    assert after_third < after_first + 40, (after_first, after_third)
