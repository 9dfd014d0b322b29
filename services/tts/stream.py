"""The streaming response: synthesize one piece, send its encoded audio, then the next piece."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from services.common.audio import StreamResampler, TempoStretch, cut_frames
from services.common.encoding import StreamEncoder
from services.tts.voices import Synthesizer

_LOG = logging.getLogger(__name__)


class SpeechStream:
    """WSGI response body that synthesizes lazily, piece by piece.

    Nothing is synthesized before the server asks for the first chunk, and nothing after
    the server closes the body: when a client disconnects, the server calls `close()`, the
    generators stop at their current `yield`, and the remaining pieces are never synthesized.

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
        frame_bytes: int | None = None,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.voice_id = voice_id
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
        self._on_close = on_close
        self.pieces_done = 0
        self.samples = 0
        """Audio samples encoded so far, at `sample_rate`."""
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
        for index, piece in enumerate(self._pieces):
            # Only the first piece is worth decoding in two parts: later pieces are made
            # while the client is still playing earlier audio.
            first_part = self._first_part_seconds if index == 0 else 0.0
            for audio in self._synthesizer.synthesize(piece, self._speed, first_part):
                # An encoder may hold a short chunk back; an empty chunk is not sent (in a
                # chunked response it would read as the end).
                if chunk := self._encode(audio):
                    yield chunk
            self.pieces_done += 1
        if tail := self._finish():
            yield tail

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()
        self._encoder.close()
        self._on_close()
        elapsed = time.perf_counter() - self._started
        if self.pieces_done < len(self._pieces):
            _LOG.info(
                "stream closed by the client after %d of %d pieces (%.2f s); synthesis stopped",
                self.pieces_done,
                len(self._pieces),
                elapsed,
            )
        else:
            _LOG.debug("stream finished: %d pieces in %.2f s", len(self._pieces), elapsed)
