"""The streaming response: synthesize one piece, send its frames, then the next piece."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence

from services.common.audio import StreamResampler, cut_frames, float_to_s16le
from services.tts.voices import Synthesizer

_LOG = logging.getLogger(__name__)


class SpeechStream:
    """WSGI response body that synthesizes lazily, piece by piece.

    Nothing is synthesized before the server asks for the first frame, and nothing after
    the server closes the body: when a client disconnects, the server calls `close()`, the
    generators stop at their current `yield`, and the remaining pieces are never synthesized.
    """

    def __init__(
        self,
        synthesizer: Synthesizer,
        pieces: Sequence[str],
        speed: float,
        sample_rate: int,
        frame_bytes: int,
        first_part_seconds: float,
        header: bytes = b"",
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self._synthesizer = synthesizer
        self._pieces = pieces
        self._speed = speed
        self._resampler = StreamResampler(synthesizer.sample_rate, sample_rate)
        self._first_part_seconds = first_part_seconds
        self._header = header
        self._on_close = on_close
        self.pieces_done = 0
        self._started = time.perf_counter()
        self._frames = cut_frames(self._pcm_pieces(), frame_bytes)

    def _pcm_pieces(self) -> Iterator[bytes]:
        if self._header:
            yield self._header
        for index, piece in enumerate(self._pieces):
            # Only the first piece is worth decoding in two parts: later pieces are made
            # while the client is still playing earlier audio.
            first_part = self._first_part_seconds if index == 0 else 0.0
            for audio in self._synthesizer.synthesize(piece, self._speed, first_part):
                yield float_to_s16le(self._resampler.push(audio))
            self.pieces_done += 1
        yield float_to_s16le(self._resampler.flush())

    def __iter__(self) -> Iterator[bytes]:
        return self._frames

    def close(self) -> None:
        self._frames.close()
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
