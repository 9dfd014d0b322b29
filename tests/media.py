"""Audio files as recorders write them and as players read them (PyAV), for the tests.

Files are written to a seekable buffer, as a phone or a browser writes a file to disk: with
their headers filled in at the end (an MP4's index after its audio, an mp3's Xing header).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import av
import numpy as np
import soxr

# name: (muxer, codec, options of the codec) of files people upload.
RECORDINGS = {
    "wav": ("wav", "pcm_s16le", {}),
    "mp3": ("mp3", "libmp3lame", {}),
    "m4a": ("ipod", "aac", {}),  # a phone's voice memo: AAC in MP4, the index written last
    "mp4": ("mp4", "aac", {}),  # Safari's recordings
    "ogg": ("ogg", "libopus", {}),  # Firefox's recordings
    "webm": ("webm", "libopus", {}),  # Chrome's recordings
    "flac": ("flac", "flac", {}),
    "aac": ("adts", "aac", {}),
}


def encode_file(audio: np.ndarray, rate: int, kind: str, bit_rate: int = 128_000) -> bytes:
    """Float mono `audio` as a whole file of RECORDINGS[kind]."""
    muxer, codec, options = RECORDINGS[kind]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=muxer) as container:
        codec_rate = 48000 if codec == "libopus" else rate
        stream = container.add_stream(codec, rate=codec_rate, options=options)
        stream.layout = "mono"
        if codec not in ("pcm_s16le", "flac"):
            stream.bit_rate = bit_rate
        if codec_rate != rate:
            audio = soxr.resample(audio, rate, codec_rate)
        frame = av.AudioFrame.from_ndarray(audio.astype(np.float32).reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = codec_rate
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


@dataclass(frozen=True)
class Decoded:
    audio: np.ndarray
    """Float mono samples at `rate`."""
    rate: int
    container: str
    codec: str


def _planes(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame as float32 [channels, samples]."""
    samples = frame.to_ndarray()
    scale = float(2 ** (8 * samples.dtype.itemsize - 1)) if samples.dtype.kind == "i" else 1.0
    samples = samples.astype(np.float32) / scale
    return samples if frame.format.is_planar else samples.reshape(-1, len(frame.layout.channels)).T


def decode_file(data: bytes) -> Decoded:
    """A file as a player reads it: the container found by probing, decoded whole, mixed to mono."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        planes = [_planes(frame) for frame in container.decode(stream)]
        audio = np.concatenate(planes, axis=1).mean(axis=0) if planes else np.zeros(0, np.float32)
        return Decoded(audio, stream.sample_rate, container.format.name, stream.codec_context.name)


def opus_input_rate(data: bytes) -> int:
    """The rate the audio had before Opus encoded it, from the Ogg stream's OpusHead
    (an Opus decoder always gives 48 kHz)."""
    head = data.index(b"OpusHead")
    return struct.unpack_from("<I", data, head + 12)[0]


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    return soxr.resample(audio, rate, 16000).astype(np.float32)
