"""Uploaded audio: its format, and its conversion to what the engines take (16 kHz mono s16).

The body arrives in blocks of any size; `PcmDecoder` converts each block as it comes, carrying
an incomplete frame over to the next block, so the engine can decode during the upload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.common.audio import StreamResampler, float_to_int16

ENGINE_SAMPLE_RATE = 16000
ALLOWED_SAMPLE_RATES = (8000, 16000, 22050, 44100, 48000)
ALLOWED_CHANNELS = (1, 2)
SAMPLE_FORMATS = {"s16le": np.dtype("<i2"), "s32le": np.dtype("<i4"), "float32": np.dtype("<f4")}


class AudioInputError(ValueError):
    """The upload is not audio of the declared format (a client error)."""


@dataclass(frozen=True)
class PcmFormat:
    sample_rate: int = 16000
    channels: int = 1
    sample_format: str = "s16le"

    @property
    def bytes_per_frame(self) -> int:
        return SAMPLE_FORMATS[self.sample_format].itemsize * self.channels

    def bytes_for(self, seconds: float) -> int:
        return int(seconds * self.sample_rate) * self.bytes_per_frame


class EngineAudio:
    """Float audio of any rate and channel count, chunk by chunk, as the engines take it:
    16 kHz mono int16. Raw PCM uploads and decoded audio files both go through here."""

    def __init__(self, sample_rate: int) -> None:
        self._resampler = StreamResampler(sample_rate, ENGINE_SAMPLE_RATE)

    def push(self, planes: np.ndarray) -> np.ndarray:
        """Convert float32 samples in [-1, 1], shaped [channels, samples]."""
        if not np.all(np.isfinite(planes)):
            raise AudioInputError("the audio contains NaN or infinity")
        mono = planes[0] if len(planes) == 1 else planes.mean(axis=0)
        return float_to_int16(self._resampler.push(mono))

    def finish(self) -> np.ndarray:
        return float_to_int16(self._resampler.flush())


class PcmDecoder:
    """Turns blocks of interleaved PCM in `fmt` into 16 kHz mono int16 for the engine."""

    def __init__(self, fmt: PcmFormat) -> None:
        self._fmt = fmt
        self._dtype = SAMPLE_FORMATS[fmt.sample_format]
        self._pending = b""
        self._engine_audio = EngineAudio(fmt.sample_rate)
        self.frames = 0

    @property
    def seconds(self) -> float:
        return self.frames / self._fmt.sample_rate

    def push(self, block: bytes) -> np.ndarray:
        data = self._pending + block if self._pending else block
        whole = len(data) - len(data) % self._fmt.bytes_per_frame
        self._pending = data[whole:]
        if not whole:
            return np.zeros(0, dtype="<i2")
        samples = np.frombuffer(data, dtype=self._dtype, count=whole // self._dtype.itemsize)
        self.frames += len(samples) // self._fmt.channels
        return self._to_engine(samples)

    def finish(self) -> np.ndarray:
        self.check_whole_frames()
        return self._engine_audio.finish()

    def check_whole_frames(self) -> None:
        """AudioInputError if the audio so far ends in the middle of a frame."""
        if self._pending:
            raise AudioInputError(
                f"the audio ends with {len(self._pending)} bytes that are not a whole frame "
                f"({self._fmt.bytes_per_frame} bytes per frame for {self._fmt.channels} channel(s) of "
                f"{self._fmt.sample_format})"
            )

    def _to_engine(self, samples: np.ndarray) -> np.ndarray:
        if self._dtype.kind == "f":
            audio = samples.astype(np.float32, copy=False)
        else:
            audio = samples.astype(np.float32) / float(2 ** (8 * self._dtype.itemsize - 1))
        return self._engine_audio.push(audio.reshape(-1, self._fmt.channels).T)
