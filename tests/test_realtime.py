"""Live recognition over WebSocket in vosk-server's protocol (`/api/stt/ws`), end to end.

The clients here are the `websockets` library's, as vosk-server's own sample clients are, and
they go through the gateway (nginx) to real servers on loopback: Whisper, and the Korean Vosk
model (speech made by espeak-ng, as in test_asr_vosk). Audio is sent faster than real time
except where pacing is what is tested.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import pytest
import requests
import soxr
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from bench.harness import ROOT, Endpoint, Gateway, Server, free_port, start_gateway, start_service, wait_for_port
from services.asr.engines.base import Alternative, Utterance, Word
from services.realtime import protocol
from services.realtime.app import close_reason
from services.realtime.protocol import Config, Eof, Reset
from tests.conftest import REALTIME_APP, encode_pcm
from tests.test_asr_vosk import korean_speech
from tests.test_intelligibility import words

SENTENCE = "The weather today is sunny with a light breeze from the west."
EOF_MESSAGE = '{"eof" : 1}'  # as vosk-server's sample clients spell it
RESET_MESSAGE = '{"reset" : 1}'
FRAME_SECONDS = 0.2  # what vosk-server's sample clients send
TIGHT_FRAME_BYTES = 16384
KEY = "live-key"


def ws_url(endpoint: Endpoint) -> str:
    return "ws" + endpoint.url.removeprefix("http") + "/api/stt/ws"


def frames(pcm: bytes, sample_rate: float, seconds: float = FRAME_SECONDS) -> Iterator[bytes]:
    size = 2 * round(sample_rate * seconds)
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]


@functools.cache
def korean_pcm(repeats: int = 1, sample_rate: int = 16000) -> bytes:
    speech = korean_speech()
    if sample_rate != 16000:
        speech = soxr.resample(speech, 16000, sample_rate)
    return encode_pcm(np.tile(speech, repeats), "s16le")


def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; (code, reason) of its close. Every message left is a failure."""
    try:
        message = ws.recv(timeout=60)
    except ConnectionClosed:
        return ws.close_code, ws.close_reason
    raise AssertionError(f"a message where the close was expected: {message}")


def expect_error(ws: ClientConnection, code: str, close_code: int) -> str:
    """The error message the server sends before it closes, and its close: the reason."""
    message = json.loads(ws.recv(timeout=60))
    assert message["error"]["code"] == code, message
    assert message["error"]["message"]
    closed = closed_with(ws)
    assert closed[0] == close_code, closed
    reason = closed[1] or ""
    assert reason.startswith(code) and len(reason.encode()) <= 123, reason
    return reason


def send_and_read(ws: ClientConnection, frame: bytes | str) -> dict[str, Any]:
    ws.send(frame)
    return json.loads(ws.recv(timeout=120))


def recognize(url: str, pcm: bytes, sample_rate: float, config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Stream as vosk-server's sample client does, a frame and its reply at a time; every reply,
    the last being the answer to eof, which closes the connection normally."""
    with connect(url) as ws:
        if config is not None:
            ws.send(json.dumps({"config": config}))
        replies = [send_and_read(ws, frame) for frame in frames(pcm, sample_rate)]
        replies.append(send_and_read(ws, EOF_MESSAGE))
        assert closed_with(ws) == (1000, "Normal Closure")
    return replies


def results(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [reply for reply in replies if "partial" not in reply]


def text_of(replies: list[dict[str, Any]]) -> str:
    return " ".join(reply["text"] for reply in results(replies) if reply["text"])


def active_sessions(server: Server) -> int:
    return requests.get(f"{server.url}/healthz", timeout=5).json()["active_sessions"]


def wait_until_idle(server: Server) -> None:
    """Sessions end on the server after their clients are told; wait (bounded) until none is open."""
    deadline = time.monotonic() + 10
    while active_sessions(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert active_sessions(server) == 0


def one_gateway(realtime: Server, work: Path) -> Gateway:
    """A gateway in front of one realtime server (the other services are not called here)."""
    return start_gateway(work, realtime.url, realtime.url, realtime.url, realtime_url=realtime.url)


@pytest.fixture(scope="module")
def vosk_gateway(realtime_vosk_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = one_gateway(realtime_vosk_server, tmp_path_factory.mktemp("vosk-gateway"))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def tight_realtime_server(vosk_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Vosk with small limits: 3 s utterances, 2 s idle, 16 KiB frames."""
    server = start_service(
        "realtime",
        vosk_models_dir,
        tmp_path_factory.mktemp("realtime-tight") / "realtime.log",
        app=REALTIME_APP,
        MAX_AUDIO_DURATION="3",
        REALTIME_IDLE_TIMEOUT="2",
        REALTIME_MAX_FRAME_BYTES=str(TIGHT_FRAME_BYTES),
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tight_gateway(tight_realtime_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = one_gateway(tight_realtime_server, tmp_path_factory.mktemp("tight-gateway"))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def keyed_realtime_server(vosk_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("realtime-keyed") / "realtime.log"
    server = start_service("realtime", vosk_models_dir, log, app=REALTIME_APP, API_KEYS=KEY)
    yield server
    server.stop()


# The messages themselves.


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ('{"eof" : 1}', Eof()),
        ('{"eof": 1}', Eof()),
        ('{"reset" : 1}', Reset()),
        ('{ "config" : { "sample_rate" : 8000 } }', Config(sample_rate=8000.0)),  # vosk-server's test.py
        (
            '{"config": {"phrase_list": ["zero one two", "three"], "sample_rate": 22050.0, "words": 0}}',
            Config(sample_rate=22050.0, words=False, phrases=("zero one two", "three")),
        ),
        (
            '{"config": {"max_alternatives": 20, "language": "ko", "model": "elsewhere"}}',
            Config(max_alternatives=20, language="ko"),
        ),
    ],
)
def test_messages_are_read_as_vosk_server_reads_them(text: str, parsed: object) -> None:
    assert protocol.parse_text(text) == parsed


def word(text: str, start_ms: int, end_ms: int, confidence: float | None = 0.9) -> Word:
    return Word(start_ms, end_ms, text, confidence)


def test_a_final_result_joins_every_utterance_left() -> None:
    first = Utterance([word("hello", 0, 400), word("world", 400, 900)])
    second = Utterance([word("again", 1500, 2000, 0.5)])
    joined = json.loads(protocol.result([first, Utterance([]), second], words=True, alternatives=0))
    assert joined == {
        "result": [
            {"conf": 0.9, "end": 0.4, "start": 0.0, "word": "hello"},
            {"conf": 0.9, "end": 0.9, "start": 0.4, "word": "world"},
            {"conf": 0.5, "end": 2.0, "start": 1.5, "word": "again"},
        ],
        "text": "hello world again",
    }
    assert json.loads(protocol.result([], words=True, alternatives=0)) == {"text": ""}


def test_alternatives_of_several_utterances_are_joined_reading_by_reading() -> None:
    first = Utterance(
        [word("a", 0, 100, None)],
        [Alternative("a", 10.0, [word("a", 0, 100, None)]), Alternative("eh", 9.0, [word("eh", 0, 100, None)])],
    )
    second = Utterance([word("b", 200, 300, None)], [Alternative("b", 5.0, [word("b", 200, 300, None)])])
    joined = json.loads(protocol.result([first, second], words=False, alternatives=2))
    assert joined == {"alternatives": [{"confidence": 15.0, "text": "a b"}, {"confidence": 14.0, "text": "eh b"}]}


def test_close_reasons_fit_a_close_frame() -> None:
    reason = close_reason("too_many_sessions", "세션이 너무 많습니다 " * 20)
    assert reason.startswith("too_many_sessions: ") and len(reason.encode()) <= 123


# The protocol, message by message (Vosk: it answers every frame as soon as it is decoded).


@pytest.fixture(scope="module")
def korean_replies(vosk_gateway: Gateway) -> list[dict[str, Any]]:
    """Every reply to the Korean sentence at 16 kHz, streamed with no config."""
    return recognize(ws_url(vosk_gateway), korean_pcm(), 16000)


def test_every_frame_gets_one_reply_and_eof_the_last_result(vosk_gateway: Gateway) -> None:
    pcm = korean_pcm()
    sent = list(frames(pcm, 16000))
    with connect(ws_url(vosk_gateway)) as ws:
        ws.send(json.dumps({"config": {"sample_rate": 16000}}))  # no reply: the next is the frame's
        replies = [send_and_read(ws, frame) for frame in sent]
        final = send_and_read(ws, EOF_MESSAGE)
        # Nothing else comes, and the server closes normally.
        assert closed_with(ws) == (1000, "Normal Closure")
    assert all(set(reply) in ({"partial"}, {"text", "result"}, {"text"}) for reply in replies), replies
    assert set(final) == {"text", "result"}
    heard = text_of([*replies, final])
    assert sum("\uac00" <= char <= "\ud7a3" for char in heard) >= 10, heard  # Hangul syllables


def test_partials_grow_before_the_utterance_ends(korean_replies: list[dict[str, Any]]) -> None:
    replies = korean_replies
    first_result = next(index for index, reply in enumerate(replies) if "partial" not in reply)
    partials = [reply["partial"] for reply in replies[:first_result] if reply["partial"]]
    assert len(partials) >= 3, replies
    assert len(partials[-1].split()) > len(partials[0].split()) >= 1, partials


def test_words_carry_confidence_and_times_in_seconds(korean_replies: list[dict[str, Any]]) -> None:
    replies = korean_replies
    items = [item for reply in results(replies) for item in reply.get("result", [])]
    assert len(items) >= 5
    assert all(set(item) == {"conf", "start", "end", "word"} for item in items), items
    assert all(0 <= item["conf"] <= 1 and 0 <= item["start"] <= item["end"] for item in items)
    assert all(isinstance(item["start"], float) for item in items)
    assert [item["start"] for item in items] == sorted(item["start"] for item in items)
    assert items[-1]["end"] <= len(korean_pcm()) / 32000 + 0.05
    assert text_of(replies) == " ".join(item["word"] for item in items)


def test_words_0_leaves_the_word_list_out(vosk_gateway: Gateway) -> None:
    replies = recognize(ws_url(vosk_gateway), korean_pcm(), 16000, {"words": 0})
    assert all(set(reply) == {"text"} for reply in results(replies)), results(replies)
    assert text_of(replies)


def test_alternatives_in_vosks_shape(vosk_gateway: Gateway) -> None:
    replies = recognize(ws_url(vosk_gateway), korean_pcm(), 16000, {"max_alternatives": 3})
    final = replies[-1]
    assert set(final) == {"alternatives"}
    readings = final["alternatives"]
    assert 1 < len(readings) <= 3
    for reading in readings:
        assert isinstance(reading["confidence"], float) and reading["text"]
        assert [item["word"] for item in reading["result"]] == reading["text"].split()


def test_a_phrase_list_limits_what_is_recognized(vosk_gateway: Gateway) -> None:
    phrases = ["안녕하세요", "날씨"]
    replies = recognize(ws_url(vosk_gateway), korean_pcm(), 16000, {"phrase_list": phrases})
    heard = text_of(replies).split()
    assert heard and set(heard) <= {*phrases, "[unk]"}, heard
    assert "안녕하세요" in heard


def test_a_float_sample_rate_in_the_config(vosk_gateway: Gateway, korean_replies: list[dict[str, Any]]) -> None:
    """vosk-server takes the rate as a float; audio at 22050 Hz is heard as at 16 kHz."""
    at_16k = text_of(korean_replies)
    at_22k = text_of(recognize(ws_url(vosk_gateway), korean_pcm(sample_rate=22050), 22050.0, {"sample_rate": 22050.0}))
    # Resampled audio meets Kaldi's endpointing at other sample edges (see test_asr_vosk).
    assert jiwer.wer(at_16k, at_22k) <= 0.4, (at_16k, at_22k)


def test_reset_gives_the_result_and_the_stream_goes_on(vosk_gateway: Gateway) -> None:
    pcm = korean_pcm()
    with connect(ws_url(vosk_gateway)) as ws:
        for frame in frames(pcm, 16000):
            send_and_read(ws, frame)
        first = send_and_read(ws, RESET_MESSAGE)
        later = [send_and_read(ws, frame) for frame in frames(pcm, 16000)]
        last = send_and_read(ws, EOF_MESSAGE)
        assert closed_with(ws)[0] == 1000
    assert first["text"] and text_of([*later, last])
    # Word times count from the start of the stream, across the reset.
    assert last["result"][-1]["end"] > first["result"][-1]["end"]


def test_eof_before_any_audio_is_an_empty_result(vosk_gateway: Gateway) -> None:
    with connect(ws_url(vosk_gateway)) as ws:
        assert send_and_read(ws, EOF_MESSAGE) == {"text": ""}
        assert closed_with(ws)[0] == 1000


# What the client did wrong: an error in the project's shape, then a close code with a reason.


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        (["hello"], "invalid_frame"),
        (['{"flush": 1}'], "invalid_frame"),
        (["[1, 2]"], "invalid_frame"),
        ([bytes(3201)], "invalid_frame"),
        (['{"config": {"sample_rate": 100}}'], "invalid_config"),
        (['{"config": {"max_alternatives": -1}}'], "invalid_config"),
        (['{"config": {"language": "en"}}'], "unsupported_language"),
        ([bytes(3200), '{"config": {"sample_rate": 8000}}'], "config_after_audio"),
    ],
    ids=["text", "unknown-command", "not-an-object", "odd-bytes", "rate", "alternatives", "language", "late-config"],
)
def test_a_bad_frame_is_refused_with_1003(vosk_gateway: Gateway, sent: list[str | bytes], code: str) -> None:
    with connect(ws_url(vosk_gateway)) as ws:
        for frame in sent[:-1]:
            assert "partial" in send_and_read(ws, frame)
        ws.send(sent[-1])
        expect_error(ws, code, 1003)


def test_an_utterance_past_max_audio_duration_is_refused_with_1009(tight_gateway: Gateway) -> None:
    """Twice the Korean sentence, without a pause: past the 3 s limit before it ends."""
    sent = 0.0
    with connect(ws_url(tight_gateway)) as ws:
        for frame in frames(korean_pcm(repeats=2), 16000):
            ws.send(frame)
            sent += len(frame) / 32000
            reply = json.loads(ws.recv(timeout=60))
            if "error" in reply:
                break
        assert reply["error"]["code"] == "audio_too_long", reply
        assert 3 < sent < 4
        assert closed_with(ws)[0] == 1009


def test_a_frame_over_the_limit_is_refused_with_1009(tight_gateway: Gateway) -> None:
    with connect(ws_url(tight_gateway)) as ws:
        assert "partial" in send_and_read(ws, bytes(TIGHT_FRAME_BYTES))
        ws.send(bytes(TIGHT_FRAME_BYTES + 2))
        expect_error(ws, "frame_too_large", 1009)


def test_an_idle_session_is_closed(tight_gateway: Gateway, tight_realtime_server: Server) -> None:
    with connect(ws_url(tight_gateway)) as ws:
        assert "partial" in send_and_read(ws, bytes(3200))
        expect_error(ws, "idle_timeout", 1008)  # REALTIME_IDLE_TIMEOUT=2: nothing more is sent
    wait_until_idle(tight_realtime_server)


def test_sessions_beyond_the_limit_are_refused_with_1013(vosk_gateway: Gateway, realtime_vosk_server: Server) -> None:
    wait_until_idle(realtime_vosk_server)
    url = ws_url(vosk_gateway)
    with connect(url) as first, connect(url) as second:  # REALTIME_MAX_SESSIONS=2
        for ws in (first, second):
            assert "partial" in send_and_read(ws, bytes(3200))
        assert active_sessions(realtime_vosk_server) == 2
        with connect(url) as third:
            expect_error(third, "too_many_sessions", 1013)
        assert "partial" in send_and_read(first, bytes(3200))  # the sessions admitted go on
    wait_until_idle(realtime_vosk_server)
    assert recognize(url, bytes(3200), 16000)[-1] == {"text": ""}


@pytest.mark.parametrize("mid_frame", [False, True], ids=["between-frames", "during-a-frame"])
def test_a_client_that_vanishes_frees_its_place(
    vosk_gateway: Gateway, realtime_vosk_server: Server, mid_frame: bool
) -> None:
    wait_until_idle(realtime_vosk_server)
    pcm = korean_pcm()
    with connect(ws_url(vosk_gateway)) as ws:
        chunks = frames(pcm, 16000)
        for _ in range(5):
            send_and_read(ws, next(chunks))
        assert active_sessions(realtime_vosk_server) == 1
        if mid_frame:
            ws.send(next(chunks))  # its reply is never read
        # Gone without a close frame: the connection just ends, as when a network or a process dies.
        ws.socket.shutdown(socket.SHUT_RDWR)
        ws.socket.close()
        wait_until_idle(realtime_vosk_server)
    assert text_of(recognize(ws_url(vosk_gateway), pcm, 16000))


def test_a_session_is_logged_when_it_ends_with_the_gateways_request_id(
    vosk_gateway: Gateway, realtime_vosk_server: Server
) -> None:
    # The query is not logged: the other services leave it out of their lines too.
    with connect(ws_url(vosk_gateway) + "?note=private", additional_headers={"X-Request-ID": "live-4711"}) as ws:
        send_and_read(ws, bytes(3200))
        send_and_read(ws, EOF_MESSAGE)
        assert closed_with(ws) == (1000, "Normal Closure")
    deadline = time.monotonic() + 10
    while "id=live-4711" not in realtime_vosk_server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    [line] = [line for line in realtime_vosk_server.log().splitlines() if "id=live-4711" in line]
    assert '"GET /api/stt/ws HTTP/1.1" 101 ' in line, line
    assert line.endswith(" close=1000"), line
    assert "private" not in realtime_vosk_server.log()


def test_api_keys_guard_the_websocket_too(keyed_realtime_server: Server) -> None:
    with connect(ws_url(keyed_realtime_server)) as ws:
        expect_error(ws, "invalid_api_key", 1008)
    with connect(ws_url(keyed_realtime_server), additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        assert "partial" in send_and_read(ws, bytes(3200))


def test_a_browser_may_offer_its_key_as_a_subprotocol(keyed_realtime_server: Server) -> None:
    """Browsers cannot send a header with a WebSocket's handshake: the key comes as the
    subprotocol "bearer.<base64url of the key>", and is accepted back as the protocol requires."""
    offered = "bearer." + base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("=")
    with connect(ws_url(keyed_realtime_server), subprotocols=[offered]) as ws:
        assert ws.subprotocol == offered
        assert "partial" in send_and_read(ws, bytes(3200))
    wrong = "bearer." + base64.urlsafe_b64encode(b"another-key").decode().rstrip("=")
    for offered_protocol in (wrong, "bearer.not*base64", "bearer."):
        with connect(ws_url(keyed_realtime_server), subprotocols=[offered_protocol]) as ws:
            expect_error(ws, "invalid_api_key", 1008)


def test_without_a_model_sessions_are_closed_with_the_reason(tmp_path: Path) -> None:
    """No model is exported: /healthz says so, and a session is told why before it closes."""
    port = free_port()
    environment = {**os.environ, "MODELS_DIR": str(tmp_path), "REALTIME_HOST": "127.0.0.1", "REALTIME_PORT": str(port)}
    command = [sys.executable, "-m", "gunicorn", "-c", "services/realtime/gunicorn.conf.py", REALTIME_APP]
    with (tmp_path / "realtime.log").open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, tmp_path / "realtime.log")
    try:
        wait_for_port(port, process)
        health = requests.get(f"{server.url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["service"] == "realtime"
        with connect(ws_url(server)) as ws:
            reason = expect_error(ws, "no_model", 1011)
        assert "make export" in reason
    finally:
        server.stop()


def test_a_plain_request_is_told_to_upgrade(vosk_gateway: Gateway) -> None:
    response = requests.get(f"{vosk_gateway.url}/api/stt/ws", timeout=10)
    assert response.status_code == 426
    assert response.json()["error"]["code"] == "upgrade_required"


def test_a_gateway_without_the_service_answers_json(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    gateway = start_gateway(tmp_path, nowhere, nowhere, nowhere, realtime_url=nowhere)
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(gateway))
        assert refused.value.response.status_code == 502
        assert json.loads(refused.value.response.body)["error"]["code"] == "bad_gateway"
    finally:
        gateway.stop()


def test_the_gateways_health_reports_the_realtime_service(orchestrator: Server) -> None:
    health = requests.get(f"{orchestrator.url}/healthz/all", timeout=10)
    assert health.status_code == 200, health.text
    realtime = health.json()["services"]["realtime"]
    assert realtime["status"] == "ok" and realtime["service"] == "realtime"
    assert realtime["engine"] == "whisper" and realtime["max_sessions"] >= 1


# Whisper: utterances end at pauses and are decoded beside the stream, so their results come
# with the replies to later frames; partials are drafts of the open utterance.


def speech(gateway: Endpoint, text: str, sample_rate: int = 16000) -> bytes:
    response = requests.post(f"{gateway.url}/api/tts", json={"text": text, "sample_rate": sample_rate}, timeout=60)
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("sample_rate", [16000, 22050])
def test_whisper_hears_a_sentence(gateway: Endpoint, sample_rate: int) -> None:
    pcm = speech(gateway, SENTENCE, sample_rate)
    config = {"sample_rate": float(sample_rate)} if sample_rate != 16000 else None
    replies = recognize(ws_url(gateway), pcm, sample_rate, config)
    # At most two of its twelve words missed: the voice samples noise, so its speech differs from
    # run to run, and Whisper tiny.en has heard "is" as "as" and "a" as "the" in one of them. A
    # frame lost or doubled on the way costs more words than that.
    assert jiwer.wer(words(SENTENCE), words(text_of(replies))) <= 0.2, replies
    items = [item for reply in results(replies) for item in reply.get("result", [])]
    assert all(0 <= item["conf"] <= 1 and item["start"] <= item["end"] for item in items)


def test_whisper_results_of_several_sentences_all_arrive(gateway: Endpoint) -> None:
    text = "The museum opens early in the morning. The garden is open in the summer."
    replies = recognize(ws_url(gateway), speech(gateway, text), 16000)
    assert jiwer.wer(words(text), words(text_of(replies))) <= 0.1, replies


def test_whisper_partials_grow_at_speaking_pace(gateway: Endpoint) -> None:
    """Paced as speech arrives from a microphone: drafts of the open utterance come before its
    result, and grow."""
    pcm = speech(gateway, "Visitors can buy their tickets at the door or online before they arrive.")
    replies = []
    with connect(ws_url(gateway)) as ws:
        started = time.monotonic()
        for index, frame in enumerate(frames(pcm, 16000)):
            time.sleep(max(0.0, started + index * FRAME_SECONDS - time.monotonic()))
            replies.append(send_and_read(ws, frame))
        replies.append(send_and_read(ws, EOF_MESSAGE))
    first_result = next(index for index, reply in enumerate(replies) if "partial" not in reply)
    partials = [reply["partial"] for reply in replies[:first_result] if reply["partial"]]
    assert partials, replies
    assert len(partials[-1].split()) > len(partials[0].split()), partials


def test_whisper_sends_an_utterance_with_a_later_frame(gateway: Endpoint) -> None:
    """The pause after a sentence ends its utterance, decoded beside the stream: its result is
    the reply to one of the frames that follow, before any eof."""
    pcm = speech(gateway, SENTENCE)
    silence = bytes(2 * round(16000 * FRAME_SECONDS))
    with connect(ws_url(gateway)) as ws:
        replies = [send_and_read(ws, frame) for frame in frames(pcm, 16000)]
        for _ in range(100):  # at most 20 s of silence, at speaking pace, until the result comes
            if results(replies):
                break
            time.sleep(FRAME_SECONDS)
            replies.append(send_and_read(ws, silence))
        assert jiwer.wer(words(SENTENCE), words(text_of(replies))) <= 0.1, replies
        assert send_and_read(ws, EOF_MESSAGE) == {"text": ""}
        assert closed_with(ws)[0] == 1000
