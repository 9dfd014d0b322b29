"""The speech engine layer every TTS front door calls: a validated request in, a stream out.

It resolves the voice, normalizes and splits the text, admits the stream (or refuses it with
503 past capacity, see services.tts.scheduling), and decides how the first sentence is cut;
the front doors only parse their protocol and frame the stream in its shape.
"""

from __future__ import annotations

import logging
import threading
import time

import falcon

from services.common.client_socket import ClientConnection
from services.common.encoding import bytes_per_second, open_encoder
from services.common.errors import api_error
from services.tts import metrics
from services.tts.request import SpeechRequest
from services.tts.scheduling import Overloaded, SynthesisScheduler
from services.tts.settings import CORES, TtsSettings
from services.tts.stream import SpeechStream
from services.tts.text.normalize import has_speakable_content, normalize_text
from services.tts.text.segment import cut_first_clause, split_into_pieces
from services.tts.voices import Voice, default_voice_id

_LOG = logging.getLogger(__name__)

# Spoken at start by each voice: it loads the models' kernels and measures the voice's speed
# before the first client's stream is admitted on it. Long enough to be cut in spans as a
# stream under load is, so the measure includes the context decoded twice.
WARM_UP_TEXT = (
    "Hello there, this is a sentence that warms the voice up before anyone asks for it, "
    "and measures how fast it speaks on this machine."
)
# A client's kernel send buffer holds about this much audio at the most (see `stream`).
_MIN_SEND_BUFFER, _MAX_SEND_BUFFER = 16 << 10, 512 << 10


class Speech:
    def __init__(self, settings: TtsSettings, voices: dict[str, Voice]) -> None:
        self._settings = settings
        self.voices = voices
        self.scheduler = SynthesisScheduler(
            settings.synthesis_slots,
            settings.ort_threads,
            CORES,
            settings.max_streams,
            settings.max_queue,
            settings.queue_seconds,
            settings.admit_load,
            settings.first_audio_ms / 1000,
        )
        self.default_voice = settings.default_voice or default_voice_id(voices)
        for voice_id in voices:
            metrics.serving(voice_id)
        self.warmed_up = threading.Event()

    def warm_up(self) -> None:
        """Synthesize a sentence with each voice, measuring its speed for admission.

        It may run beside the first requests (see `warm_up_in_background`): until it has
        measured, admission assumes a typical speed, and a request is served as it would be.
        """
        first_part_seconds = self._settings.first_part_ms / 1000
        max_span_seconds = self._settings.span_ms / 1000
        for voice in self.voices.values():
            for _ in range(2):  # the first run loads kernels: the second one is measured
                began = time.perf_counter()
                parts = voice.synthesizer.synthesize(WARM_UP_TEXT, 1.0, first_part_seconds, max_span_seconds)
                samples = sum(part.size for part in parts)
                elapsed = time.perf_counter() - began
            seconds = samples / voice.synthesizer.sample_rate
            rate = self.scheduler.record_measure(voice.id, len(WARM_UP_TEXT), seconds, elapsed)
            _LOG.info("voice %s: real-time factor %.3f at warm-up", voice.id, rate)
        self.warmed_up.set()

    def warm_up_in_background(self) -> threading.Thread:
        """Warm up beside the first requests: a worker that replaces one that died serves at
        once, instead of a second or two later."""
        thread = threading.Thread(target=self.warm_up, name="tts-warm-up", daemon=True)
        thread.start()
        return thread

    def voice(self, requested: str | None) -> Voice:
        if not self.voices:
            raise api_error(falcon.HTTP_503, "no_voice", "no voice is loaded; run 'make export'")
        voice_id = requested or self.default_voice
        if voice_id not in self.voices:
            known = ", ".join(self.voices)
            raise api_error(
                falcon.HTTP_404, "unknown_voice", f"no voice '{voice_id}'; available: {known}", param="voice"
            )
        return self.voices[voice_id]

    def stream(
        self,
        request: SpeechRequest,
        encoding: str,
        frame_bytes: int | None = None,
        connection: ClientConnection | None = None,
    ) -> SpeechStream:
        """Speech for `request`, encoded as `encoding` (see services.common.encoding), not yet
        synthesized: the returned stream synthesizes as it is iterated, and sends on
        `connection` (bounded there to what a real-time listener needs)."""
        started = time.perf_counter()
        voice = self.voice(request.voice)
        if request.speed != 1.0 and not voice.synthesizer.supports_speed:
            raise api_error(
                falcon.HTTP_422, "invalid_speed", f"the voice {voice.id} cannot change its speed", param="speed"
            )
        text = normalize_text(request.text)
        if not has_speakable_content(text):
            raise api_error(falcon.HTTP_422, "nothing_to_say", "the text has no words this voice can say")
        pieces = split_into_pieces(text, self._settings.max_piece_chars)
        voice_speed = min(request.speed, voice.synthesizer.max_speed)
        text_done = time.perf_counter()
        # The place is held until the stream is closed (finished, or the client went away).
        try:
            place = self.scheduler.admit(voice.id, len(text), voice_speed)
        except Overloaded as overloaded:
            metrics.refused(voice.id)
            raise api_error(
                falcon.HTTP_503, "overloaded", str(overloaded), headers={"Retry-After": str(overloaded.retry_after)}
            ) from None
        # What the answer's Server-Timing says: text processing, and the wait for a place.
        queue_seconds = time.perf_counter() - text_done
        prepared_ms = {"text": (text_done - started) * 1000, "queue": queue_seconds * 1000}
        stream_metrics = metrics.StreamMetrics(voice.id, started, len(text), queue_seconds)
        # Alone on the CPU, the first 300 ms of the first sentence are decoded ahead of its
        # rest: the split decodes context frames twice, idle time well spent on a quick first
        # chunk. With other streams that double work would come out of their throughput, so a
        # first sentence with a clause is cut after it instead, at no cost; one without is
        # still split, as a first chunk that waits for a whole sentence comes far too late.
        # With more streams than cores, many start together and each waits longer for its
        # next turn: a first part as many times longer lasts until then, so the player does
        # not stall. Later steps are bounded to `span_ms` of audio while others synthesize, so
        # a new stream's first audio never waits behind a long decode.
        first_part_seconds = self._settings.first_part_ms / 1000
        max_span_seconds = 0.0
        synthesizing = self.scheduler.synthesizing
        if synthesizing > 1:
            max_span_seconds = self._settings.span_ms / 1000
            cut = cut_first_clause(pieces)
            if len(cut) > len(pieces):
                first_part_seconds, pieces = 0.0, cut
            else:
                first_part_seconds *= max(1.0, synthesizing / CORES)
        if connection is not None:
            # Synthesis runs ahead of the client by what the send buffer holds, at the most.
            wanted = round(self._settings.ahead_seconds * bytes_per_second(encoding, request.sample_rate))
            connection.bound_send_buffer(min(_MAX_SEND_BUFFER, max(_MIN_SEND_BUFFER, wanted)))
            connection.bound_send_wait(self._settings.reader_grace_seconds)
        try:
            encoder = open_encoder(encoding, request.sample_rate)
        except Exception:
            self.scheduler.leave(place)
            stream_metrics.closed(0.0, None)
            raise
        return SpeechStream(
            voice.id,
            voice.synthesizer,
            pieces,
            request.speed,
            request.sample_rate,
            encoder,
            first_part_seconds,
            self.scheduler,
            place,
            max_span_seconds,
            self._settings.reader_grace_seconds,
            prepared_ms,
            stream_metrics,
            connection,
            frame_bytes,
        )
