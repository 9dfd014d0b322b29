"""Faults a production stack meets, proven on a stack of its own: workers killed mid-stream,
services stopped and started again, slow and vanishing clients, overload, and bad input at
every endpoint. Each test leaves the stack healthy for the next."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.faults.conftest import TTS_SETTINGS, Stack
from tests.test_logs import wait_for_line
from tests.test_tts_service import PARAGRAPH

LONG_TEXT = " ".join([PARAGRAPH] * 6)  # about a minute and a half of speech
SENTENCE = "The museum opens at nine in the morning."


def assert_json_error(response: requests.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code, error
    return error


def speak(stack: Stack, text: str = SENTENCE, timeout: float = 30) -> requests.Response:
    return requests.post(f"{stack.url}/api/tts", json={"text": text}, timeout=timeout)


def served(stack: Stack) -> bool:
    try:
        return speak(stack, timeout=10).status_code == 200
    except requests.RequestException:
        return False


def wait_until(condition, timeout: float) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def test_a_worker_killed_mid_stream_cuts_the_stream_and_the_next_request_is_served(stack: Stack) -> None:
    with requests.post(
        f"{stack.url}/api/tts", json={"text": LONG_TEXT}, headers={"X-Request-ID": "killed-1"}, stream=True, timeout=30
    ) as stream:
        assert stream.status_code == 200
        chunks = stream.iter_content(8192)  # one iterator: dropping one closes the response
        received = len(next(chunks))
        killed_at = time.monotonic()
        stack.kill_worker("tts")
        # The client sees the stream end without its last chunk, not a complete answer.
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for chunk in chunks:
                received += len(chunk)
    assert received < 5_000_000
    line = wait_for_line(stack.gateway.log_dir / "gateway.access.log", "id=killed-1")
    assert "body=cut" in line, line

    # A new worker serves while it warms up (see services.tts.speech): 1 to 2 s here.
    wait_until(lambda: served(stack), timeout=5)
    print(f"a request was served again {time.monotonic() - killed_at:.2f} s after the kill")


@pytest.mark.parametrize("service", ["tts", "asr"])
def test_a_stopped_service_is_reported_at_once_and_served_again_once_started(stack: Stack, service: str) -> None:
    def ask() -> requests.Response:
        if service == "tts":
            return speak(stack)
        return requests.post(f"{stack.url}/api/stt/bytes?sr=16000", data=bytes(16000), timeout=30)

    assert ask().status_code == 200
    stack.stop(service)
    try:
        started = time.monotonic()
        assert_json_error(ask(), 502, "bad_gateway")
        assert time.monotonic() - started < 2
        health = requests.get(f"{stack.url}/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"
        assert health.json()["services"][service]["status"] != "ok"
    finally:
        stack.start(service)
    wait_until(stack.healthy, timeout=30)
    assert ask().status_code == 200


def test_slow_clients_holding_connections_do_not_keep_others_out(stack: Stack) -> None:
    """Slowloris: 200 connections that send a header line now and then and never finish."""
    sockets = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", stack.gateway.port), timeout=10)
            sock.sendall(b"POST /api/tts HTTP/1.1\r\nHost: gw\r\n")
            sockets.append(sock)
        for round_number in range(5):
            for sock in sockets:
                sock.sendall(b"X-Slow-%d: 1\r\n" % round_number)
            assert requests.get(f"{stack.url}/api/voices", timeout=5).status_code == 200
            assert speak(stack, timeout=10).status_code == 200
            time.sleep(0.5)
    finally:
        for sock in sockets:
            sock.close()


def test_streams_abandoned_by_their_clients_give_their_places_back(stack: Stack) -> None:
    def abandon(_: int) -> None:
        with requests.post(f"{stack.url}/api/tts", json={"text": LONG_TEXT}, stream=True, timeout=30) as stream:
            if stream.status_code == 200:
                next(stream.iter_content(4096))
            # leaving the block closes the connection mid-stream

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(abandon, range(200)))
    # Every place is free again: as many long streams as the service holds are all admitted.
    max_streams = int(TTS_SETTINGS["TTS_MAX_STREAMS"])

    def all_admitted() -> bool:
        streams = [
            requests.post(f"{stack.url}/api/tts", json={"text": LONG_TEXT}, stream=True, timeout=30)
            for _ in range(max_streams)
        ]
        try:
            return all(stream.status_code == 200 for stream in streams)
        finally:
            for stream in streams:
                stream.close()

    wait_until(all_admitted, timeout=15)
    wait_until(lambda: served(stack), timeout=30)


def test_overload_is_refused_in_json_with_a_retry_after(stack: Stack) -> None:
    max_streams = int(TTS_SETTINGS["TTS_MAX_STREAMS"])
    streams = [
        requests.post(f"{stack.url}/api/tts", json={"text": LONG_TEXT}, stream=True, timeout=30)
        for _ in range(max_streams + 2)
    ]
    try:
        refused = [stream for stream in streams if stream.status_code == 503]
        assert refused, [stream.status_code for stream in streams]
        for stream in refused:
            assert_json_error(stream, 503, "overloaded")
            assert int(stream.headers["Retry-After"]) >= 1
    finally:
        for stream in streams:
            stream.close()
    # A place is given back once the service finds its client gone, at its next write.
    wait_until(lambda: served(stack), timeout=30)


WAV_HEADER_ONLY = (
    b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00"
)

WAV_WITHOUT_CHANNELS = WAV_HEADER_ONLY[:22] + b"\x00\x00" + WAV_HEADER_ONLY[24:] + b"data\x00\x10\x00\x00" + bytes(4096)
GARBAGE_FILE_FORM = (
    b'--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
    b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\nContent-Type: audio/mpeg\r\n\r\n'
    + bytes(range(256)) * 40
    + b"\r\n--x--\r\n"
)

# (method, path, body, content type): each must get a 4xx in JSON (the exact statuses are
# the services' tests' business).
BAD_INPUT = [
    ("POST", "/api/tts", b"{not json", "application/json"),
    ("POST", "/api/tts", b'{"text": 5}', "application/json"),
    ("POST", "/api/tts", b'{"text": ""}', "application/json"),
    ("POST", "/api/tts", json.dumps({"text": "x" * 100_000}).encode(), "application/json"),
    ("POST", "/api/tts", b'{"text": "hi", "voice": "nobody"}', "application/json"),
    ("POST", "/api/tts", b'{"text": "hi", "speed": -1}', "application/json"),
    ("POST", "/api/tts", b'{"text": "hi", "sample_rate": 3}', "application/json"),
    ("POST", "/api/tts", b"text=hi", "application/x-www-form-urlencoded"),
    ("POST", "/api/tts", b"\xff\xfe\x00garbage", "application/json"),
    ("GET", "/api/tts", b"", ""),  # GET takes ?text=
    ("POST", "/api/stt/bytes", b"", "application/octet-stream"),
    ("POST", "/api/stt/bytes?sr=abc", bytes(3200), "application/octet-stream"),
    ("POST", "/api/stt/bytes?sr=16000&ch=9", bytes(3200), "application/octet-stream"),
    ("POST", "/api/stt/bytes?sr=16000&fmt=f64", bytes(3200), "application/octet-stream"),
    ("POST", "/api/stt/bytes", WAV_HEADER_ONLY[:20], "audio/wav"),
    ("POST", "/api/stt/bytes?sr=16000", bytes(16000 * 2 * 20), "application/octet-stream"),
    ("POST", "/api/echo-bytes", b"", "application/octet-stream"),
    ("POST", "/api/echo-bytes?sr=0", bytes(3200), "application/octet-stream"),
    ("POST", "/v1/audio/speech", b'{"model": "tts-1", "voice": "alloy"}', "application/json"),
    (
        "POST",
        "/v1/audio/speech",
        b'{"model": "tts-1", "voice": "alloy", "input": "hi", "response_format": "ogg"}',
        "application/json",
    ),
    ("POST", "/v1/audio/transcriptions", b"not a form", "multipart/form-data; boundary=x"),
    (
        "POST",
        "/v1/audio/transcriptions",
        b'--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
    ),
    ("POST", "/v1/audio/transcriptions", GARBAGE_FILE_FORM, "multipart/form-data; boundary=x"),
    ("POST", "/api/stt/bytes", WAV_WITHOUT_CHANNELS, "audio/wav"),
    ("GET", "/v1/models/no-such-model", b"", ""),
    ("DELETE", "/v1/models", b"", ""),
    ("GET", "/no/such/path", b"", ""),
]


def test_bad_input_at_every_endpoint_gets_a_json_4xx_and_no_worker_dies(stack: Stack) -> None:
    workers = {service: stack.worker_pid(service) for service in stack.services}
    for method, path, body, content_type in BAD_INPUT:
        headers = {"Content-Type": content_type} if content_type else {}
        response = requests.request(method, f"{stack.url}{path}", data=body, headers=headers, timeout=30)
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text[:300])
        assert response.headers.get("Content-Type", "").startswith("application/json"), (method, path)
        assert response.json()["error"]["message"], (method, path)
    assert {service: stack.worker_pid(service) for service in stack.services} == workers
    assert stack.healthy()
    assert speak(stack).status_code == 200
