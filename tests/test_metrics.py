"""`/metrics` on every service: after known traffic, the counters and histograms have moved by
exactly what was sent, added up over two gunicorn workers, and a killed worker neither loses
what it counted nor leaves its streams counted as active.

The services run under gunicorn on loopback, as `make run` starts them, with a METRICS_DIR of
the test's own, so it can see that both workers wrote their share.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from bench.harness import ROOT, Endpoint, Gateway, Server, free_port, start_gateway, start_service, start_wyoming
from services.tts.text.normalize import normalize_text
from tests.conftest import VOICE_ID
from tests.test_wyoming import transcribe_over_wyoming

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

SENTENCES = [
    "The metrics count every character.",
    "Two workers share the same counters.",
    "A histogram counts each stream once.",
    "Audio seconds add up to what was sent.",
    "Nothing is lost when a worker dies.",
    "Every request has a route and a status.",
]
# About a minute of speech: far more than a stream synthesizes ahead of a client that stops reading.
LONG_TEXT = " ".join(SENTENCES * 5)
WHISPER = {"engine": "whisper", "model": "tiny.en"}


def scrape(url: str) -> Samples:
    answer = requests.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def wait_for(read: Callable[[], Samples], holds: Callable[[Samples], bool], seconds: float = 15) -> Samples:
    """The first scrape for which `holds` is true (a stream is counted when its server closes it)."""
    deadline = time.monotonic() + seconds
    while True:
        samples = read()
        if holds(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def worker_pids(server: Server) -> set[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text()
    return {int(pid) for pid in children.split()}


def pids_with_files(metrics_dir: Path, kind: str) -> set[int]:
    """The processes that wrote metric files of `kind` (counter, histogram, gauge_livesum)."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob(f"{kind}_*.db")}


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics")


@pytest.fixture(scope="module")
def tts_two_workers(models_dir: Path, metrics_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two gthread workers, each admitting two streams and queueing none, so that a few held
    streams fill both and the next is refused."""
    log = tmp_path_factory.mktemp("tts-metrics") / "tts.log"
    server = start_service(
        "tts", models_dir, log, TTS_WORKERS="2", TTS_MAX_STREAMS="2", TTS_MAX_QUEUE="0", METRICS_DIR=str(metrics_dir)
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def asr_two_workers(models_dir: Path, metrics_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("asr-metrics") / "asr.log"
    server = start_service("asr", models_dir, log, ASR_ENGINE="whisper", ASR_WORKERS="2", METRICS_DIR=str(metrics_dir))
    yield server
    server.stop()


class HeldStream:
    """A TTS stream whose client took its first audio and then stops reading. Its receive buffer
    is small, so the service soon waits on it (on loopback the kernel would otherwise take in
    a whole long answer at once), and the stream stays open until `close`."""

    def __init__(self, url: str, text: str) -> None:
        address = urlsplit(url)
        sock = socket.create_connection((address.hostname, address.port), timeout=30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        self._connection.sock = sock
        self._connection.request("POST", "/api/tts", json.dumps({"text": text}), {"Content-Type": "application/json"})
        self.answer = self._connection.getresponse()
        self.status = self.answer.status
        if self.status == 200:
            assert self.answer.read(4096)  # its first audio has left
        else:
            self.error = json.loads(self.answer.read())["error"]

    def close(self) -> None:
        self._connection.close()


def speak(url: str, text: str, sample_rate: int = 16000, refusals: list[str] | None = None) -> bytes:
    """The speech; with `refusals`, a refused request (a worker still measuring its voice may
    refuse a second stream) is noted there and sent again when the answer says."""
    while True:
        answer = requests.post(f"{url}/api/tts", json={"text": text, "sample_rate": sample_rate}, timeout=60)
        if answer.status_code != 503 or refusals is None:
            break
        refusals.append(text)
        time.sleep(float(answer.headers["Retry-After"]))
    assert answer.status_code == 200, answer.text
    return answer.content


def test_tts_counts_add_up_over_two_workers(tts_two_workers: Server, metrics_dir: Path) -> None:
    url = tts_two_workers.url
    before = scrape(url)
    characters = audio_seconds = 0.0
    streams = 0
    refusals: list[str] = []
    # Pairs of requests at once until both workers have served some (each writes its own files).
    for _ in range(10):
        pairs = list(zip(SENTENCES, (16000, 22050, 8000, 24000, 16000, 48000), strict=True))
        with ThreadPoolExecutor(2) as pool:
            bodies = list(pool.map(lambda pair: speak(url, *pair, refusals=refusals), pairs))
        streams += len(pairs)
        characters += sum(len(normalize_text(text)) for text, _ in pairs)
        audio_seconds += sum(len(body) / 2 / rate for body, (_, rate) in zip(bodies, pairs, strict=True))
        if len(pids_with_files(metrics_dir / "tts", "histogram")) >= 2:
            break
    assert len(pids_with_files(metrics_dir / "tts", "histogram")) == 2, "one worker served every request"

    after = wait_for(lambda: scrape(url), lambda s: value(s, "tts_active_streams", voice=VOICE_ID) == 0)
    voice = {"voice": VOICE_ID}
    assert moved(before, after, "tts_characters_total", **voice) == characters
    assert moved(before, after, "tts_audio_seconds_total", **voice) == pytest.approx(audio_seconds, abs=1e-6)
    for histogram in (
        "tts_first_audio_seconds",
        "tts_synthesis_seconds",
        "tts_real_time_factor",
        "tts_queue_wait_seconds",
    ):
        assert moved(before, after, f"{histogram}_count", **voice) == streams, histogram
        assert moved(before, after, f"{histogram}_bucket", le="+Inf", **voice) == streams, histogram
    # Each stream's first audio came before its last, and the voice is faster than real time.
    first = moved(before, after, "tts_first_audio_seconds_sum", **voice)
    assert 0 < first < moved(before, after, "tts_synthesis_seconds_sum", **voice)
    assert 0 < moved(before, after, "tts_real_time_factor_sum", **voice) / streams < 1
    assert moved(before, after, "http_requests_total", route="/api/tts", method="POST", status="200") == streams
    assert value(after, "tts_active_streams", **voice) == 0
    assert moved(before, after, "tts_refusals_total", **voice) == len(refusals)
    assert moved(before, after, "http_requests_total", route="/api/tts", method="POST", status="503") == len(refusals)


def test_tts_counts_refusals_drops_and_active_streams(tts_two_workers: Server) -> None:
    """Streams are held open until one lands on a worker whose two places are taken: the held
    ones are active, that one is refused (503), and each held one, closed early by its client,
    is counted as a disconnect."""
    url = tts_two_workers.url
    before = scrape(url)
    held: list[HeldStream] = []
    refused = 0
    try:
        while not refused and len(held) <= 4:  # two workers hold four at the most
            stream = HeldStream(url, LONG_TEXT)
            if stream.status == 503:
                refused += 1
                assert stream.error["code"] == "overloaded"
                continue
            assert stream.status == 200
            held.append(stream)
        assert refused == 1 and 2 <= len(held) <= 4
        during = scrape(url)
        assert value(during, "tts_active_streams", voice=VOICE_ID) == len(held)
    finally:
        for answer in held:
            answer.close()
    after = wait_for(
        lambda: scrape(url),
        lambda s: moved(before, s, "tts_disconnects_total", voice=VOICE_ID, reason="client_closed") >= len(held),
    )
    assert moved(before, after, "tts_refusals_total", voice=VOICE_ID) == refused
    assert moved(before, after, "tts_disconnects_total", voice=VOICE_ID, reason="client_closed") == len(held)
    assert moved(before, after, "tts_disconnects_total", voice=VOICE_ID, reason="slow_reader") == 0
    assert moved(before, after, "http_requests_total", route="/api/tts", method="POST", status="503") == refused
    assert value(after, "tts_active_streams", voice=VOICE_ID) == 0
    # A stream cut short has no total time or real-time factor: it never finished.
    assert moved(before, after, "tts_synthesis_seconds_count", voice=VOICE_ID) == 0


def test_a_killed_worker_keeps_its_counts_and_drops_its_streams(tts_two_workers: Server, metrics_dir: Path) -> None:
    """Both workers are killed while streams are open: gunicorn starts new ones, what the dead
    counted stays, and their open streams are no longer active."""
    url = tts_two_workers.url
    held = HeldStream(url, LONG_TEXT)
    assert held.status == 200
    before = scrape(url)
    assert value(before, "tts_active_streams", voice=VOICE_ID) == 1
    old_workers = worker_pids(tts_two_workers)
    for pid in old_workers:
        os.kill(pid, signal.SIGKILL)
    held.close()
    deadline = time.monotonic() + 120
    while requests.get(f"{url}/healthz", timeout=5).status_code != 200 or worker_pids(tts_two_workers) & old_workers:
        assert time.monotonic() < deadline, "gunicorn did not replace its workers"
        time.sleep(0.2)
    after = scrape(url)
    assert value(after, "tts_active_streams", voice=VOICE_ID) == 0
    assert not pids_with_files(metrics_dir / "tts", "gauge_livesum") & old_workers
    for counted in ("tts_characters_total", "tts_audio_seconds_total", "tts_first_audio_seconds_count"):
        assert value(after, counted, voice=VOICE_ID) == value(before, counted, voice=VOICE_ID), counted
    assert value(after, "http_requests_total", route="/api/tts", method="POST", status="200") == value(
        before, "http_requests_total", route="/api/tts", method="POST", status="200"
    )


def test_asr_counts_add_up_over_two_workers(
    asr_two_workers: Server, tts_two_workers: Server, metrics_dir: Path
) -> None:
    speech = [speak(tts_two_workers.url, text) for text in SENTENCES[:3]]
    url = asr_two_workers.url
    before = scrape(url)
    uploads = audio_seconds = 0.0

    def recognize(pcm: bytes) -> dict:
        answer = requests.post(
            f"{url}/api/stt/bytes?sr=16000&ch=1&fmt=s16le",
            data=pcm,
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    for _ in range(10):
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(recognize, speech))
        assert all(result["text"] for result in results)
        uploads += len(speech)
        audio_seconds += sum(len(pcm) / 2 / 16000 for pcm in speech)
        if len(pids_with_files(metrics_dir / "asr", "histogram")) >= 2:
            break
    assert len(pids_with_files(metrics_dir / "asr", "histogram")) == 2, "one worker served every upload"
    # An upload in a container format counts the audio decoded from it.
    wav = requests.post(
        f"{tts_two_workers.url}/api/tts/wav", json={"text": SENTENCES[3], "sample_rate": 22050}, timeout=60
    ).content
    answer = requests.post(
        f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", wav)}, data={"model": "whisper-1"}
    )
    assert answer.status_code == 200, answer.text
    uploads += 1
    audio_seconds += (len(wav) - 44) / 2 / 22050

    after = scrape(url)
    assert moved(before, after, "asr_audio_seconds_total", mode="upload", **WHISPER) == pytest.approx(
        audio_seconds, abs=1e-3
    )
    for histogram in ("asr_decode_after_upload_seconds", "asr_real_time_factor"):
        assert moved(before, after, f"{histogram}_count", **WHISPER) == uploads, histogram
    assert 0 < moved(before, after, "asr_real_time_factor_sum", **WHISPER) / uploads < 1
    assert (
        moved(before, after, "http_requests_total", route="/api/stt/bytes", method="POST", status="200") == uploads - 1
    )
    assert (
        moved(before, after, "http_requests_total", route="/v1/audio/transcriptions", method="POST", status="200") == 1
    )


def test_metrics_come_in_the_format_the_scraper_asks_for(tts_two_workers: Server) -> None:
    def fetch(accept: str) -> requests.Response:
        answer = requests.get(f"{tts_two_workers.url}/metrics", headers={"Accept": accept}, timeout=10)
        assert answer.status_code == 200, (accept, answer.text)
        return answer

    openmetrics = fetch("application/openmetrics-text;version=1.0.0;q=0.9,text/plain;q=0.5")
    assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert openmetrics.text.endswith("# EOF\n") and "tts_characters_total" in openmetrics.text
    for odd in ("application/openmetrics-text; version=abc", "garbage;;", ""):
        answer = fetch(odd)
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4"), odd
        assert "tts_first_audio_seconds_bucket" in answer.text


def test_requests_are_counted_by_route_and_status_never_by_path(tts_two_workers: Server) -> None:
    url = tts_two_workers.url
    before = scrape(url)
    assert requests.post(f"{url}/api/tts", json={"text": "   "}, timeout=10).status_code == 422
    assert requests.get(f"{url}/no/such/path-{time.time_ns()}", timeout=10).status_code == 404
    assert requests.get(f"{url}/api/voices", timeout=10).status_code == 200
    after = scrape(url)
    assert moved(before, after, "http_requests_total", route="/api/tts", method="POST", status="422") == 1
    assert moved(before, after, "http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert moved(before, after, "http_requests_total", route="/api/voices", method="GET", status="200") == 1
    assert not any("no/such/path" in str(labels) for _, labels in after)


def test_live_sessions_are_counted_with_their_audio(realtime_server: Server, tts_server: Server) -> None:
    pcm = speak(tts_server.url, SENTENCES[0])
    before = scrape(realtime_server.url)
    with connect(realtime_server.url.replace("http://", "ws://") + "/api/stt/ws", open_timeout=10) as ws:
        ws.send('{"config": {"sample_rate": 16000}}')
        for start in range(0, len(pcm), 3200):
            ws.send(pcm[start : start + 3200])
        during = scrape(realtime_server.url)
        ws.send('{"eof": 1}')
        while "text" not in json.loads(ws.recv(timeout=30)):
            pass  # partials until the final result
    after = wait_for(lambda: scrape(realtime_server.url), lambda s: value(s, "realtime_active_sessions") == 0)
    assert value(during, "realtime_active_sessions") - value(before, "realtime_active_sessions") == 1
    assert value(after, "realtime_active_sessions") == value(before, "realtime_active_sessions")
    heard = moved(before, after, "asr_audio_seconds_total", mode="live", **WHISPER)
    assert heard == pytest.approx(len(pcm) / 2 / 16000, abs=1e-6)


def test_the_wyoming_asr_server_counts_the_audio_it_hears(tts_server: Server, models_dir: Path, tmp_path: Path) -> None:
    metrics_port = free_port()
    server = start_wyoming(
        "asr",
        models_dir,
        tmp_path / "wyoming-asr.log",
        ASR_ENGINE="whisper",
        WYOMING_ASR_METRICS_PORT=str(metrics_port),
    )
    try:
        metrics_url = f"http://127.0.0.1:{metrics_port}"
        pcm = speak(tts_server.url, SENTENCES[2])
        before = scrape(metrics_url)
        events = asyncio.run(transcribe_over_wyoming(server, pcm, 16000))
        assert events[-1].type == "transcript-stop"
        after = wait_for(
            lambda: scrape(metrics_url),
            lambda s: moved(before, s, "asr_audio_seconds_total", mode="live", **WHISPER) > 0,
        )
        heard = moved(before, after, "asr_audio_seconds_total", mode="live", **WHISPER)
        assert heard == pytest.approx(len(pcm) / 2 / 16000, abs=1e-6)
        assert value(after, "process_resident_memory_bytes") > 0
    finally:
        server.stop()


def test_echo_counts_its_voice_to_voice_time(gateway: Endpoint, tts_server: Server, orchestrator: Server) -> None:
    """The echo's reply counts the caller's whole wait (ASR's part after the audio ended, then
    TTS's first audio); a client cannot pass its own wait to TTS through the gateway."""
    pcm = speak(tts_server.url, SENTENCES[1])
    tts_before, orchestrator_before = scrape(tts_server.url), scrape(orchestrator.url)
    answer = requests.post(
        f"{gateway.url}/api/echo-bytes?sr=16000&ch=1&fmt=s16le",
        data=pcm,
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert answer.status_code == 200 and answer.content
    forged = requests.post(
        f"{gateway.url}/api/tts", json={"text": "Hello."}, headers={"X-Echo-Waited-Seconds": "7"}, timeout=30
    )
    assert forged.status_code == 200
    tts_after = wait_for(
        lambda: scrape(tts_server.url),
        lambda s: (
            value(s, "tts_active_streams", voice=VOICE_ID) == value(tts_before, "tts_active_streams", voice=VOICE_ID)
        ),
    )
    orchestrator_after = scrape(orchestrator.url)
    assert moved(tts_before, tts_after, "echo_voice_to_voice_seconds_count") == 1
    voice_to_voice = moved(tts_before, tts_after, "echo_voice_to_voice_seconds_sum")
    asr = moved(orchestrator_before, orchestrator_after, "echo_asr_seconds_sum")
    assert moved(orchestrator_before, orchestrator_after, "echo_asr_seconds_count") == 1
    # After the audio ended there was only decoding and the reply's first audio left: less than
    # the whole ASR step (which includes the upload) plus a second, and never the forged 7 s.
    assert 0 < voice_to_voice < asr + 1
    assert (
        moved(
            orchestrator_before,
            orchestrator_after,
            "http_requests_total",
            route="/api/echo-bytes",
            method="POST",
            status="200",
        )
        == 1
    )


def test_the_orchestrator_exports_the_gateways_counters(gateway: Endpoint, orchestrator: Server) -> None:
    """nginx's stub_status, as metrics: each scrape reads it once, and each request through the
    gateway adds one."""
    first = scrape(orchestrator.url)
    second = scrape(orchestrator.url)
    assert value(second, "nginx_up") == 1
    per_scrape = moved(first, second, "nginx_http_requests_total")
    assert per_scrape == 1
    for _ in range(5):
        assert requests.get(f"{gateway.url}/api/voices", timeout=10).status_code == 200
    third = scrape(orchestrator.url)
    assert moved(second, third, "nginx_http_requests_total") == 5 + per_scrape
    assert moved(second, third, "nginx_connections_accepted_total") >= 5
    assert value(third, "nginx_connections_active") >= 1  # the status read itself
    assert value(third, "nginx_connections_handled_total") == value(third, "nginx_connections_accepted_total")


def test_metrics_are_closed_at_the_gateway_unless_allowed(
    tts_server: Server, asr_whisper_server: Server, orchestrator: Server, realtime_server: Server, gateway: Endpoint,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    for path in ("/metrics", "/metrics/tts", "/metrics/orchestrator"):
        answer = requests.get(f"{gateway.url}{path}", timeout=10)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", path

    def open_to(allowed: str) -> Gateway:
        work = tmp_path_factory.mktemp("metrics-gateway")
        urls = (tts_server.url, asr_whisper_server.url, orchestrator.url)
        return start_gateway(work, *urls, realtime_url=realtime_server.url, GATEWAY_METRICS_ALLOW=allowed)

    opened = open_to("127.0.0.1, 10.0.0.0/8")
    try:
        for service in ("tts", "asr", "realtime", "orchestrator"):
            answer = requests.get(f"{opened.url}/metrics/{service}", timeout=10)
            assert answer.status_code == 200, service
            assert "http_requests_total" in answer.text
    finally:
        opened.stop()
    elsewhere = open_to("10.0.0.0/8")
    try:
        answer = requests.get(f"{elsewhere.url}/metrics/tts", timeout=10)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    finally:
        elsewhere.stop()


def test_a_bad_metrics_allow_list_stops_the_render(tmp_path: Path) -> None:
    rendered = subprocess.run(
        [sys.executable, "nginx/render.py", "--output", str(tmp_path / "nginx.conf"), "--run-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "GATEWAY_METRICS_ALLOW": "127.0.0.1; return 200"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode != 0
    assert "GATEWAY_METRICS_ALLOW" in rendered.stderr
    assert not (tmp_path / "nginx.conf").exists()
