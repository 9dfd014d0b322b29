"""Audio conversions on the streaming path: resampling, sample formats, framing, WAV headers."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

import av
import av.filter
import numpy as np
import soxr

PCM_S16LE = "s16le"


class StreamResampler:
    """Resamples consecutive chunks of one mono float32 signal as a single continuous stream.

    Chunks resampled one by one would each get filter edges at their boundaries; one soxr
    stream gives exactly what resampling the whole signal at once would. A few milliseconds
    are held back as filter delay until `flush()`.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self._stream = None if from_rate == to_rate else soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32")

    def push(self, audio: np.ndarray) -> np.ndarray:
        if self._stream is None:
            return audio
        return self._stream.resample_chunk(np.asarray(audio, dtype=np.float32))

    def flush(self) -> np.ndarray:
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        return self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


class TempoStretch:
    """Plays consecutive chunks of one mono float32 signal faster or slower, at the same pitch
    (FFmpeg's atempo filter, tempo 0.5 to 2 here), as a single continuous stream.

    The filter answers each block it is given with the audio of the block before: the input
    is fed in small blocks, so what is held back stays a few tens of milliseconds.
    """

    _BLOCK = 1024

    def __init__(self, sample_rate: int, tempo: float) -> None:
        self._sample_rate = sample_rate
        self._graph = av.filter.Graph()
        source = self._graph.add_abuffer(
            format="flt", sample_rate=sample_rate, layout="mono", time_base=f"1/{sample_rate}"
        )
        atempo = self._graph.add("atempo", f"{tempo:.6f}")
        sink = self._graph.add("abuffersink")
        source.link_to(atempo)
        atempo.link_to(sink)
        self._graph.configure()
        self._samples_in = 0

    def push(self, audio: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(audio), self._BLOCK):
            block = np.ascontiguousarray(audio[start : start + self._BLOCK], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = self._sample_rate
            frame.pts = self._samples_in
            self._samples_in += len(block)
            self._graph.push(frame)
            out += self._pull()
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def flush(self) -> np.ndarray:
        self._graph.push(None)
        out = self._pull()
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def _pull(self) -> list[np.ndarray]:
        frames = []
        while True:
            try:
                frames.append(self._graph.pull().to_ndarray().reshape(-1))
            except (av.BlockingIOError, av.EOFError):
                return frames


def float_to_int16(audio: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to signed 16-bit samples, clipping overshoot."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")


def float_to_s16le(audio: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to little-endian signed 16-bit PCM bytes."""
    return float_to_int16(audio).tobytes()


def cut_frames(chunks: Iterable[bytes], frame_size: int) -> Iterator[bytes]:
    """Re-cut a stream of byte chunks into frames of exactly `frame_size` bytes.

    Frames span chunk boundaries so every frame but the last has the same size, which is
    what streaming clients of the original service expect. The remainder is sent when the
    input ends.
    """
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        whole = len(pending) - len(pending) % frame_size
        if whole:
            view = memoryview(pending)
            for start in range(0, whole, frame_size):
                yield bytes(view[start : start + frame_size])
            view.release()
            del pending[:whole]
    if pending:
        yield bytes(pending)


# A streamed WAV cannot know its length up front. 0xFFFFFFFF in both size fields is the
# convention for "unknown, read to the end" that players and decoders (ffmpeg, sox, browsers)
# accept for streams; Python's `wave` module reads such a header too.
_UNKNOWN_SIZE = 0xFFFFFFFF


def wav_stream_header(sample_rate: int, channels: int = 1, bits_per_sample: int = 16) -> bytes:
    """A 44-byte PCM WAV header for a stream whose length is not known yet."""
    block_align = channels * bits_per_sample // 8
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", _UNKNOWN_SIZE),
            b"WAVE",
            b"fmt ",
            struct.pack(
                "<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block_align, block_align, bits_per_sample
            ),
            b"data",
            struct.pack("<I", _UNKNOWN_SIZE),
        )
    )
