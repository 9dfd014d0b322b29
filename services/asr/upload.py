"""Reading an audio upload block by block, converting each block as it arrives.

Limits are enforced as early as they can be known: a declared Content-Length that is too
long is refused before a byte is read, and a body without one is refused as soon as it
passes the limit, without reading the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from services.asr.audio_input import AudioInputError, PcmDecoder, PcmFormat
from services.asr.wav_header import looks_like_wav, parse_wav_header

WAV_MEDIA_TYPES = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}


class EmptyAudio(AudioInputError):
    """The body has no audio at all."""


class AudioTooLong(AudioInputError):
    """The audio is longer than the service accepts."""


@dataclass(frozen=True)
class UploadLimits:
    max_seconds: float
    block_bytes: int


class AudioUpload:
    """Iterate over the upload as 16 kHz mono int16 blocks; `decoder` then knows the duration."""

    def __init__(
        self,
        stream: BinaryIO,
        content_length: int | None,
        declared: PcmFormat,
        wav_declared: bool,
        limits: UploadLimits,
        check_format: Callable[[PcmFormat], None],
    ) -> None:
        self._stream = stream
        self._remaining = content_length
        self._declared = declared
        self._wav_declared = wav_declared
        self._limits = limits
        self._check_format = check_format
        self.format = declared
        self.decoder: PcmDecoder | None = None

    @property
    def seconds(self) -> float:
        """How much audio has been read."""
        return self.decoder.seconds if self.decoder else 0.0

    def _read(self, size: int) -> bytes:
        if self._remaining is not None:
            size = min(size, self._remaining)
            if size <= 0:
                return b""
        block = self._stream.read(size)
        if self._remaining is not None:
            self._remaining -= len(block)
        return block

    def _refuse_if_too_long(self, data_bytes: int, fmt: PcmFormat) -> None:
        limit = fmt.bytes_for(self._limits.max_seconds)
        if data_bytes > limit:
            seconds = data_bytes / fmt.bytes_per_frame / fmt.sample_rate
            raise AudioTooLong(f"the audio is {seconds:.1f} s or longer; the limit is {self._limits.max_seconds:g} s")

    def _header(self) -> tuple[PcmFormat, bytes]:
        """The audio format and the first audio bytes already read past any WAV header."""
        first = self._read(self._limits.block_bytes)
        if not first:
            raise EmptyAudio("the body is empty: send the audio as the request body")
        if not (self._wav_declared or looks_like_wav(first)):
            return self._declared, first
        data = first
        while (parsed := parse_wav_header(data)) is None:
            more = self._read(self._limits.block_bytes)
            if not more:
                raise AudioInputError("the WAV header is incomplete")
            data += more
        fmt, offset = parsed
        self._check_format(fmt)
        return fmt, data[offset:]

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._remaining is not None and not self._wav_declared:
            self._refuse_if_too_long(self._remaining, self._declared)
        self.format, block = self._header()
        if self._remaining is not None:
            self._refuse_if_too_long(len(block) + self._remaining, self.format)
        self.decoder = PcmDecoder(self.format)
        received = 0
        while block:
            received += len(block)
            self._refuse_if_too_long(received, self.format)
            yield self.decoder.push(block)
            block = self._read(self._limits.block_bytes)
        if received == 0:
            raise EmptyAudio("the upload holds no audio samples")
        yield self.decoder.finish()
