"""ASR service: Falcon WSGI app turning uploaded speech into text with word timestamps."""

from __future__ import annotations

import logging
import time

import falcon

from services.asr.audio_input import AudioInputError
from services.asr.engines.base import Engine
from services.asr.models import EngineChoice, choose_engine
from services.asr.request import check_format, parse_params
from services.asr.settings import AsrSettings
from services.asr.upload import WAV_MEDIA_TYPES, AudioTooLong, AudioUpload, UploadLimits
from services.common.admission import AdmissionGate
from services.common.client_socket import set_body_read_timeout
from services.common.errors import api_error, install_json_errors
from services.common.logs import configure_logging

_LOG = logging.getLogger(__name__)


def _language_for(engine: Engine, requested: str) -> str:
    """The model's code for the requested language ("en-US" -> "en"), or 422."""
    primary = requested.split("-")[0].split("_")[0]
    if engine.languages is None or primary in engine.languages:
        return primary
    supported = ", ".join(sorted(engine.languages))
    raise api_error(
        falcon.HTTP_422,
        "unsupported_language",
        f"lang={requested!r} is not supported by this model; supported: {supported}",
    )


class SpeechToText:
    """`POST /api/stt/bytes?sr=&ch=&fmt=&lang=` with raw PCM, or a WAV file, as the body."""

    def __init__(self, choice: EngineChoice, settings: AsrSettings) -> None:
        self._choice = choice
        self._limits = UploadLimits(settings.max_audio_seconds, settings.block_bytes)
        self._read_timeout = settings.read_timeout_seconds
        # Uploads only wait for bytes; what a gate bounds is the decoding left at their end.
        self._gate = AdmissionGate(settings.max_decodes, settings.max_queue, settings.queue_seconds)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        engine = self._choice.engine
        if engine is None:
            raise api_error(falcon.HTTP_503, "no_model", "; ".join(self._choice.notes) or "no ASR model is loaded")
        params = parse_params(req)
        language = _language_for(engine, params.language)
        media_type = (req.content_type or "").split(";")[0].strip().lower()
        # Falcon's bounded stream reads nothing when there is no Content-Length; a chunked
        # upload (a live client) is read from the server's own stream, which ends with the body.
        stream = req.bounded_stream if req.content_length is not None else req.stream
        upload = AudioUpload(
            stream, req.content_length, params.format, media_type in WAV_MEDIA_TYPES, self._limits, check_format
        )
        set_body_read_timeout(req.env, self._read_timeout)
        started = time.perf_counter()
        first_audio = None
        session = engine.start(language)
        # An error before the whole body is read still answers at once; gunicorn then reads and
        # drops whatever the client goes on sending, or closes the connection once it idles.
        try:
            for block in upload:
                first_audio = first_audio or time.perf_counter()
                session.accept(block)
        except AudioTooLong as error:
            raise api_error(falcon.HTTP_413, "audio_too_long", str(error)) from None
        except AudioInputError as error:
            raise api_error(falcon.HTTP_400, "invalid_audio", str(error)) from None
        except TimeoutError:
            message = f"no audio arrived for {self._read_timeout:g} s; the upload was dropped"
            raise api_error(falcon.HTTP_408, "upload_stalled", message) from None
        upload_done = time.perf_counter()
        self._gate.enter()
        try:
            transcript = session.finish()
        finally:
            self._gate.leave()
        finished = time.perf_counter()
        duration = upload.decoder.seconds
        _LOG.info(
            "%.2f s of audio: %d words; upload+decode %.3f s, decode after upload %.3f s",
            duration,
            len(transcript.words),
            upload_done - started,
            finished - upload_done,
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
                "first_audio_ms": round(1000 * ((first_audio or upload_done) - started)),
                "upload_ms": round(1000 * (upload_done - started)),
                "after_upload_ms": round(1000 * (finished - upload_done)),
            },
        }


class Models:
    def __init__(self, choice: EngineChoice) -> None:
        self._choice = choice

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        engine = self._choice.engine
        resp.media = {"loaded": engine.describe() if engine else None, "notes": self._choice.notes}


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
    app = falcon.App()
    install_json_errors(app)
    app.add_route("/api/stt/bytes", SpeechToText(choice, settings))
    app.add_route("/api/stt/models", Models(choice))
    app.add_route("/healthz", Health(choice))
    return app
