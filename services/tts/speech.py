"""The speech engine layer every TTS front door calls: a validated request in, a stream out.

It resolves the voice, normalizes and splits the text, admits the stream (or refuses it with
503 past capacity), and decides how the first sentence is cut; the front doors only parse
their protocol and frame the stream in its shape.
"""

from __future__ import annotations

import os

import falcon

from services.common.admission import AdmissionGate
from services.common.encoding import open_encoder
from services.common.errors import api_error
from services.tts.request import SpeechRequest
from services.tts.settings import TtsSettings
from services.tts.stream import SpeechStream
from services.tts.text.normalize import has_speakable_content, normalize_text
from services.tts.text.segment import cut_first_clause, split_into_pieces
from services.tts.voices import Voice, default_voice_id

_CORES = len(os.sched_getaffinity(0))  # the cores this process may run on


class Speech:
    def __init__(self, settings: TtsSettings, voices: dict[str, Voice]) -> None:
        self._settings = settings
        self.voices = voices
        self._gate = AdmissionGate(settings.max_streams, settings.max_queue, settings.queue_seconds)
        self.default_voice = settings.default_voice or default_voice_id(voices)

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

    def stream(self, request: SpeechRequest, encoding: str, frame_bytes: int | None = None) -> SpeechStream:
        """Speech for `request`, encoded as `encoding` (see services.common.encoding), not yet
        synthesized: the returned stream synthesizes as it is iterated."""
        voice = self.voice(request.voice)
        if request.speed != 1.0 and not voice.synthesizer.supports_speed:
            raise api_error(
                falcon.HTTP_422, "invalid_speed", f"the voice {voice.id} cannot change its speed", param="speed"
            )
        text = normalize_text(request.text)
        if not has_speakable_content(text):
            raise api_error(falcon.HTTP_422, "nothing_to_say", "the text has no words this voice can say")
        pieces = split_into_pieces(text, self._settings.max_piece_chars)
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
        try:
            encoder = open_encoder(encoding, request.sample_rate)
        except Exception:
            self._gate.leave()
            raise
        return SpeechStream(
            voice.id,
            voice.synthesizer,
            pieces,
            request.speed,
            request.sample_rate,
            encoder,
            first_part_seconds,
            frame_bytes,
            on_close=self._gate.leave,
        )
