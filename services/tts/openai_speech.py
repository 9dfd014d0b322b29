"""OpenAI's speech API over the speech engine: `POST /v1/audio/speech`, and the voice and model
lists Open WebUI reads (`GET /v1/audio/voices`, `GET /v1/audio/models`).

Clients written for OpenAI (its SDK, Open WebUI, LibreChat, Home Assistant's OpenAI
integrations) work unchanged. This module only parses OpenAI's request and frames the answer
in OpenAI's shape: voices, text handling, admission, streaming and encoding are the engine
layer's, shared with the native API. Errors come out in OpenAI's shape (services.common.errors).
"""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import falcon

from services.common.client_socket import ClientConnection
from services.common.config import ConfigError
from services.common.errors import api_error
from services.common.server_timing import server_timing
from services.tts.request import SpeechRequest, read_json_object, speed_field, text_field
from services.tts.settings import TtsSettings
from services.tts.speech import Speech
from services.tts.stream import SpeechStream

_LOG = logging.getLogger(__name__)

SAMPLE_RATE = 24000  # OpenAI's audio is 24 kHz mono in every format
MAX_INPUT_CHARS = 4096
RESPONSE_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
STREAM_FORMATS = ("audio", "sse")
OPENAI_VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar"
)  # fmt: skip
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
# Raw PCM has no header to say what it is; the parameters do, for clients that read them.
_PCM_MEDIA_TYPE = f"audio/pcm;rate={SAMPLE_RATE};channels=1"
# "Tokens" in `usage`: this service has no tokenizer, so it counts what it can: the characters
# of the input, and the audio made in 20 ms frames (the unit Whisper reads audio in).
AUDIO_FRAMES_PER_SECOND = 50


class VoiceNames:
    """Which served voice speaks for each of OpenAI's voice names.

    TTS_OPENAI_VOICES names some (`alloy=en_US-joe-medium,...`); the rest, and any named voice
    that is not loaded, are the default voice.
    """

    def __init__(self, speech: Speech, chosen: Mapping[str, str]) -> None:
        unknown = sorted(set(chosen) - set(OPENAI_VOICES))
        if unknown:
            raise ConfigError(f"TTS_OPENAI_VOICES: {', '.join(unknown)} are not OpenAI voice names")
        for name, voice_id in chosen.items():
            if voice_id not in speech.voices:
                _LOG.error(
                    "TTS_OPENAI_VOICES: %s=%s is not a loaded voice; %s is the default voice", name, voice_id, name
                )
        self._speech = speech
        # The voices are loaded once, at start-up, so the table is settled then too.
        self._table = {
            name: chosen[name] if chosen.get(name) in speech.voices else speech.default_voice for name in OPENAI_VOICES
        }

    def table(self) -> dict[str, str]:
        return dict(self._table)

    def resolve(self, voice: str | None, model: str | None) -> str | None:
        """A served voice id for the request's `voice` (and `model`, which may name a voice)."""
        if voice is None or voice in self._speech.voices:
            return voice or (model if model in self._speech.voices else None)
        if voice.lower() in OPENAI_VOICES:
            return model if model in self._speech.voices else self._table[voice.lower()]
        return voice  # not a voice: the engine layer answers with the voices it has


@dataclass(frozen=True)
class OpenAISpeechRequest:
    speech: SpeechRequest
    response_format: str
    stream_format: str


def _optional_string(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise api_error(falcon.HTTP_400, f"invalid_{name}", f"'{name}' must be a string", param=name)
    return value


def _choice(fields: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name, default)
    if value not in allowed:
        message = f"'{name}' must be one of {', '.join(allowed)}; got {json.dumps(value)[:40]}"
        raise api_error(falcon.HTTP_400, f"invalid_{name}", message, param=name)
    return value


def _voice_field(value: Any) -> str | None:
    """OpenAI's `voice`: a name, or `{"id": ...}` for a custom voice."""
    if value is None:
        return None
    voice = value.get("id") if isinstance(value, Mapping) else value
    if not isinstance(voice, str) or not voice:
        message = '\'voice\' must be a voice name or {"id": "<voice>"} (see GET /v1/audio/voices)'
        raise api_error(falcon.HTTP_400, "invalid_voice", message, param="voice")
    return voice


def parse_request(fields: Mapping[str, Any], max_chars: int, voices: VoiceNames) -> OpenAISpeechRequest:
    """OpenAI's request fields, validated. `instructions` is read and ignored: these voices
    cannot be steered by a prompt. Fields this service does not know are ignored too, as
    OpenAI's clients send extras."""
    model = _optional_string(fields, "model")
    _optional_string(fields, "instructions")
    voice = voices.resolve(_voice_field(fields.get("voice")), model)
    speech = SpeechRequest(
        text=text_field(fields.get("input"), max_chars, name="input"),
        voice=voice,
        speed=speed_field(fields.get("speed")),
        sample_rate=SAMPLE_RATE,
    )
    return OpenAISpeechRequest(
        speech,
        _choice(fields, "response_format", RESPONSE_FORMATS, "mp3"),
        _choice(fields, "stream_format", STREAM_FORMATS, "audio"),
    )


class SpeechEvents:
    """The stream as OpenAI's server-sent events: `speech.audio.delta` with each encoded chunk
    as it is made, then `speech.audio.done` with the usage."""

    def __init__(self, stream: SpeechStream, input_chars: int) -> None:
        self._stream = stream
        self._input_chars = input_chars

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            yield _event({"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode("ascii")})
        frames = math.ceil(self._stream.samples * AUDIO_FRAMES_PER_SECOND / self._stream.sample_rate)
        usage = {"input_tokens": self._input_chars, "output_tokens": frames, "total_tokens": self._input_chars + frames}
        yield _event({"type": "speech.audio.done", "usage": usage})

    def close(self) -> None:
        self._stream.close()


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


class SpeechResource:
    """`POST /v1/audio/speech`."""

    def __init__(self, speech: Speech, voices: VoiceNames, max_chars: int) -> None:
        self._speech = speech
        self._voices = voices
        self._max_chars = max_chars

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = parse_request(read_json_object(req, self._max_chars), self._max_chars, self._voices)
        stream = self._speech.stream(request.speech, request.response_format, connection=ClientConnection(req.env))
        resp.status = falcon.HTTP_200
        if request.stream_format == "sse":
            resp.content_type = "text/event-stream"
            resp.stream = SpeechEvents(stream, len(request.speech.text))
        else:
            resp.content_type = _PCM_MEDIA_TYPE if request.response_format == "pcm" else stream.media_type
            resp.stream = stream
        resp.set_header("X-Voice", stream.voice_id)
        resp.set_header("Server-Timing", server_timing(stream.prepared_ms))
        resp.set_header("X-Accel-Buffering", "no")  # each chunk leaves at once, through any proxy
        resp.set_header("Cache-Control", "no-store")


class VoiceListResource:
    """`GET /v1/audio/voices`: the served voices, then OpenAI's names and who speaks for them."""

    def __init__(self, speech: Speech, voices: VoiceNames) -> None:
        self._speech = speech
        self._voices = voices

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        served = [{"id": voice_id, "name": voice_id} for voice_id in self._speech.voices]
        named = [{"id": name, "name": f"{name} ({voice_id})"} for name, voice_id in self._voices.table().items()]
        resp.media = {"voices": served + named}


class ModelListResource:
    """`GET /v1/audio/models`: the model names `/v1/audio/speech` takes."""

    def __init__(self, speech: Speech) -> None:
        self._speech = speech

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"models": [{"id": model} for model in (*OPENAI_MODELS, *self._speech.voices)]}


def add_routes(app: falcon.App, speech: Speech, settings: TtsSettings) -> None:
    voices = VoiceNames(speech, settings.openai_voices)
    app.add_route("/v1/audio/speech", SpeechResource(speech, voices, min(MAX_INPUT_CHARS, settings.max_text_chars)))
    app.add_route("/v1/audio/voices", VoiceListResource(speech, voices))
    app.add_route("/v1/audio/models", ModelListResource(speech))
