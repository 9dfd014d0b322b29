"""TTS service: Falcon WSGI app streaming synthesized speech as PCM or WAV."""

from __future__ import annotations

import logging
import os

import falcon

from services.common.admission import AdmissionGate
from services.common.audio import PCM_S16LE, wav_stream_header
from services.common.errors import api_error, install_json_errors
from services.common.logs import configure_logging
from services.tts import request as speech_request
from services.tts.request import SpeechRequest
from services.tts.settings import TtsSettings
from services.tts.stream import SpeechStream
from services.tts.text.normalize import has_speakable_content, normalize_text
from services.tts.text.segment import cut_first_clause, split_into_pieces
from services.tts.voices import Voice, default_voice_id, load_voices

_LOG = logging.getLogger(__name__)

_CORES = len(os.sched_getaffinity(0))  # the cores this process may run on


class Speech:
    """Turns a validated request into a streaming response."""

    def __init__(self, settings: TtsSettings, voices: dict[str, Voice]) -> None:
        self._settings = settings
        self._voices = voices
        self._gate = AdmissionGate(settings.max_streams, settings.max_queue, settings.queue_seconds)
        self.default_voice = settings.default_voice or default_voice_id(voices)

    def _voice(self, requested: str | None) -> Voice:
        if not self._voices:
            raise api_error(falcon.HTTP_503, "no_voice", "no voice is loaded; run 'make export'")
        voice_id = requested or self.default_voice
        if voice_id not in self._voices:
            known = ", ".join(self._voices)
            raise api_error(falcon.HTTP_404, "unknown_voice", f"no voice '{voice_id}'; available: {known}")
        return self._voices[voice_id]

    def respond(self, resp: falcon.Response, request: SpeechRequest, as_wav: bool) -> None:
        voice = self._voice(request.voice)
        if request.speed != 1.0 and not voice.synthesizer.supports_speed:
            raise api_error(falcon.HTTP_422, "invalid_speed", f"the voice {voice.id} cannot change its speed")
        text = normalize_text(request.text)
        if not has_speakable_content(text):
            raise api_error(falcon.HTTP_422, "nothing_to_say", "the text has no words this voice can say")
        pieces = split_into_pieces(text, self._settings.max_piece_chars)
        header = wav_stream_header(request.sample_rate) if as_wav else b""
        # The place is held until the stream is closed (finished, or the client went away).
        self._gate.enter()
        # Alone on the CPU, the first 300 ms of the first sentence are decoded ahead of its
        # rest: the split decodes context frames twice, idle time well spent on a quick first
        # chunk. With other streams that double work would come out of their throughput, so a
        # first sentence with a clause is cut after it instead, at no cost; one without is
        # still split, as a first chunk that waits for a whole sentence comes far too late.
        # With more streams than cores, each decodes that many times slower: a first part as
        # many times longer lasts until the rest is ready, so the player does not stall.
        first_part_seconds = self._settings.first_part_ms / 1000
        if self._gate.active > 1:
            cut = cut_first_clause(pieces)
            if len(cut) > len(pieces):
                first_part_seconds, pieces = 0.0, cut
            else:
                first_part_seconds *= max(1.0, self._gate.active / _CORES)
        resp.status = falcon.HTTP_200
        resp.content_type = "audio/wav" if as_wav else "application/octet-stream"
        resp.set_header("X-Audio-Format", PCM_S16LE)
        resp.set_header("X-Sample-Rate", str(request.sample_rate))
        resp.set_header("X-Channels", "1")
        resp.set_header("X-Voice", voice.id)
        # Tell Nginx (and any other proxy) not to buffer: each frame should leave at once.
        resp.set_header("X-Accel-Buffering", "no")
        resp.set_header("Cache-Control", "no-store")
        resp.stream = SpeechStream(
            voice.synthesizer,
            pieces,
            request.speed,
            request.sample_rate,
            self._settings.frame_bytes,
            first_part_seconds,
            header,
            on_close=self._gate.leave,
        )


class TtsResource:
    """`/api/tts` (PCM) or `/api/tts/wav` (WAV): JSON by POST, query string by GET."""

    def __init__(self, speech: Speech, max_text_chars: int, as_wav: bool) -> None:
        self._speech = speech
        self._max_text_chars = max_text_chars
        self._as_wav = as_wav

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._speech.respond(resp, speech_request.from_json_body(req, self._max_text_chars), self._as_wav)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._speech.respond(resp, speech_request.from_query(req, self._max_text_chars), self._as_wav)


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
    """Ready (200) only when at least one voice is loaded in this worker."""

    def __init__(self, speech: Speech, voices: dict[str, Voice]) -> None:
        self._speech = speech
        self._voices = voices

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ready = bool(self._voices)
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503
        resp.media = {
            "status": "ok" if ready else "unavailable",
            "service": "tts",
            "voices": list(self._voices),
            "default_voice": self._speech.default_voice or None,
            **({} if ready else {"error": {"code": "no_voice", "message": "no voice is loaded; run 'make export'"}}),
        }


def create_app(settings: TtsSettings | None = None) -> falcon.App:
    configure_logging("tts")
    settings = settings or TtsSettings.from_env()
    voices = load_voices(settings.voices_dir, settings.ort_threads)
    if voices:
        _LOG.info("serving voices: %s", ", ".join(voices))
    else:
        _LOG.error("no voice found in %s; run 'make export'", settings.voices_dir)
    speech = Speech(settings, voices)
    if settings.default_voice and settings.default_voice not in voices:
        _LOG.error("TTS_DEFAULT_VOICE=%s is not among the loaded voices", settings.default_voice)

    app = falcon.App()
    install_json_errors(app)
    app.add_route("/api/tts", TtsResource(speech, settings.max_text_chars, as_wav=False))
    app.add_route("/api/tts/wav", TtsResource(speech, settings.max_text_chars, as_wav=True))
    app.add_route("/api/voices", VoicesResource(speech, voices))
    app.add_route("/healthz", HealthResource(speech, voices))
    return app
