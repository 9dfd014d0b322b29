"""End to end through the gateway: nginx + TTS + ASR + orchestrator, real models, loopback."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import jiwer
import pytest
import requests

from bench.harness import ROOT, Gateway, Server, start_gateway, start_service
from tests.conftest import encode_pcm, pcm_to_float, stack_under_test, transcribe
from tests.test_asr_service import read_response
from tests.test_intelligibility import words
from tests.test_logs import wait_for_line
from tests.test_tts_service import PARAGRAPH

SENTENCE = "The weather today is sunny with a light breeze from the west."


def speech_pcm(gateway: Gateway, text: str) -> bytes:
    response = requests.post(f"{gateway.url}/api/tts", json={"text": text}, timeout=60)
    assert response.status_code == 200
    return response.content


def assert_json_error(response: requests.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code


def test_the_logs_follow_a_request_by_its_id_and_show_a_stream_cut_short(gateway: Gateway, tts_server: Server) -> None:
    whole = requests.post(
        f"{gateway.url}/api/tts", json={"text": "Hello there."}, headers={"X-Request-ID": "log-whole-1"}, timeout=30
    )
    assert whole.status_code == 200
    with requests.post(
        f"{gateway.url}/api/tts",
        json={"text": " ".join([PARAGRAPH] * 3)},
        headers={"X-Request-ID": "log-cut-1"},
        stream=True,
        timeout=30,
    ) as cut:
        assert cut.status_code == 200
        next(cut.iter_content(4096))  # the first audio, then the client leaves
    access_log = gateway.log_dir / "gateway.access.log"
    line = wait_for_line(access_log, "id=log-whole-1")
    assert "upstream_status=200" in line and "body=whole" in line, line
    line = wait_for_line(access_log, "id=log-cut-1")
    assert '" 200 ' in line and "body=cut" in line, line  # a 200 that did not go out whole
    # The service's own line for the request carries the id the gateway gave it.
    assert '"POST /api/tts HTTP/1.1" 200' in wait_for_line(tts_server.log_path, "id=log-whole-1")
    # An id a client sends that is not a plain token is replaced by one of the gateway's.
    requests.get(f"{gateway.url}/api/voices", headers={"X-Request-ID": "bad id\tinjected"}, timeout=10)
    assert "injected" not in access_log.read_text()
    # What was said stays out of the logs: a query is not logged.
    requests.get(f"{gateway.url}/api/tts", params={"text": "my secret words"}, headers={"X-Request-ID": "log-q-1"})
    line = wait_for_line(access_log, "id=log-q-1")
    assert '"GET /api/tts HTTP/1.1" 200' in line, line
    assert "secret" not in access_log.read_text() and "secret" not in tts_server.log()


def test_every_answer_carries_its_request_id(gateway: Gateway) -> None:
    """The id a service logged comes back with its answer: the client's own when it is a plain
    token, else the gateway's; through each service and through echo's redirect to TTS."""
    url = gateway.url
    mine = requests.post(f"{url}/api/tts", json={"text": "Hi."}, headers={"X-Request-ID": "client-id-7"}, timeout=30)
    assert mine.headers["X-Request-ID"] == "client-id-7"
    pcm = encode_pcm(pcm_to_float(mine.content), "s16le")
    given = {
        "tts": requests.get(f"{url}/api/voices", timeout=10),
        "asr": requests.post(f"{url}/api/stt/bytes", data=pcm, timeout=30),
        "asr error": requests.post(f"{url}/api/stt/bytes?sr=1", data=pcm, timeout=30),
        "orchestrator": requests.get(f"{url}/v1/models", timeout=10),
        "realtime": requests.get(f"{url}/api/stt/ws", timeout=10),
        "echo": requests.post(f"{url}/api/echo-bytes", data=pcm, timeout=60),
        "replaced": requests.get(f"{url}/api/voices", headers={"X-Request-ID": "bad id"}, timeout=10),
    }
    for name, answer in given.items():
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers.get("X-Request-ID", "")), (name, answer.headers)
    assert len({answer.headers["X-Request-ID"] for answer in given.values()}) == len(given)


def server_timing(answer: requests.Response) -> dict[str, float]:
    """The steps of an answer's Server-Timing header(s), by name."""
    steps = re.findall(r"([a-z]+);dur=([0-9.]+)", answer.headers.get("Server-Timing", ""))
    return {name: float(milliseconds) for name, milliseconds in steps}


def test_answers_say_how_long_their_first_steps_took(gateway: Gateway) -> None:
    """Server-Timing carries what is known when the headers leave: text processing and the
    queue on TTS, the upload and the decoding after it on ASR, and ASR's time on echo."""
    url = gateway.url
    speech = requests.post(f"{url}/api/tts", json={"text": "Hello there, how are you?"}, timeout=30)
    assert set(server_timing(speech)) == {"text", "queue"}, speech.headers
    openai_speech = requests.post(f"{url}/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": "alloy"})
    assert set(server_timing(openai_speech)) == {"text", "queue"}, openai_speech.headers
    pcm = encode_pcm(pcm_to_float(speech.content), "s16le")
    recognized = requests.post(f"{url}/api/stt/bytes", data=pcm, timeout=30)
    steps = server_timing(recognized)
    assert set(steps) == {"upload", "decode"}, recognized.headers
    timing = recognized.json()["timing"]
    assert abs(steps["upload"] - timing["upload_ms"]) <= 1 and abs(steps["decode"] - timing["after_upload_ms"]) <= 1
    echo = requests.post(f"{url}/api/echo-bytes", data=pcm, timeout=60)
    assert echo.status_code == 200
    steps = server_timing(echo)
    assert set(steps) == {"asr", "text", "queue"}, echo.headers
    assert steps["asr"] > 0


def test_an_echo_is_logged_under_one_id_by_every_service_it_passes(
    gateway: Gateway, tts_server: Server, asr_whisper_server: Server, orchestrator: Server
) -> None:
    pcm = speech_pcm(gateway, "Please call me back.")
    answer = requests.post(
        f"{gateway.url}/api/echo-bytes?sr=16000&ch=1&fmt=s16le",
        data=pcm,
        headers={"Content-Type": "application/octet-stream", "X-Request-ID": "log-echo-1"},
        timeout=60,
    )
    assert answer.status_code == 200
    assert '"POST /api/echo-bytes' in wait_for_line(orchestrator.log_path, "id=log-echo-1")
    assert '"POST /api/stt/bytes' in wait_for_line(asr_whisper_server.log_path, "id=log-echo-1")
    assert '"GET /api/tts HTTP/1.1" 200' in wait_for_line(tts_server.log_path, "id=log-echo-1")
    assert "body=whole" in wait_for_line(gateway.log_dir / "gateway.access.log", "id=log-echo-1")


def test_health_reports_every_service(gateway: Gateway) -> None:
    health = requests.get(f"{gateway.url}/healthz", timeout=10)
    assert health.status_code == 200
    services = health.json()["services"]
    # The compose stack runs the Wyoming servers too; the loopback stack here has none.
    wyoming = {"wyoming-tts": "ok", "wyoming-asr": "ok"} if stack_under_test() == "compose" else {}
    assert {name: report["status"] for name, report in services.items()} == {
        "tts": "ok",
        "asr": "ok",
        "realtime": "ok",
        "orchestrator": "ok",
        **wyoming,
    }
    assert services["asr"]["engine"] == "whisper"
    assert services["realtime"]["engine"] == "whisper"


def test_voices_are_listed_through_the_gateway(gateway: Gateway) -> None:
    voices = requests.get(f"{gateway.url}/api/voices", timeout=10).json()
    assert voices["default"] == "en_US-joe-medium"


def test_tts_streams_through_the_gateway(gateway: Gateway) -> None:
    start = time.perf_counter()
    response = requests.post(f"{gateway.url}/api/tts", json={"text": PARAGRAPH}, stream=True, timeout=60)
    assert response.status_code == 200
    assert response.headers["X-Sample-Rate"] == "16000"
    arrivals = []
    audio = b""
    for data in response.iter_content(chunk_size=None):
        arrivals.append(time.perf_counter() - start)
        audio += data
    assert len(arrivals) > 10
    assert arrivals[0] < 0.4 * arrivals[-1], (arrivals[0], arrivals[-1])
    assert len(audio) / 32000 > 10  # six sentences of speech


def test_stt_through_the_gateway_returns_the_contract(gateway: Gateway) -> None:
    pcm = speech_pcm(gateway, SENTENCE)
    response = requests.post(f"{gateway.url}/api/stt/bytes?sr=16000&ch=1&fmt=s16le", data=pcm, timeout=60)
    assert response.status_code == 200
    result = response.json()
    assert {"text", "segments", "language", "duration_seconds"} <= set(result)
    assert all({"start_ms", "end_ms", "text"} <= set(segment) for segment in result["segments"])
    assert jiwer.wer(words(SENTENCE), words(result["text"])) <= 0.1


def test_echo_recognizes_and_speaks_back(gateway: Gateway, whisper) -> None:
    pcm = speech_pcm(gateway, SENTENCE)
    response = requests.post(
        f"{gateway.url}/api/echo-bytes?sr=16000&ch=1&fmt=s16le",
        data=pcm,
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Sample-Rate"] == "16000"
    recognized = unquote(response.headers["X-Recognized-Text"])
    assert jiwer.wer(words(SENTENCE), words(recognized)) <= 0.1, recognized
    spoken_back = transcribe(whisper, pcm_to_float(response.content))
    assert jiwer.wer(words(SENTENCE), words(spoken_back)) <= 0.1, spoken_back


def test_echo_of_silence_is_no_speech(gateway: Gateway) -> None:
    response = requests.post(f"{gateway.url}/api/echo-bytes?sr=16000", data=bytes(32000 * 2), timeout=60)
    assert_json_error(response, 422, "no_speech")


def test_echo_passes_asr_errors_through(gateway: Gateway) -> None:
    assert_json_error(
        requests.post(f"{gateway.url}/api/echo-bytes?sr=1234", data=bytes(320), timeout=30), 422, "invalid_sr"
    )
    too_long = requests.post(f"{gateway.url}/api/echo-bytes?sr=16000", data=bytes(32000 * 16), timeout=30)
    assert_json_error(too_long, 413, "audio_too_long")


def test_non_ascii_recognized_text_is_carried_safely(
    asr_vosk_server: Server, tts_server: Server, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A Korean model recognizes Hangul: the header carries it percent-encoded, intact."""
    from tests.test_asr_vosk import korean_speech

    work = tmp_path_factory.mktemp("korean-echo")
    orchestrator = start_service(
        "orchestrator",
        models_dir,
        work / "orchestrator.log",
        TTS_SERVICE_URL=tts_server.url,
        ASR_SERVICE_URL=asr_vosk_server.url,
    )
    stack = start_gateway(work, tts_server.url, asr_vosk_server.url, orchestrator.url)
    try:
        pcm = encode_pcm(korean_speech(), "s16le")
        response = requests.post(f"{stack.url}/api/echo-bytes?sr=16000&lang=ko", data=pcm, timeout=60)
        header = response.headers["X-Recognized-Text"]
        assert header.isascii() and "\r" not in header and "\n" not in header
        recognized = unquote(header)
        assert any("\uac00" <= char <= "\ud7a3" for char in recognized), recognized  # Hangul syllables
        # The English voice cannot say Hangul: TTS answers its own JSON error, with the header.
        assert_json_error(response, 422, "nothing_to_say")
    finally:
        stack.stop()
        orchestrator.stop()


def test_gateway_errors_are_json(gateway: Gateway) -> None:
    assert_json_error(requests.get(f"{gateway.url}/no/such/path", timeout=10), 404, "not_found")
    # Over client_max_body_size (15 s at 48 kHz stereo float): refused from the Content-Length.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/stt/bytes HTTP/1.1\r\nHost: gw\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        reply = read_response(sock)
    assert reply.startswith(b"HTTP/1.1 413") and b"application/json" in reply and b"body_too_large" in reply
    # The services' own JSON errors pass through unchanged.
    assert_json_error(requests.post(f"{gateway.url}/api/tts", json={"text": ""}, timeout=10), 422, "empty_text")
    assert_json_error(requests.post(f"{gateway.url}/api/stt/bytes", data=b"", timeout=10), 400, "invalid_audio")
    too_long = requests.post(f"{gateway.url}/api/stt/bytes?sr=16000", data=bytes(32000 * 16), timeout=30)
    assert_json_error(too_long, 413, "audio_too_long")  # ASR's own: within nginx's limit, over 15 s


# Small, but more lines than the gateway passes on (100): meinheld answered 128 and more in HTML.
MANY_HEADERS = b"".join(b"X-Extra-%d: v\r\n" % number for number in range(128))
CHUNKED_TTS = b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"\x16\x03\x01garbage\r\n\r\n", 400, "bad_request"),  # TLS to the plain port
        (b"HELLO WORLD\r\n\r\n", 400, "bad_request"),
        (b"G@T /api/voices HTTP/1.1\r\nHost: gw\r\n\r\n", 400, "bad_request"),
        (b"GET /api/voices HTTP/9.9\r\nHost: gw\r\n\r\n", 505, "version_not_supported"),
        (b"GET /api/voices?" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: gw\r\n\r\n", 414, "uri_too_long"),
        (b"GET /api/voices HTTP/1.1\r\nHost: gw\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431, "header_too_large"),
        (b"GET /api/tts?text=Hi. HTTP/1.1\r\nHost: gw\r\n" + MANY_HEADERS + b"\r\n", 431, "header_too_large"),
        (b"POST /api/tts HTTP/1.1\r\nHost: gw\r\n" + CHUNKED_TTS, 400, "bad_request"),
        (b"POST /v1/audio/speech HTTP/1.1\r\nHost: gw\r\n" + CHUNKED_TTS, 400, "bad_request"),
    ],
    ids=[
        "tls",
        "garbage",
        "bad-method",
        "http-9.9",
        "long-line",
        "big-header",
        "many-headers",
        "tts-bad-chunk",
        "openai-bad-chunk",
    ],
)
def test_requests_nginx_cannot_read_get_json(gateway: Gateway, request_bytes: bytes, status: int, code: str) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        reply = read_response(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status), head
    assert b"application/json" in head.lower(), head
    assert json.loads(body)["error"]["code"] == code


@pytest.mark.parametrize(
    ("path", "status", "media_type"),
    [
        ("/api/tts?text=Hi.", 200, "application/octet-stream"),
        ("/api/stt/models?", 200, "application/json"),
        ("/v1/models?", 200, "application/json"),
        ("/api/stt/ws?", 426, "application/json"),
    ],
)
def test_the_services_take_every_request_line_and_header_the_gateway_lets_through(
    gateway: Gateway, path: str, status: int, media_type: str
) -> None:
    """gunicorn's own bounds (a 4 KB request line, 100 headers) are below the gateway's (8 KB,
    32 KB and 100 lines of headers), and it answered between them in HTML
    (found by `make fuzz`)."""
    long_line = f"{gateway.url}{path}&pad={'a' * (8000 - len(path))}"  # just under the gateway's 8 KB
    # With the 5 lines requests sends itself, the most the gateway takes.
    many_headers = {f"X-Extra-{number}": "v" for number in range(95)}
    for url, headers in ((long_line, {}), (f"{gateway.url}{path}", many_headers)):
        response = requests.get(url, headers=headers, timeout=30)
        assert response.status_code == status, response.text[:300]
        assert response.headers["Content-Type"].startswith(media_type)


def test_a_body_answered_before_it_is_read_gets_its_answer_every_time(gateway: Gateway) -> None:
    """A service that answers without reading a body over 64 KB (a method the path does not take,
    OPTIONS, a wrong media type) had gunicorn close the kept-alive connection under the gateway,
    which then answered some requests 502 (found by `make fuzz`). ASR, TTS and the orchestrator
    read and drop the rest after their answer. Behind the compose stack's published port, an
    upload's connection answered early was closed after a keep-alive answer, and the next
    request on it got no answer at all: uploads now answer `Connection: close`."""
    body = b" " * 300_000
    cases = [
        ("PUT", "/api/voices", "application/json", 405),
        ("POST", "/api/tts", "text/plain", 415),
        ("PUT", "/api/stt/models", "application/octet-stream", 405),
        ("PUT", "/v1/models", "application/json", 405),
        ("OPTIONS", "/api/echo-bytes", "application/octet-stream", 200),
        ("PUT", "/api/echo-bytes", "application/octet-stream", 405),
    ]
    with requests.Session() as session:
        for method, path, media_type, status in cases:
            statuses = [
                session.request(
                    method, f"{gateway.url}{path}", data=body, headers={"Content-Type": media_type}, timeout=30
                ).status_code
                for _ in range(30)
            ]
            assert statuses == [status] * 30, (method, path, statuses)


@pytest.mark.parametrize("path", ["/api/stt/bytes?sr=abc", "/api/echo-bytes?sr=abc", "/v1/audio/transcriptions"])
def test_an_upload_answered_before_its_end_says_the_connection_closes(gateway: Gateway, path: str) -> None:
    """nginx closes an upload's connection once the service has answered before the body's end
    (it cannot keep reading a body it no longer passes on); the answer must say so, or a client
    sends its next request into a closed connection."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: 300000\r\n\r\n".encode()
            + bytes(1000)  # the rest never comes: the answer is given before the body's end
        )
        head = read_response(sock).partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 4"), head
    assert b"\r\nconnection: close" in head, head


def test_a_trickled_tts_request_still_gets_json_not_meinheld_html(gateway: Gateway) -> None:
    """meinheld answers 408 in HTML to a body that trickles in; nginx buffers it first."""
    body = b'{"text": "Slowly but surely."}'
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/tts HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        for byte in body:
            sock.sendall(bytes([byte]))
            time.sleep(0.1)  # about 3 s in all
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert b"<html" not in reply[:2000].lower()


def test_a_stopped_service_gives_json_502_at_once(
    models_dir: Path, asr_whisper_server: Server, orchestrator: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = tmp_path_factory.mktemp("stopped")
    tts = start_service("tts", models_dir, work / "tts.log", TTS_WORKERS="1")
    stack = start_gateway(work, tts.url, asr_whisper_server.url, orchestrator.url)
    try:
        assert requests.post(f"{stack.url}/api/tts", json={"text": "Up."}, timeout=30).status_code == 200
        tts.stop()
        started = time.perf_counter()
        response = requests.post(f"{stack.url}/api/tts", json={"text": "Down."}, timeout=30)
        assert time.perf_counter() - started < 5
        assert_json_error(response, 502, "bad_gateway")
    finally:
        stack.stop()
        tts.stop()


def run_client(script: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "clients" / script), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_reference_clients_produce_playable_wav_files(gateway: Gateway, tmp_path: Path) -> None:
    tts_output = run_client("stream_tts.py", "--url", gateway.url, cwd=tmp_path)
    assert "Frame 1: 4096 bytes" in tts_output and "✓ Audio saved to input.wav" in tts_output
    with wave.open(str(tmp_path / "input.wav")) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert wav.getnframes() / 16000 > 1.5

    echo_output = run_client("echo_bytes.py", "--url", gateway.url, cwd=tmp_path)
    recognized = next(line for line in echo_output.splitlines() if line.startswith("Recognized text:"))
    assert jiwer.wer("hello world this is a streaming tts test", words(recognized.split(":", 1)[1])) <= 0.2
    with wave.open(str(tmp_path / "out_echo.wav")) as wav:
        assert wav.getframerate() == 16000 and wav.getnframes() / 16000 > 1.5


def test_clients_say_clearly_when_the_gateway_is_down(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "clients" / "stream_tts.py"), "--url", "http://127.0.0.1:9"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Cannot connect" in result.stderr


def test_past_capacity_requests_get_503_with_retry_after_and_health_still_answers(
    models_dir: Path, asr_whisper_server: Server, orchestrator: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """One stream at work and one waiting (TTS_MAX_STREAMS=1, TTS_MAX_QUEUE=1): the rest are turned away."""
    work = tmp_path_factory.mktemp("capacity")
    tts = start_service(
        "tts", models_dir, work / "tts.log", TTS_MAX_STREAMS="1", TTS_MAX_QUEUE="1", TTS_QUEUE_TIMEOUT="1"
    )
    stack = start_gateway(work, tts.url, asr_whisper_server.url, orchestrator.url)
    try:
        long_text = " ".join([PARAGRAPH] * 3)

        def speak(url: str) -> requests.Response:
            return requests.post(f"{url}/api/tts", json={"text": long_text}, timeout=60)

        with ThreadPoolExecutor(max_workers=6) as pool:
            direct = [pool.submit(speak, tts.url) for _ in range(3)]
            time.sleep(0.3)
            through_gateway = [pool.submit(speak, stack.url) for _ in range(3)]
            health = requests.get(f"{tts.url}/healthz", timeout=5)
            answers = [future.result() for future in direct + through_gateway]
        assert health.status_code == 200  # answered while at capacity
        refused = [answer for answer in answers if answer.status_code == 503]
        assert refused and any(answer.status_code == 200 for answer in answers)
        for answer in refused:
            assert answer.headers["Content-Type"].startswith("application/json")
            assert int(answer.headers["Retry-After"]) >= 1
            # Through the gateway too, the refusal is the service's own: it says why.
            assert answer.json()["error"]["code"] == "overloaded"
        assert requests.post(f"{stack.url}/api/tts", json={"text": "Back to normal."}, timeout=30).status_code == 200
    finally:
        stack.stop()
        tts.stop()
