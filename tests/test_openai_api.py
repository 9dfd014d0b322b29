"""OpenAI's API through the gateway, with OpenAI's own Python SDK as the client.

Real servers (nginx, TTS, ASR with Whisper tiny.en, orchestrator) on loopback. Speech made by
`/v1/audio/speech` is judged by Whisper, and speech sent to `/v1/audio/transcriptions` is made
by the TTS service: each test is a round trip through both.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import time

import jiwer
import numpy as np
import openai
import pytest
import requests
import srt
import webvtt

from bench.harness import Gateway
from tests.conftest import VOICE_ID, WHISPER_DIR, pcm_to_float, transcribe
from tests.media import RECORDINGS, decode_file, encode_file, opus_input_rate, to_16k
from tests.test_asr_service import read_response
from tests.test_intelligibility import SENTENCES, words
from tests.test_tts_service import PARAGRAPH

OPENAI_RATE = 24000
TEXT = " ".join(SENTENCES[:4])
CONTAINERS = {"mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac", "wav": "wav"}
MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> openai.OpenAI:
    # Any key is accepted while API_KEYS is unset; no retries, so an error is seen as it is.
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-anything", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def sentence_speech(gateway: Gateway) -> np.ndarray:
    """SENTENCES[1] said by the joe voice, float at 24 kHz."""
    response = requests.post(
        f"{gateway.url}/api/tts", json={"text": SENTENCES[1], "sample_rate": OPENAI_RATE}, timeout=60
    )
    assert response.status_code == 200
    return pcm_to_float(response.content)


def speech_audio(response_format: str, data: bytes) -> tuple[np.ndarray, int]:
    """The audio of a /v1/audio/speech answer, decoded as a player would, and its rate."""
    if response_format == "pcm":
        return pcm_to_float(data), OPENAI_RATE
    decoded = decode_file(data)
    assert decoded.container == CONTAINERS[response_format]
    return decoded.audio, decoded.rate


# --- speech -----------------------------------------------------------------------------------


@pytest.mark.parametrize("response_format", list(MEDIA_TYPES))
def test_every_format_is_24khz_speech_that_whisper_understands(
    client: openai.OpenAI, whisper, response_format: str
) -> None:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=response_format)
    assert response.response.headers["content-type"].startswith(MEDIA_TYPES[response_format])
    audio, rate = speech_audio(response_format, response.content)
    # An Opus decoder always gives 48 kHz; the stream's header keeps the rate it was made at.
    made_at = opus_input_rate(response.content) if response_format == "opus" else rate
    assert made_at == OPENAI_RATE
    assert 8 < len(audio) / rate < 20  # four sentences of speech
    assert jiwer.wer(words(TEXT), words(transcribe(whisper, to_16k(audio, rate)))) <= 0.10


def test_pcm_is_raw_samples_without_a_header(client: openai.OpenAI) -> None:
    data = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", response_format="pcm").content
    assert not data.startswith(b"RIFF") and len(data) % 2 == 0
    assert 0.3 < len(data) / 2 / OPENAI_RATE < 2


def test_a_paragraph_streams_its_first_mp3_bytes_long_before_the_end(client: openai.OpenAI) -> None:
    started = time.perf_counter()
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=PARAGRAPH, response_format="mp3"
    ) as response:
        arrivals, data = [], b""
        for chunk in response.iter_bytes():
            arrivals.append(time.perf_counter() - started)
            data += chunk
    assert len(arrivals) > 10
    assert arrivals[0] < 0.4 * arrivals[-1], (arrivals[0], arrivals[-1])
    assert len(decode_file(data).audio) / OPENAI_RATE > 10  # six sentences of speech


def test_consecutive_mp3_answers_concatenate_into_one_playable_file(client: openai.OpenAI, whisper) -> None:
    first, second = SENTENCES[2], SENTENCES[3]
    parts = [client.audio.speech.create(model="tts-1", voice="echo", input=text).content for text in (first, second)]
    # No ID3 tag and no Xing/Info header: nothing in a part claims the file ends with it.
    assert all(not part.startswith(b"ID3") and b"Xing" not in part and b"Info" not in part[:200] for part in parts)
    # The joined file plays as the two answers one after the other, sample for sample.
    joined = decode_file(b"".join(parts)).audio
    one_after_the_other = np.concatenate([decode_file(part).audio for part in parts])
    assert len(joined) == len(one_after_the_other)
    assert np.max(np.abs(joined - one_after_the_other)) < 1e-3
    heard = transcribe(whisper, to_16k(joined, OPENAI_RATE))
    assert jiwer.wer(words(f"{first} {second}"), words(heard)) <= 0.2


def test_server_sent_events_carry_the_audio_then_the_usage(client: openai.OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="coral", input=SENTENCES[0], stream_format="sse", instructions="Speak calmly."
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")]
    *deltas, done = events
    assert deltas and all(event["type"] == "speech.audio.delta" for event in deltas)
    assert done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert usage["input_tokens"] == len(SENTENCES[0])
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > len(SENTENCES[0])
    audio = decode_file(b"".join(base64.b64decode(event["audio"]) for event in deltas))
    assert 1.5 < len(audio.audio) / audio.rate < 6


@pytest.mark.parametrize("voice", ["alloy", "Shimmer", "marin", {"id": VOICE_ID}, VOICE_ID])
def test_openai_voice_names_and_served_voices_are_spoken_by_served_voices(
    client: openai.OpenAI, voice: str | dict
) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="tts-1-hd", voice=voice, input="Hello.", response_format="wav"
    ) as response:
        assert response.headers["x-voice"] == VOICE_ID
        assert response.read().startswith(b"RIFF")


@pytest.mark.parametrize("speed", [0.25, 4.0])
def test_speed_covers_openais_range(client: openai.OpenAI, speed: float) -> None:
    def seconds(speed: float) -> float:
        data = client.audio.speech.create(
            model="tts-1", voice="alloy", input=SENTENCES[0], response_format="pcm", speed=speed
        ).content
        return len(data) / 2 / OPENAI_RATE

    ratio = seconds(1.0) / seconds(speed)
    assert 0.6 * speed < ratio < 1.6 * speed


def test_the_lists_open_webui_and_the_sdk_read(client: openai.OpenAI, gateway: Gateway) -> None:
    model_ids = [model.id for model in client.models.list()]
    assert VOICE_ID in model_ids and WHISPER_DIR in model_ids
    assert client.models.retrieve(WHISPER_DIR).object == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
    voices = requests.get(f"{gateway.url}/v1/audio/voices", timeout=10).json()["voices"]
    voice_ids = [voice["id"] for voice in voices]
    assert VOICE_ID in voice_ids and {"alloy", "nova", "cedar"} <= set(voice_ids)
    assert all(voice["name"] for voice in voices)
    models = requests.get(f"{gateway.url}/v1/audio/models", timeout=10).json()["models"]
    assert {"tts-1", "tts-1-hd", VOICE_ID} <= {model["id"] for model in models}


# --- transcription ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RECORDINGS))
def test_every_recording_container_is_transcribed(
    client: openai.OpenAI, sentence_speech: np.ndarray, kind: str
) -> None:
    data = encode_file(sentence_speech, OPENAI_RATE, kind)
    # The file name says nothing: the container is recognized from the bytes.
    result = client.audio.transcriptions.create(model="whisper-1", file=("upload", data))
    assert jiwer.wer(words(SENTENCES[1]), words(result.text)) <= 0.10, result.text
    assert result.usage.seconds == np.ceil(len(sentence_speech) / OPENAI_RATE)


def test_verbose_json_has_openais_shape_with_segments_and_words(
    client: openai.OpenAI, sentence_speech: np.ndarray
) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1",
        file=("memo.m4a", encode_file(sentence_speech, OPENAI_RATE, "m4a")),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        language="en",
    )
    assert result.language == "english"
    seconds = len(sentence_speech) / OPENAI_RATE
    assert abs(result.duration - seconds) < 0.1
    assert jiwer.wer(words(SENTENCES[1]), words(result.text)) <= 0.10
    assert result.segments and all(isinstance(token, int) for token in result.segments[0].tokens)
    segment = result.segments[0]
    assert [segment.id for segment in result.segments] == list(range(len(result.segments)))
    assert 0 <= segment.start < segment.end <= seconds + 0.1 and segment.avg_logprob < 0
    assert 0 <= segment.no_speech_prob <= 1 and segment.compression_ratio > 0
    assert words(" ".join(word.word for word in result.words)) == words(result.text)
    starts = [word.start for word in result.words]
    assert starts == sorted(starts) and all(0 <= w.start <= w.end <= seconds + 0.1 for w in result.words)


def test_words_alone_leave_the_segments_out(client: openai.OpenAI, sentence_speech: np.ndarray) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1",
        file=("a.wav", encode_file(sentence_speech, OPENAI_RATE, "wav")),
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    assert result.words and result.segments is None


def test_text_srt_and_vtt_are_read_by_their_own_readers(client: openai.OpenAI, sentence_speech: np.ndarray) -> None:
    data = encode_file(sentence_speech, OPENAI_RATE, "ogg")
    seconds = len(sentence_speech) / OPENAI_RATE
    text = client.audio.transcriptions.create(model="whisper-1", file=("a.ogg", data), response_format="text")
    assert jiwer.wer(words(SENTENCES[1]), words(text)) <= 0.10
    subtitles = list(srt.parse(client.audio.transcriptions.create(model="whisper-1", file=data, response_format="srt")))
    assert subtitles and words(" ".join(s.content for s in subtitles)) == words(text)
    assert subtitles[-1].end.total_seconds() <= seconds + 0.1
    captions = webvtt.from_buffer(
        io.StringIO(client.audio.transcriptions.create(model="whisper-1", file=data, response_format="vtt"))
    )
    assert captions and words(" ".join(c.text for c in captions)) == words(text)
    assert captions[-1].end_in_seconds <= seconds + 0.1


def test_streamed_transcription_sends_deltas_then_done(client: openai.OpenAI, sentence_speech: np.ndarray) -> None:
    stream = client.audio.transcriptions.create(
        model="whisper-1", file=("a.webm", encode_file(sentence_speech, OPENAI_RATE, "webm")), stream=True
    )
    events = list(stream)
    *deltas, done = events
    assert deltas and all(event.type == "transcript.text.delta" for event in deltas)
    assert done.type == "transcript.text.done"
    assert "".join(event.delta for event in deltas) == done.text
    assert jiwer.wer(words(SENTENCES[1]), words(done.text)) <= 0.10
    assert done.usage.output_tokens > 0 and done.usage.input_tokens == np.ceil(len(sentence_speech) / OPENAI_RATE * 50)


# --- bad input --------------------------------------------------------------------------------


def assert_openai_error(error: openai.APIStatusError, status: int, code: str, param: str | None = None) -> None:
    assert error.status_code == status, error
    assert error.response.headers["content-type"].startswith("application/json")
    assert set(error.body) == {"message", "type", "param", "code"} and error.body["message"]
    assert (error.code, error.type) == (code, "invalid_request_error")
    if param:
        assert error.param == param
    assert error.response.headers.get("x-should-retry") == "false"


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({"input": ""}, "empty_input", "input"),
        ({"input": "   "}, "empty_input", "input"),
        ({"input": "a" * 4097}, "text_too_long", "input"),
        ({"voice": "nobody"}, "unknown_voice", "voice"),
        ({"response_format": "ogg"}, "invalid_response_format", "response_format"),
        ({"stream_format": "chunks"}, "invalid_stream_format", "stream_format"),
        ({"speed": 5.0}, "invalid_speed", "speed"),
        ({"speed": 0.1}, "invalid_speed", "speed"),
    ],
)
def test_bad_speech_requests_raise_the_sdks_bad_request_error(
    client: openai.OpenAI, fields: dict, code: str, param: str
) -> None:
    request = {"model": "tts-1", "voice": "alloy", "input": "Hello.", **fields}
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(**request)
    assert_openai_error(raised.value, 400, code, param)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"voice": "alloy"}, "missing_input"),
        ({"input": 42, "voice": "alloy"}, "invalid_input"),
        ({"input": "Hi.", "voice": 7}, "invalid_voice"),
        ({"input": "Hi.", "voice": {"name": "alloy"}}, "invalid_voice"),
        ({"input": "Hi.", "speed": "fast"}, "invalid_speed"),
        ({"input": "Hi.", "speed": True}, "invalid_speed"),
        ({"input": "Hi.", "response_format": ["mp3"]}, "invalid_response_format"),
        ({"input": "Hi.", "model": 1}, "invalid_model"),
        ({"input": "Hi.", "instructions": {"tone": "calm"}}, "invalid_instructions"),
        (["Hi."], "invalid_body"),
        ("not json", "malformed_json"),
        ("{}", "missing_input"),
    ],
)
def test_speech_fields_of_the_wrong_type_are_a_400(gateway: Gateway, body, code: str) -> None:
    data = body if isinstance(body, str) else json.dumps(body)
    response = requests.post(
        f"{gateway.url}/v1/audio/speech", data=data, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 400, response.text[:200]
    assert response.json()["error"]["code"] == code and response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_fields_are_ignored(gateway: Gateway) -> None:
    body = {"model": "tts-1", "input": "Hi.", "voice": "alloy", "response_format": "wav", "user": "u1", "seed": 3}
    response = requests.post(f"{gateway.url}/v1/audio/speech", json=body, timeout=30)
    assert response.status_code == 200 and response.content.startswith(b"RIFF")


def test_bad_uploads_raise_the_sdks_4xx_errors(client: openai.OpenAI, sentence_speech: np.ndarray) -> None:
    mp3 = encode_file(sentence_speech, OPENAI_RATE, "mp3")
    long_speech = np.tile(sentence_speech, 9)  # well over MAX_AUDIO_DURATION (15 s), however long the sentence
    cases = [
        (b"this is a text file, not audio" * 20, {}, "invalid_audio", "file"),
        (b"", {}, "invalid_audio", "file"),
        (mp3[: len(mp3) // 2 + 5], {}, "invalid_audio", "file"),  # a truncated mp3
        (b"fLaC" + bytes(3000), {}, "invalid_audio", "file"),  # a FLAC signature and no stream
        (encode_file(long_speech, OPENAI_RATE, "mp3", bit_rate=32_000), {}, "audio_too_long", "file"),
        (mp3, {"response_format": "docx"}, "invalid_response_format", "response_format"),
        (mp3, {"temperature": 2.5}, "invalid_temperature", "temperature"),
        (mp3, {"language": "xx"}, "unsupported_language", "language"),
        (mp3, {"timestamp_granularities": ["letter"]}, "invalid_timestamp_granularities", None),
    ]
    for data, fields, code, param in cases:
        with pytest.raises(openai.BadRequestError) as raised:
            client.audio.transcriptions.create(model="whisper-1", file=("a.mp3", data), **fields)
        assert_openai_error(raised.value, 400, code, param)


def test_a_form_without_a_file_or_not_a_form_is_a_400(gateway: Gateway) -> None:
    url = f"{gateway.url}/v1/audio/transcriptions"
    no_file = requests.post(url, files={"model": (None, "whisper-1")}, timeout=30)
    assert no_file.status_code == 400 and no_file.json()["error"]["code"] == "missing_file"
    not_a_form = requests.post(url, json={"file": "x"}, timeout=30)
    assert not_a_form.status_code == 400 and not_a_form.json()["error"]["code"] == "unsupported_media_type"
    broken = requests.post(
        url, data=b"--b\r\nContent-Disposition: form-data", headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_multipart"


def test_an_upload_over_the_gateways_bound_is_a_413_in_openais_shape(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n\r\n"
        )
        head, _, body = read_response(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"x-should-retry: false" in head.lower()
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks translations so
def test_translation_needs_a_multilingual_model(client: openai.OpenAI, sentence_speech: np.ndarray) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.translations.create(model="whisper-1", file=("a.wav", encode_file(sentence_speech, 24000, "wav")))
    assert_openai_error(raised.value, 400, "translation_unavailable", "model")
    assert "multilingual" in raised.value.body["message"]


def test_unknown_paths_under_v1_are_openai_errors(gateway: Gateway) -> None:
    for path in ("/v1/chat/completions", "/v1/audio/nothing"):
        response = requests.post(f"{gateway.url}{path}", json={}, timeout=10)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "invalid_request_error"
    native = requests.get(f"{gateway.url}/api/nothing", timeout=10).json()["error"]
    assert set(native) == {"code", "message"}
