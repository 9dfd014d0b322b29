"""ASR service: Falcon WSGI app turning uploaded speech into text with word timestamps, on the
native API (`/api/stt/bytes`) and OpenAI's (see `openai_transcription`)."""

from __future__ import annotations

import logging
import time

import falcon

from services.asr import openai_transcription
from services.asr.containers import FILE_MEDIA_TYPES, AudioFile
from services.asr.engines.base import RecognitionOptions
from services.asr.models import EngineChoice, choose_engine
from services.asr.recognize import Recognizer
from services.asr.request import check_format, parse_params
from services.asr.settings import AsrSettings
from services.asr.upload import WAV_MEDIA_TYPES, AudioUpload
from services.common.app import create_service_app
from services.common.client_socket import set_body_read_timeout
from services.common.logs import configure_logging
from services.common.server_timing import server_timing

_LOG = logging.getLogger(__name__)


class SpeechToText:
    """`POST /api/stt/bytes?sr=&ch=&fmt=&lang=` with raw PCM, a WAV file, or an audio file of a
    declared type (mp3, Ogg, WebM, FLAC, M4A...) as the body."""

    def __init__(self, recognizer: Recognizer) -> None:
        self._recognizer = recognizer

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        engine = self._recognizer.engine()
        params = parse_params(req)
        language = self._recognizer.language(engine, params.language, "lang") or "en"
        media_type = (req.content_type or "").split(";")[0].strip().lower()
        # Falcon's bounded stream reads nothing when there is no Content-Length; a chunked
        # upload (a live client) is read from the server's own stream, which ends with the body.
        stream = req.bounded_stream if req.content_length is not None else req.stream
        upload: AudioUpload | AudioFile
        if media_type in FILE_MEDIA_TYPES:  # decoded as it uploads, as on OpenAI's endpoint
            upload = AudioFile(stream.read, self._recognizer.max_upload_bytes, self._recognizer.limits.max_seconds)
        else:
            upload = AudioUpload(
                stream,
                req.content_length,
                params.format,
                media_type in WAV_MEDIA_TYPES,
                self._recognizer.limits,
                check_format,
            )
        set_body_read_timeout(req.env, self._recognizer.read_timeout)
        options = RecognitionOptions(language=language)
        session = engine.start(options)  # known now: utterances may be decoded while the rest arrives
        timing = self._recognizer.feed(session, upload)
        transcript = self._recognizer.transcribe(session, options, timing)
        finished = time.perf_counter()
        duration = upload.seconds
        _LOG.info(
            "%.2f s of audio: %d words; upload+decode %.3f s, decode after upload %.3f s",
            duration,
            len(transcript.words),
            timing.done - timing.started,
            finished - timing.done,
        )
        # The upload (decoded as it arrived), then the decoding left after its end.
        resp.set_header(
            "Server-Timing",
            server_timing({"upload": 1000 * (timing.done - timing.started), "decode": 1000 * (finished - timing.done)}),
        )
        resp.media = {
            "text": transcript.text,
            "segments": [word.as_segment() for word in transcript.words],
            "language": language,
            "duration_seconds": round(duration, 3),
            "engine": engine.name,
            "model": engine.model,
            "timing": {
                # When the first audio reached the engine, when the upload ended, and what was
                # left to decode after it: a streaming engine has decoded most of it by then.
                "first_audio_ms": round(1000 * (timing.first_audio - timing.started)),
                "upload_ms": round(1000 * (timing.done - timing.started)),
                "after_upload_ms": round(1000 * (finished - timing.done)),
            },
        }


class Models:
    def __init__(self, choice: EngineChoice, max_audio_seconds: int) -> None:
        self._choice = choice
        self._max_audio_seconds = max_audio_seconds

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        engine = self._choice.engine
        resp.media = {
            "loaded": engine.describe() if engine else None,
            "notes": self._choice.notes,
            # The longest audio taken: a recorder can stop there instead of being refused after.
            "max_audio_seconds": self._max_audio_seconds,
        }


class Health:
    def __init__(self, choice: EngineChoice) -> None:
        self._choice = choice

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        engine = self._choice.engine
        resp.status = falcon.HTTP_200 if engine else falcon.HTTP_503
        resp.media = {
            "status": "ok" if engine else "unavailable",
            "service": "asr",
            "engine": engine.name if engine else None,
            "model": engine.model if engine else None,
            "notes": self._choice.notes,
        }


def create_app(settings: AsrSettings | None = None) -> falcon.App:
    configure_logging("asr")
    settings = settings or AsrSettings.from_env()
    choice = choose_engine(settings)
    recognizer = Recognizer(choice, settings)
    app = create_service_app()
    app.add_route("/api/stt/bytes", SpeechToText(recognizer))
    app.add_route("/api/stt/models", Models(choice, settings.max_audio_seconds))
    app.add_route("/healthz", Health(choice))
    openai_transcription.add_routes(app, recognizer)
    return app
