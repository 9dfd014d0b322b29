"""OpenAI's transcription API over the recognition layer: `POST /v1/audio/transcriptions` and
`POST /v1/audio/translations` (multipart/form-data).

The form is read as it arrives: text fields are checked as they come (OpenAI's SDK sends them
before the file), and the file is decoded while it uploads, whatever container it is in (see
`containers`). Decoding, limits and admission are the recognition layer's, shared with the
native API; this module parses OpenAI's form and shapes the answer in OpenAI's formats.
Errors come out in OpenAI's shape (services.common.errors).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import falcon
import langcodes
from falcon.errors import MultipartParseError
from falcon.media.multipart import MultipartForm, MultipartFormHandler
from falcon.util import BufferedReader

from services.asr.containers import AudioFile, UploadTooLarge
from services.asr.engines.base import TRANSCRIBE, TRANSLATE, Engine, RecognitionOptions, Segment
from services.asr.recognize import Decoding, Recognizer, UploadTiming
from services.asr.subtitles import to_srt, to_vtt
from services.common.client_socket import set_body_read_timeout
from services.common.errors import api_error

_LOG = logging.getLogger(__name__)

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
GRANULARITIES = ("word", "segment")
# Whisper reads audio in 20 ms frames: the "input tokens" of a streamed transcription's usage.
AUDIO_FRAMES_PER_SECOND = 50
_TEXT_FIELD_BYTES = 64 * 1024


@dataclass
class TranscriptionForm:
    """The form's fields as OpenAI names them, checked as each arrives."""

    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    response_format: str = "json"
    granularities: set[str] = field(default_factory=set)
    stream: bool = False

    def take(self, name: str, value: str) -> None:
        """One text field; fields this service does not use (model, include[]...) are ignored."""
        if name == "language":
            self.language = value or None
        elif name == "prompt":
            self.prompt = value or None
        elif name == "temperature":
            self.temperature = _temperature(value)
        elif name == "response_format":
            self.response_format = _choice(name, value, RESPONSE_FORMATS)
        elif name in ("timestamp_granularities[]", "timestamp_granularities"):
            self.granularities.add(_choice("timestamp_granularities[]", value, GRANULARITIES))
        elif name == "stream":
            self.stream = _choice(name, value.lower(), ("true", "false")) == "true"


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        message = f"'{name}' must be one of {', '.join(allowed)}; got {json.dumps(value)[:40]}"
        raise api_error(falcon.HTTP_400, f"invalid_{name.rstrip('[]')}", message, param=name)
    return value


def _temperature(value: str) -> float:
    try:
        temperature = float(value)
    except ValueError:
        temperature = math.nan
    if not 0.0 <= temperature <= 1.0:
        raise api_error(
            falcon.HTTP_400, "invalid_temperature", "'temperature' must be between 0 and 1", param="temperature"
        )
    return temperature


def language_name(code: str) -> str:
    """OpenAI names the language in full, in lower case: "en" -> "english"."""
    language = langcodes.Language.get(code)
    return language.display_name().lower() if language.is_valid() else code


class _CountedBody:
    """The request body's `read`, refusing to read past the upload bound."""

    def __init__(self, read: Callable[[int], bytes], max_bytes: int) -> None:
        self._read = read
        self._max_bytes = max_bytes
        self._count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._read(size)
        self._count += len(data)
        if self._count > self._max_bytes:
            raise UploadTooLarge(f"the request is over the limit of {self._max_bytes} bytes")
        return data


class TranscriptionResource:
    """`/v1/audio/transcriptions` (task TRANSCRIBE) or `/v1/audio/translations` (TRANSLATE)."""

    def __init__(self, recognizer: Recognizer, task: str) -> None:
        self._recognizer = recognizer
        self._task = task
        self._form_handler = MultipartFormHandler()
        self._form_handler.parse_options.max_body_part_buffer_size = _TEXT_FIELD_BYTES

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        engine = self._recognizer.engine()
        if self._task == TRANSLATE and not engine.translates:
            raise api_error(
                falcon.HTTP_400,
                "translation_unavailable",
                f"the served model ({engine.name} {engine.model}) cannot translate; translation needs a "
                "multilingual Whisper model (ASR_MODEL_SIZE=base, small...)",
                param="model",
            )
        form, audio = self._read_form(req, engine)
        language = None if self._task == TRANSLATE else self._recognizer.language(engine, form.language, "language")
        # Only verbose_json with word granularity shows the words' times; finding them costs
        # Whisper about a fifth more time.
        word_times = form.response_format == "verbose_json" and "word" in form.granularities
        options = RecognitionOptions(language, self._task, form.prompt, form.temperature, word_times)
        if form.stream:
            decoding = self._recognizer.decode(audio.session, options, audio.timing)
            resp.content_type = "text/event-stream"
            resp.set_header("X-Accel-Buffering", "no")
            resp.set_header("Cache-Control", "no-store")
            resp.stream = TranscriptEvents(decoding, audio.seconds)
            return
        transcript = self._recognizer.transcribe(audio.session, options, audio.timing)
        self._respond(resp, form, transcript.language, transcript.segments, audio.seconds)

    def _read_form(self, req: falcon.Request, engine: Engine) -> tuple[TranscriptionForm, _Audio]:
        media_type = (req.content_type or "").split(";")[0].strip().lower()
        if media_type != "multipart/form-data":
            raise api_error(
                falcon.HTTP_415,
                "unsupported_media_type",
                "send the audio as multipart/form-data, in a field named 'file'",
            )
        max_bytes = self._recognizer.max_upload_bytes
        if req.content_length is not None and req.content_length > max_bytes:
            message = f"the request is {req.content_length} bytes; the limit is {max_bytes}"
            raise api_error(falcon.HTTP_413, "body_too_large", message, param="file")
        set_body_read_timeout(req.env, self._recognizer.read_timeout)
        # Falcon's bounded stream reads nothing without a Content-Length; a chunked upload is
        # read from the server's own stream, which ends with the body.
        stream = req.bounded_stream if req.content_length is not None else req.stream
        body = BufferedReader(_CountedBody(stream.read, max_bytes).read, req.content_length or max_bytes + 1)
        form = TranscriptionForm()
        audio: _Audio | None = None
        try:
            parts: MultipartForm = self._form_handler.deserialize(body, req.content_type, req.content_length)
            for part in parts:
                if part.name != "file":
                    form.take(part.name or "", part.get_text() or "")
                elif audio is not None:
                    raise api_error(falcon.HTTP_400, "invalid_file", "send one 'file'", param="file")
                else:
                    audio = _Audio(engine, AudioFile(part.stream.read, max_bytes, self._recognizer.limits.max_seconds))
                    audio.feed(self._recognizer)
        except MultipartParseError as error:
            raise api_error(
                falcon.HTTP_400, "invalid_multipart", f"the form is malformed: {error.description}"
            ) from None
        except UploadTooLarge as error:
            raise api_error(falcon.HTTP_413, "body_too_large", str(error), param="file") from None
        except TimeoutError:
            message = f"no data arrived for {self._recognizer.read_timeout:g} s; the upload was dropped"
            raise api_error(falcon.HTTP_408, "upload_stalled", message) from None
        if audio is None:
            raise api_error(falcon.HTTP_400, "missing_file", "the form has no 'file' with the audio", param="file")
        return form, audio

    def _respond(
        self, resp: falcon.Response, form: TranscriptionForm, language: str, segments: list[Segment], seconds: float
    ) -> None:
        text = " ".join(segment.text.strip() for segment in segments if segment.text.strip())
        usage = {"type": "duration", "seconds": math.ceil(seconds)}
        if form.response_format == "json":
            resp.media = {"text": text, "usage": usage}
        elif form.response_format == "verbose_json":
            resp.media = self._verbose(form, language, segments, text, seconds) | {"usage": usage}
        elif form.response_format == "text":
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = text + "\n"
        elif form.response_format == "srt":
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = to_srt(segments)
        else:
            resp.content_type = "text/vtt; charset=utf-8"
            resp.text = to_vtt(segments)

    def _verbose(
        self, form: TranscriptionForm, language: str, segments: list[Segment], text: str, seconds: float
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "task": self._task,
            "language": language_name(language),
            "duration": round(seconds, 3),
            "text": text,
        }
        if "segment" in form.granularities or not form.granularities:
            body["segments"] = [
                {
                    "id": segment.id,
                    "seek": segment.seek,
                    "start": round(segment.start, 3),
                    "end": round(segment.end, 3),
                    "text": segment.text,
                    "tokens": segment.tokens,
                    "temperature": segment.temperature,
                    "avg_logprob": segment.avg_logprob,
                    "compression_ratio": segment.compression_ratio,
                    "no_speech_prob": segment.no_speech_prob,
                }
                for segment in segments
            ]
        if "word" in form.granularities:
            body["words"] = [
                {"word": word.text, "start": word.start_ms / 1000, "end": word.end_ms / 1000}
                for segment in segments
                for word in segment.words
            ]
        return body


class _Audio:
    """The uploaded file, fed to a new engine session as it is decoded."""

    timing: UploadTiming
    """Known once fed."""

    def __init__(self, engine: Engine, file: AudioFile) -> None:
        self.session = engine.start()
        self._file = file

    def feed(self, recognizer: Recognizer) -> None:
        self.timing = recognizer.feed(self.session, self._file)

    @property
    def seconds(self) -> float:
        return self._file.seconds


class TranscriptEvents:
    """A transcription as OpenAI's server-sent events: `transcript.text.delta` for each segment
    as it is decoded, then `transcript.text.done` with the whole text and the usage."""

    def __init__(self, decoding: Decoding, audio_seconds: float) -> None:
        self._decoding = decoding
        self._audio_frames = math.ceil(audio_seconds * AUDIO_FRAMES_PER_SECOND)

    def __iter__(self) -> Iterator[bytes]:
        texts: list[str] = []
        tokens = 0
        try:
            for segment in self._decoding:
                if not segment.text.strip():
                    continue
                delta = (" " if texts else "") + segment.text.strip()
                texts.append(segment.text.strip())
                tokens += len(segment.tokens)
                yield _event({"type": "transcript.text.delta", "delta": delta})
        except Exception:  # the status is sent already: say so in the stream, as OpenAI does
            _LOG.exception("decoding failed while streaming a transcription")
            error = {"message": "decoding failed", "type": "server_error", "param": None, "code": "internal_error"}
            yield _event({"type": "error", "error": error})
            return
        usage = {
            "type": "tokens",
            "input_tokens": self._audio_frames,
            "output_tokens": tokens,
            "total_tokens": self._audio_frames + tokens,
        }
        yield _event({"type": "transcript.text.done", "text": " ".join(texts), "usage": usage})

    def close(self) -> None:
        self._decoding.close()


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def add_routes(app: falcon.App, recognizer: Recognizer) -> None:
    app.add_route("/v1/audio/transcriptions", TranscriptionResource(recognizer, TRANSCRIBE))
    app.add_route("/v1/audio/translations", TranscriptionResource(recognizer, TRANSLATE))
