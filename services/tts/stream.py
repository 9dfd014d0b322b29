"""The streaming response: synthesize one step, send its encoded audio, then the next step."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

import numpy as np

from services.common.audio import StreamResampler, TempoStretch, cut_frames
from services.common.client_socket import ClientConnection
from services.common.encoding import StreamEncoder
from services.common.memory import release_free_memory
from services.tts.metrics import Disconnect, StreamMetrics
from services.tts.scheduling import StreamPlace, SynthesisScheduler
from services.tts.voices import Synthesizer

_LOG = logging.getLogger(__name__)


class ReaderPace:
    """Whether a client takes audio at least as fast as it plays, give or take a grace period.

    Only the time spent waiting for the client to take audio counts against it, not the time
    spent synthesizing: a client that took `audio` seconds of audio while the server waited
    `waited` seconds on it has fallen `waited - audio` seconds behind real time. Audio taken
    early is credit: a player holding it has that much to play.
    """

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.behind_seconds = 0.0
        self.audio_seconds = 0.0
        self.waited_seconds = 0.0

    def took(self, audio_seconds: float, waited_seconds: float) -> None:
        self.audio_seconds += audio_seconds
        self.waited_seconds += waited_seconds
        self.behind_seconds += waited_seconds - audio_seconds

    @property
    def too_slow(self) -> bool:
        return self.behind_seconds > self.grace_seconds


class SpeechStream:
    """WSGI response body that synthesizes lazily, piece by piece.

    Nothing is synthesized before the server asks for the first chunk, and nothing after
    the server closes the body: when a client disconnects, the server calls `close()`, the
    generators stop at their current `yield`, and the remaining pieces are never synthesized.

    Each step of synthesis waits for its turn on the CPU (see services.tts.scheduling); a
    client that takes audio slower than real time beyond `reader_grace_seconds` is dropped.

    With `frame_bytes`, the encoded stream is re-cut into frames of exactly that size (the
    native PCM contract); without, each chunk leaves as soon as the encoder gives it.
    """

    def __init__(
        self,
        voice_id: str,
        synthesizer: Synthesizer,
        pieces: Sequence[str],
        speed: float,
        sample_rate: int,
        encoder: StreamEncoder,
        first_part_seconds: float,
        scheduler: SynthesisScheduler,
        place: StreamPlace,
        max_span_seconds: float,
        reader_grace_seconds: float,
        prepared_ms: dict[str, float],
        metrics: StreamMetrics,
        connection: ClientConnection | None = None,
        frame_bytes: int | None = None,
    ) -> None:
        self.voice_id = voice_id
        self.prepared_ms = prepared_ms
        """How long each step before synthesis took (text, queue), for Server-Timing."""
        self.metrics = metrics
        self._synthesizer = synthesizer
        self._pieces = pieces
        # The voice speaks as fast as it can up to `speed`; the rest is time-stretched.
        self._speed = min(speed, synthesizer.max_speed)
        tempo = speed / self._speed
        self._tempo = TempoStretch(synthesizer.sample_rate, tempo) if tempo != 1.0 else None
        self._resampler = StreamResampler(synthesizer.sample_rate, sample_rate)
        self.sample_rate = sample_rate
        self._encoder = encoder
        self._first_part_seconds = first_part_seconds
        self._scheduler = scheduler
        self._place = place
        self._max_span_seconds = max_span_seconds
        self._reader = ReaderPace(reader_grace_seconds)
        self._connection = connection
        self.dropped = False
        self._handed_at: float | None = None
        """When the chunk the server is sending now was handed to it (None: none is)."""
        self.pieces_done = 0
        self.samples = 0
        """Audio samples encoded so far, at `sample_rate`."""
        self._synthesis_seconds = 0.0
        """Time spent in the voice's turns on the CPU so far."""
        self._started = time.perf_counter()
        encoded = self._encoded_pieces()
        self._chunks = cut_frames(encoded, frame_bytes) if frame_bytes else encoded

    @property
    def media_type(self) -> str:
        return self._encoder.media_type

    def _encode(self, audio: np.ndarray) -> bytes:
        """Stretch (when asked), resample and encode the voice's next audio."""
        if self._tempo is not None:
            audio = self._tempo.push(audio)
        return self._encode_at_rate(self._resampler.push(audio))

    def _finish(self) -> bytes:
        """What the stretcher, the resampler and the encoder still hold."""
        held = self._resampler.push(self._tempo.flush()) if self._tempo is not None else np.zeros(0, np.float32)
        return self._encode_at_rate(np.concatenate([held, self._resampler.flush()])) + self._encoder.finish()

    def _encode_at_rate(self, audio: np.ndarray) -> bytes:
        self.samples += audio.size
        return self._encoder.encode(audio)

    def _encoded_pieces(self) -> Iterator[bytes]:
        handed_out = 0  # samples in the chunks yielded so far
        for index, piece in enumerate(self._pieces):
            # Only the first piece is worth decoding in two parts: later pieces are made
            # while the client is still playing earlier audio.
            first_part = self._first_part_seconds if index == 0 else 0.0
            parts = self._synthesizer.synthesize(piece, self._speed, first_part, self._max_span_seconds)
            while (audio := self._next_part(parts)) is not None:
                # An encoder may hold a short chunk back; an empty chunk is not sent (in a
                # chunked response it would read as the end).
                if not (chunk := self._encode(audio)):
                    continue
                self._scheduler.sent(self._place, self.samples / self.sample_rate)
                if not handed_out:
                    self.metrics.first_audio()
                self._handed_at = time.monotonic()
                yield chunk
                self._reader.took((self.samples - handed_out) / self.sample_rate, time.monotonic() - self._handed_at)
                self._handed_at = None
                handed_out = self.samples
                if self._reader.too_slow:
                    self._drop_slow_reader()
                    return
            self.pieces_done += 1
        self._scheduler.synthesis_done(self._place)
        tail = self._finish()
        self.metrics.synthesized(self.samples / self.sample_rate, self._synthesis_seconds)
        if tail:
            if not handed_out:  # all of a very short text's audio was held until the end
                self.metrics.first_audio()
            yield tail

    def _next_part(self, parts: Iterator[np.ndarray]) -> np.ndarray | None:
        """The next part of a piece's audio, synthesized in this stream's turn on the CPU."""
        with self._scheduler.turn(self._place):
            began = time.perf_counter()
            audio = next(parts, None)
            slot_seconds = time.perf_counter() - began
        self._synthesis_seconds += slot_seconds
        if audio is not None:
            self._scheduler.record_step(self._place, slot_seconds, audio.size / self._synthesizer.sample_rate)
        return audio

    def _drop_slow_reader(self) -> None:
        self.dropped = True
        _LOG.warning(
            "dropped a client reading slower than real time: it took %.1f s of audio in %.1f s of waiting "
            "(grace %.0f s), after %d of %d pieces",
            self._reader.audio_seconds,
            self._reader.waited_seconds,
            self._reader.grace_seconds,
            self.pieces_done,
            len(self._pieces),
        )
        if self._connection is not None:
            self._connection.drop()

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()
        self._encoder.close()
        self._scheduler.leave(self._place)
        # The stream's buffers are free now: give the pages back, or the worker keeps the
        # most it ever held (a millisecond or so, once per stream).
        release_free_memory()
        elapsed = time.perf_counter() - self._started
        stalled_for = time.monotonic() - self._handed_at if self._handed_at is not None else 0.0
        disconnect = None
        if stalled_for >= self._reader.grace_seconds:
            # The send timed out (ClientConnection.bound_send_wait): the client took nothing.
            disconnect = Disconnect.STALLED
            _LOG.warning(
                "dropped a client that took no audio for %.1f s, after %d of %d pieces",
                stalled_for,
                self.pieces_done,
                len(self._pieces),
            )
        elif self.dropped:
            disconnect = Disconnect.SLOW_READER  # logged when it was dropped
        elif self.pieces_done < len(self._pieces):
            disconnect = Disconnect.CLIENT_CLOSED
            _LOG.info(
                "stream closed by the client after %d of %d pieces (%.2f s); synthesis stopped",
                self.pieces_done,
                len(self._pieces),
                elapsed,
            )
        else:
            _LOG.debug("stream finished: %d pieces in %.2f s", len(self._pieces), elapsed)
        self.metrics.closed(self.samples / self.sample_rate, disconnect)
