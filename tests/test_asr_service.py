"""The ASR service for real with the Whisper engine: gunicorn gthread, tiny.en, HTTP on loopback.

Speech comes from the TTS service, so each test is a round trip through both services.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import jiwer
import numpy as np
import pytest
import requests
import soxr

from bench.harness import Server
from tests.conftest import encode_pcm, pcm_to_float, wav_bytes
from tests.media import encode_file
from tests.test_intelligibility import SENTENCES, words

SENTENCE = "Please call me back as soon as you get this message."


def speech(tts_server: Server, text: str) -> np.ndarray:
    """The joe voice saying `text`, as float audio at its native 22 050 Hz."""
    response = requests.post(f"{tts_server.url}/api/tts", json={"text": text, "sample_rate": 22050}, timeout=60)
    assert response.status_code == 200
    return pcm_to_float(response.content)


def stt(server: Server, body: bytes, timeout: float = 60, **params) -> requests.Response:
    headers = {"Content-Type": "application/octet-stream"}
    return requests.post(f"{server.url}/api/stt/bytes", params=params, data=body, headers=headers, timeout=timeout)


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response with a Content-Length, read from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += received(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += received(sock)
    return head + b"\r\n\r\n" + body


def received(sock: socket.socket) -> bytes:
    data = sock.recv(4096)
    if not data:
        raise ConnectionError("the server closed the connection")
    return data


def assert_word_times_are_sane(result: dict) -> None:
    segments = result["segments"]
    assert segments, result
    starts = [s["start_ms"] for s in segments]
    assert starts == sorted(starts)
    for segment in segments:
        assert 0 <= segment["start_ms"] <= segment["end_ms"] <= result["duration_seconds"] * 1000 + 50
        assert segment["text"]


@pytest.fixture(scope="module")
def sentence_audio(tts_server: Server) -> np.ndarray:
    return speech(tts_server, SENTENCE)


def test_health_names_engine_and_model(asr_whisper_server: Server) -> None:
    health = requests.get(f"{asr_whisper_server.url}/healthz", timeout=5).json()
    assert (health["status"], health["engine"], health["model"]) == ("ok", "whisper", "tiny.en")
    models = requests.get(f"{asr_whisper_server.url}/api/stt/models", timeout=5).json()
    assert models["loaded"]["languages"] == ["en"]
    assert models["max_audio_seconds"] == 15  # MAX_AUDIO_DURATION's default


@pytest.mark.parametrize(
    ("rate", "channels", "sample_format"),
    [
        (16000, 1, "s16le"),
        (8000, 1, "s16le"),
        (22050, 1, "float32"),
        (44100, 2, "s32le"),
        (48000, 2, "float32"),
        (48000, 1, "s32le"),
    ],
)
def test_speech_in_every_format_is_transcribed(
    asr_whisper_server: Server, sentence_audio: np.ndarray, rate: int, channels: int, sample_format: str
) -> None:
    audio = soxr.resample(sentence_audio, 22050, rate)
    response = stt(
        asr_whisper_server, encode_pcm(audio, sample_format, channels), sr=rate, ch=channels, fmt=sample_format
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) >= {"text", "segments", "language", "duration_seconds"}
    assert result["language"] == "en"
    assert abs(result["duration_seconds"] - len(audio) / rate) < 0.01
    assert jiwer.wer(words(SENTENCE), words(result["text"])) <= 0.1, result["text"]
    assert_word_times_are_sane(result)


def test_fixed_sentences_have_low_word_error_rate(asr_whisper_server: Server, tts_server: Server) -> None:
    heard = []
    for text in SENTENCES:
        pcm = encode_pcm(soxr.resample(speech(tts_server, text), 22050, 16000), "s16le")
        heard.append(words(stt(asr_whisper_server, pcm).json()["text"]))
    assert jiwer.wer([words(text) for text in SENTENCES], heard) <= 0.10, heard


def post_file(server: Server, body: bytes, content_type: str) -> requests.Response:
    """A file as the body; the query says 8 kHz mono, which the file's own format overrides."""
    headers = {"Content-Type": content_type}
    return requests.post(f"{server.url}/api/stt/bytes?sr=8000", data=body, headers=headers, timeout=60)


def assert_says_the_sentence(response: requests.Response, seconds: float, tolerance: float) -> None:
    assert response.status_code == 200, response.text
    result = response.json()
    assert abs(result["duration_seconds"] - seconds) < tolerance
    assert jiwer.wer(words(SENTENCE), words(result["text"])) <= 0.1
    assert_word_times_are_sane(result)


@pytest.mark.parametrize("content_type", ["audio/wav", "application/octet-stream"])
def test_wav_upload_takes_its_format_from_the_header(
    asr_whisper_server: Server, sentence_audio: np.ndarray, content_type: str
) -> None:
    body = wav_bytes(encode_pcm(sentence_audio, "s16le", 2), 22050, channels=2)  # stereo, 22 050 Hz
    assert_says_the_sentence(post_file(asr_whisper_server, body, content_type), len(sentence_audio) / 22050, 0.01)


@pytest.mark.parametrize(
    ("kind", "content_type"), [("mp3", "audio/mpeg"), ("webm", "audio/webm"), ("m4a", "audio/mp4")]
)
def test_an_audio_file_of_a_declared_type_is_decoded_as_it_uploads(
    asr_whisper_server: Server, sentence_audio: np.ndarray, kind: str, content_type: str
) -> None:
    body = encode_file(sentence_audio, 22050, kind)
    assert_says_the_sentence(post_file(asr_whisper_server, body, content_type), len(sentence_audio) / 22050, 0.1)
    damaged = post_file(asr_whisper_server, b"not audio" * 99, content_type)
    assert damaged.status_code == 400 and damaged.json()["error"]["code"] == "invalid_audio"


def test_silence_gives_no_words(asr_whisper_server: Server) -> None:
    result = stt(asr_whisper_server, bytes(16000 * 2 * 3)).json()
    assert (result["text"], result["segments"], result["duration_seconds"]) == ("", [], 3.0)


def test_paced_upload_succeeds(asr_whisper_server: Server, sentence_audio: np.ndarray) -> None:
    pcm = encode_pcm(soxr.resample(sentence_audio, 22050, 16000), "s16le")
    block = 3200  # 100 ms

    def paced():
        for start in range(0, len(pcm), block):
            time.sleep(0.1)
            yield pcm[start : start + block]

    response = requests.post(f"{asr_whisper_server.url}/api/stt/bytes", data=paced(), timeout=60)
    assert response.status_code == 200, response.text
    assert jiwer.wer(words(SENTENCE), words(response.json()["text"])) <= 0.1


BAD_PARAMS = [
    ({"sr": "12345"}, "invalid_sr", "8000, 16000, 22050, 44100, 48000"),
    ({"ch": "3"}, "invalid_ch", "1, 2"),
    ({"fmt": "mp3"}, "invalid_fmt", "s16le, s32le, float32"),
    ({"lang": "fr"}, "unsupported_language", "en"),
]


@pytest.mark.parametrize(("params", "code", "allowed"), BAD_PARAMS, ids=[c[1] for c in BAD_PARAMS])
def test_bad_parameters_get_422_naming_the_allowed_values(
    asr_whisper_server: Server, params: dict, code: str, allowed: str
) -> None:
    response = stt(asr_whisper_server, bytes(3200), **params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert allowed in response.json()["error"]["message"]


BAD_AUDIO = [
    ("empty body", b"", {}, 400, "invalid_audio"),
    ("partial frame", bytes(3201), {}, 400, "invalid_audio"),
    ("partial stereo float frame", bytes(16 * 100 + 4), {"ch": "2", "fmt": "float32"}, 400, "invalid_audio"),
    ("NaN", np.array([0.1, np.nan, 0.2], dtype="<f4").tobytes(), {"fmt": "float32"}, 400, "invalid_audio"),
    ("infinity", np.array([np.inf] * 4, dtype="<f4").tobytes(), {"fmt": "float32"}, 400, "invalid_audio"),
    ("8-bit WAV", wav_bytes(bytes(1600), 16000, sample_width=1), {}, 400, "invalid_audio"),
    ("11025 Hz WAV", wav_bytes(bytes(2205 * 2), 11025), {}, 422, "invalid_sr"),
    ("truncated WAV header", wav_bytes(bytes(100), 16000)[:30], {}, 400, "invalid_audio"),
    ("16 s of audio", bytes(16000 * 2 * 16), {}, 413, "audio_too_long"),
    (
        "16 s of 48 kHz stereo float",
        bytes(48000 * 8 * 16),
        {"sr": "48000", "ch": "2", "fmt": "float32"},
        413,
        "audio_too_long",
    ),
]


@pytest.mark.parametrize(("name", "body", "params", "status", "code"), BAD_AUDIO, ids=[c[0] for c in BAD_AUDIO])
def test_bad_audio_gets_a_json_error(
    asr_whisper_server: Server, name: str, body: bytes, params: dict, status: int, code: str
) -> None:
    response = stt(asr_whisper_server, body, **params)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code


def test_too_long_is_refused_from_content_length_before_the_body_is_sent(asr_whisper_server: Server) -> None:
    host, port = asr_whisper_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /api/stt/bytes?sr=16000 HTTP/1.1\r\nHost: asr\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % (16000 * 2 * 60)
        )
        reply = read_response(sock)  # answered without a byte of the body
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"audio_too_long" in reply


def test_a_body_sent_on_after_the_refusal_is_dropped_and_the_connection_kept(asr_whisper_server: Server) -> None:
    """The gateway goes on sending an upload ASR has refused: were the connection closed with
    that unread, the gateway's send would fail and the client get 502 instead of the 413."""
    host, port = asr_whisper_server.url.removeprefix("http://").split(":")
    body = bytes(16000 * 2 * 20)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /api/stt/bytes?sr=16000 HTTP/1.1\r\nHost: asr\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert read_response(sock).startswith(b"HTTP/1.1 413")
        sock.sendall(body)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: asr\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("path", ["/api/stt/bytes?sr=16000", "/v1/audio/transcriptions"])
def test_a_chunked_upload_broken_after_good_audio_is_the_clients_error(asr_whisper_server: Server, path: str) -> None:
    host, port = asr_whisper_server.url.removeprefix("http://").split(":")
    content_type = b"application/octet-stream" if path.startswith("/api") else b"multipart/form-data; boundary=b"
    good = (
        bytes(16000)
        if path.startswith("/api")
        else b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1'
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST %s HTTP/1.1\r\nHost: asr\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"%x\r\n%s\r\nZZZ\r\n\r\n" % (path.encode(), content_type, len(good), good)
        )
        head, _, body = read_response(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert "could not be read" in json.loads(body)["error"]["message"]
    assert requests.get(f"{asr_whisper_server.url}/healthz", timeout=10).status_code == 200


def test_too_long_stream_without_length_is_refused_as_it_passes_the_limit(asr_whisper_server: Server) -> None:
    sent = 0

    def endless():
        nonlocal sent
        for _ in range(200):  # 200 s of audio if the server read it all
            sent += 32000
            yield bytes(32000)

    response = requests.post(f"{asr_whisper_server.url}/api/stt/bytes", data=endless(), timeout=60)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "audio_too_long"


def test_stalled_uploads_are_dropped_and_do_not_wedge_the_service(
    asr_whisper_server: Server, sentence_audio: np.ndarray
) -> None:
    """More stalled clients than the service has threads; each is dropped after ASR_READ_TIMEOUT (2 s)."""
    stalled = []
    for _ in range(6):
        sock = socket.create_connection(("127.0.0.1", asr_whisper_server.port), timeout=30)
        sock.sendall(
            b"POST /api/stt/bytes HTTP/1.1\r\nHost: asr\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 32000\r\n\r\n" + bytes(1000)
        )
        stalled.append(sock)
    for sock in stalled:
        with sock:
            reply = read_response(sock)
            assert reply.startswith(b"HTTP/1.1 408"), reply
            assert b"upload_stalled" in reply
    pcm = encode_pcm(soxr.resample(sentence_audio, 22050, 16000), "s16le")
    assert stt(asr_whisper_server, pcm).status_code == 200


def test_service_still_answers_after_bad_input(asr_whisper_server: Server, sentence_audio: np.ndarray) -> None:
    for body, params in [(b"x", {}), (b"RIFF", {}), (bytes(7), {"fmt": "float32"})]:
        stt(asr_whisper_server, body, **params)
    assert requests.get(f"{asr_whisper_server.url}/healthz", timeout=5).status_code == 200
    pcm = encode_pcm(soxr.resample(sentence_audio, 22050, 16000), "s16le")
    assert stt(asr_whisper_server, pcm).status_code == 200
    assert "Traceback" not in asr_whisper_server.log()


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="the kernel shares no CPU by session")
def test_the_worker_yields_the_cpu_in_a_session_of_its_own(asr_whisper_server: Server) -> None:
    """ASR_NICE (5 by default) must hold beside other daemons: with autogroups, the CPU is
    shared by session first, so the worker's own session gets the nice value, and no other."""
    master = asr_whisper_server.process.pid
    worker = int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])
    assert os.getpriority(os.PRIO_PROCESS, worker) == 5
    assert os.getsid(worker) == worker
    assert Path(f"/proc/{worker}/autogroup").read_text().split()[-1] == "5"
    assert Path(f"/proc/{master}/autogroup").read_text() == Path("/proc/self/autogroup").read_text()
