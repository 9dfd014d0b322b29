"""The TTS service for real: gunicorn + meinheld, the exported joe voice, HTTP on loopback."""

from __future__ import annotations

import io
import json
import socket
import time
import wave
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench.harness import Server
from export.verify import speech_stats
from tests.conftest import pcm_to_float

PARAGRAPH = (
    "The museum opens at nine in the morning. Visitors can buy tickets at the door or online. "
    "The first floor holds paintings from the last two centuries. Sculptures are on the second floor. "
    "A small cafe near the entrance serves coffee and sandwiches. The museum closes at six in the evening."
)


def post_tts(server: Server, body: dict, path: str = "/api/tts", **kwargs) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, timeout=60, **kwargs)


def assert_speech(pcm: bytes, rate: int, text: str) -> None:
    stats = speech_stats(pcm_to_float(pcm), rate)
    assert stats.rms_dbfs > -35, stats
    assert stats.active_fraction > 0.4, stats
    # People speak roughly 10-20 characters a second.
    assert 0.04 < stats.seconds / len(text) < 0.12, stats


def test_health_and_voices(tts_server: Server) -> None:
    health = requests.get(f"{tts_server.url}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json()["voices"] == ["en_US-joe-medium"]
    voices = requests.get(f"{tts_server.url}/api/voices", timeout=5).json()
    assert voices["default"] == "en_US-joe-medium"
    (joe,) = voices["voices"]
    assert (joe["engine"], joe["native_sample_rate"], joe["language"]) == ("piper", 22050, "en_US")
    assert set(joe["model_sha256"]) == {"text", "audio"}


def test_pcm_stream_has_the_contract_headers_and_speech(tts_server: Server) -> None:
    text = "Hello world, this is a streaming TTS test."
    response = post_tts(tts_server, {"text": text})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert (response.headers["X-Audio-Format"], response.headers["X-Sample-Rate"], response.headers["X-Channels"]) == (
        "s16le",
        "16000",
        "1",
    )
    assert len(response.content) % 2 == 0
    assert_speech(response.content, 16000, text)


@pytest.fixture(params=["gthread", "meinheld"])
def any_tts_server(request: pytest.FixtureRequest) -> Server:
    """Each supported worker class, for the behaviour that depends on the server layer."""
    return request.getfixturevalue("tts_server" if request.param == "gthread" else "tts_meinheld_server")


def test_frames_are_4096_bytes_and_arrive_while_synthesis_goes_on(any_tts_server: Server) -> None:
    tts_server = any_tts_server
    start = time.perf_counter()
    response = post_tts(tts_server, {"text": PARAGRAPH}, stream=True)
    arrivals, frames = [], []
    for frame in response.raw.read_chunked(decode_content=False):
        arrivals.append(time.perf_counter() - start)
        frames.append(frame)
    sizes = [len(frame) for frame in frames]
    assert set(sizes[:-1]) == {4096} and 0 < sizes[-1] <= 4096
    assert_speech(b"".join(frames), 16000, PARAGRAPH)
    # Streaming, not buffering: the first frame comes long before the last one.
    assert arrivals[0] < 0.4 * arrivals[-1], (arrivals[0], arrivals[-1])


def test_wav_stream_parses_with_the_wave_module(tts_server: Server) -> None:
    text = "A player can start on this at once."
    response = post_tts(tts_server, {"text": text}, path="/api/tts/wav")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(response.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        pcm = wav.readframes(10**9)
    assert len(pcm) == len(response.content) - 44
    assert_speech(pcm, 16000, text)


@pytest.mark.parametrize("rate", [8000, 22050, 48000])
def test_requested_sample_rate_keeps_the_duration(tts_server: Server, rate: int) -> None:
    text = "Sample rates change the samples, not the speech."
    response = post_tts(tts_server, {"text": text, "sample_rate": rate})
    assert response.headers["X-Sample-Rate"] == str(rate)
    assert_speech(response.content, rate, text)


def test_speed_changes_duration(tts_server: Server) -> None:
    text = "Faster speech takes less time to say."
    normal = len(post_tts(tts_server, {"text": text}).content)
    fast = len(post_tts(tts_server, {"text": text, "speed": 2.0}).content)
    slow = len(post_tts(tts_server, {"text": text, "speed": 0.5}).content)
    assert fast < 0.7 * normal < slow * 0.7


def test_get_with_query_string_works_like_post(tts_server: Server) -> None:
    text = "The echo pipeline uses this form."
    response = requests.get(f"{tts_server.url}/api/tts", params={"text": text, "sample_rate": 16000}, timeout=60)
    assert response.status_code == 200
    assert response.headers["X-Sample-Rate"] == "16000"
    assert_speech(response.content, 16000, text)


def test_unsayable_characters_do_not_stop_the_rest(tts_server: Server) -> None:
    response = post_tts(tts_server, {"text": "Hello 世界 🙂, this still speaks ☃ fine."})
    assert response.status_code == 200
    assert_speech(response.content, 16000, "Hello, this still speaks fine.")


def test_client_disconnect_stops_synthesis(any_tts_server: Server) -> None:
    tts_server = any_tts_server
    body = json.dumps({"text": "This sentence is one of many in a long text. " * 40}).encode()
    logged_before = len(tts_server.log())  # the service is shared: other tests' streams are in its log

    def new_log() -> str:
        return tts_server.log()[logged_before:]

    with socket.create_connection(("127.0.0.1", tts_server.port)) as sock:
        sock.sendall(
            b"POST /api/tts HTTP/1.1\r\nHost: tts\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 20
    while "stream closed by the client" not in new_log() and time.monotonic() < deadline:
        time.sleep(0.1)
    line = next(line for line in new_log().splitlines() if "stream closed by the client" in line)
    done, total = (int(word) for word in line.split("after ")[1].split(" pieces")[0].split(" of "))
    assert total >= 40 and done < 10


BAD_REQUESTS = [
    ("malformed JSON", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "malformed_json"),
    (
        "not UTF-8",
        {"data": b'{"text": "\xff\xfe"}', "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
    ),
    (
        "deeply nested JSON",
        {"data": "[" * 20000 + "]" * 20000, "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
    ),
    ("JSON array", {"json": ["Hello"]}, 400, "invalid_body"),
    ("missing text", {"json": {"voice": "en_US-joe-medium"}}, 400, "missing_text"),
    ("empty text", {"json": {"text": ""}}, 422, "empty_text"),
    ("whitespace text", {"json": {"text": "   \n "}}, 422, "empty_text"),
    ("text not a string", {"json": {"text": 42}}, 422, "invalid_text"),
    ("only unsayable", {"json": {"text": "☃ 🙂 世界"}}, 422, "nothing_to_say"),
    ("text too long", {"json": {"text": "a" * 5001}}, 413, "text_too_long"),
    ("text too long in bytes", {"json": {"text": "🙂" * 5001}}, 413, "text_too_long"),
    ("body too large", {"json": {"text": "hi", "pad": "x" * 70000}}, 413, "body_too_large"),
    ("unknown voice", {"json": {"text": "hi", "voice": "nobody"}}, 404, "unknown_voice"),
    (
        "form body",
        {"data": "text=hi", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
        "unsupported_media_type",
    ),
    ("no content type", {"data": b'{"text": "hi"}'}, 415, "unsupported_media_type"),
    ("speed too high", {"json": {"text": "hi", "speed": 10}}, 422, "invalid_speed"),
    ("speed not a number", {"json": {"text": "hi", "speed": "fast"}}, 422, "invalid_speed"),
    ("odd sample rate", {"json": {"text": "hi", "sample_rate": 11025}}, 422, "invalid_sample_rate"),
]


@pytest.mark.parametrize(("name", "kwargs", "status", "code"), BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
@pytest.mark.parametrize("path", ["/api/tts", "/api/tts/wav"])
def test_bad_input_gets_a_json_error(
    tts_server: Server, path: str, name: str, kwargs: dict, status: int, code: str
) -> None:
    response = requests.post(f"{tts_server.url}{path}", timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "missing_text"),
        ({"text": "hi", "speed": "nan"}, 422, "invalid_speed"),
        ({"text": "hi", "sample_rate": "x"}, 422, "invalid_sample_rate"),
        ({"text": "hi", "voice": "nobody"}, 404, "unknown_voice"),
    ],
)
def test_bad_query_gets_a_json_error(tts_server: Server, params: dict, status: int, code: str) -> None:
    response = requests.get(f"{tts_server.url}/api/tts", params=params, timeout=30)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_unknown_route_and_method_are_json(tts_server: Server) -> None:
    missing = requests.get(f"{tts_server.url}/api/nothing", timeout=5)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong = requests.delete(f"{tts_server.url}/api/tts", timeout=5)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")


def test_service_still_answers_after_bad_input(tts_server: Server) -> None:
    for _ in range(3):
        requests.post(
            f"{tts_server.url}/api/tts", data=b"\x00\xff{", headers={"Content-Type": "application/json"}, timeout=10
        )
    assert requests.get(f"{tts_server.url}/healthz", timeout=5).status_code == 200
    assert post_tts(tts_server, {"text": "Still here."}).status_code == 200
    assert "Traceback" not in tts_server.log()


def test_parallel_streams_all_complete(any_tts_server: Server) -> None:
    tts_server = any_tts_server
    texts = [f"Stream number {n} is speaking at the same time as the others." for n in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda text: post_tts(tts_server, {"text": text}), texts))
    for text, response in zip(texts, responses, strict=True):
        assert response.status_code == 200
        assert_speech(response.content, 16000, text)
