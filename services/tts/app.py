"""TTS service: Falcon WSGI app streaming synthesized speech as PCM or WAV (the native API),
and OpenAI's speech API (see `openai_speech`)."""

from __future__ import annotations

import logging

import falcon

from services.common.app import create_service_app
from services.common.audio import PCM_S16LE
from services.common.client_socket import ClientConnection
from services.common.logs import configure_logging
from services.common.memory import cap_malloc_arenas
from services.common.metrics import ECHO_WAITED_HEADER
from services.common.server_timing import server_timing
from services.tts import openai_speech
from services.tts import request as speech_request
from services.tts.request import SpeechRequest
from services.tts.settings import TtsSettings
from services.tts.speech import Speech
from services.tts.voices import Voice, load_voices

_LOG = logging.getLogger(__name__)


class TtsResource:
    """`/api/tts` (PCM) or `/api/tts/wav` (WAV): JSON by POST, query string by GET."""

    def __init__(self, speech: Speech, max_text_chars: int, frame_bytes: int, as_wav: bool) -> None:
        self._speech = speech
        self._max_text_chars = max_text_chars
        self._frame_bytes = frame_bytes
        self._as_wav = as_wav

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._respond(req, resp, speech_request.from_json_body(req, self._max_text_chars))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._respond(req, resp, speech_request.from_query(req, self._max_text_chars))

    def _respond(self, req: falcon.Request, resp: falcon.Response, request: SpeechRequest) -> None:
        stream = self._speech.stream(
            request, "wav" if self._as_wav else "pcm", self._frame_bytes, ClientConnection(req.env)
        )
        resp.status = falcon.HTTP_200
        resp.content_type = "audio/wav" if self._as_wav else "application/octet-stream"
        resp.set_header("X-Audio-Format", PCM_S16LE)
        resp.set_header("X-Sample-Rate", str(request.sample_rate))
        resp.set_header("X-Channels", "1")
        resp.set_header("X-Voice", stream.voice_id)
        stream.metrics.echo_waited = _echo_waited(req)
        resp.set_header("Server-Timing", server_timing(stream.prepared_ms))
        # Tell Nginx (and any other proxy) not to buffer: each frame should leave at once.
        resp.set_header("X-Accel-Buffering", "no")
        resp.set_header("Cache-Control", "no-store")
        resp.stream = stream


def _echo_waited(req: falcon.Request) -> float | None:
    """For an echo reply (the gateway sets the header, services.common.metrics), how long the
    caller has waited since its audio ended; None for any other request or a value out of reason."""
    try:
        waited = float(req.get_header(ECHO_WAITED_HEADER) or "nan")
    except ValueError:
        return None
    return waited if 0 <= waited < 3600 else None


class VoicesResource:
    def __init__(self, speech: Speech, voices: dict[str, Voice]) -> None:
        self._speech = speech
        self._voices = voices

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "default": self._speech.default_voice or None,
            "voices": [voice.describe() for voice in self._voices.values()],
        }


class HealthResource:
    """Ready (200) once at least one voice is loaded in this worker and measured by the warm-up.

    While the warm-up runs, requests are served already (a worker that replaced one that died
    should not keep clients waiting), but admission still guesses the voices' speed: health
    says `warming_up` (503) until then, so an orchestrator sends load only to measured workers.
    """

    def __init__(self, speech: Speech, voices: dict[str, Voice]) -> None:
        self._speech = speech
        self._voices = voices

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        error = None
        if not self._voices:
            error = {"code": "no_voice", "message": "no voice is loaded; run 'make export'"}
        elif not self._speech.warmed_up.is_set():
            error = {"code": "warming_up", "message": "measuring the voices' speed; ready in a moment"}
        resp.status = falcon.HTTP_503 if error else falcon.HTTP_200
        resp.media = {
            "status": "unavailable" if error else "ok",
            "service": "tts",
            "voices": list(self._voices),
            "default_voice": self._speech.default_voice or None,
            **({"error": error} if error else {}),
        }


def create_app(settings: TtsSettings | None = None) -> falcon.App:
    configure_logging("tts")
    # Before any thread serves: stream buffers freed by one thread are then reused by the next
    # stream whichever thread serves it (see services.common.memory).
    cap_malloc_arenas(2)
    settings = settings or TtsSettings.from_env()
    voices = load_voices(settings.voices_dir, settings.ort_threads)
    if voices:
        _LOG.info("serving voices: %s", ", ".join(voices))
    else:
        _LOG.error("no voice found in %s; run 'make export'", settings.voices_dir)
    speech = Speech(settings, voices)
    speech.warm_up_in_background()
    if settings.default_voice and settings.default_voice not in voices:
        _LOG.error("TTS_DEFAULT_VOICE=%s is not among the loaded voices", settings.default_voice)

    app = create_service_app()
    app.add_route("/api/tts", TtsResource(speech, settings.max_text_chars, settings.frame_bytes, as_wav=False))
    app.add_route("/api/tts/wav", TtsResource(speech, settings.max_text_chars, settings.frame_bytes, as_wav=True))
    app.add_route("/api/voices", VoicesResource(speech, voices))
    app.add_route("/healthz", HealthResource(speech, voices))
    openai_speech.add_routes(app, speech, settings)
    return app
