"""Streaming audio encoders: float mono audio in, the bytes of a file format out, chunk by chunk.

Every front door that answers with audio encodes through here: the native API's PCM and WAV
streams, and OpenAI's mp3, Ogg Opus, AAC, FLAC, WAV and PCM. An encoder is incremental: each
chunk of audio gives back the bytes that can be sent already, so the first bytes leave after
the first audio span, not after the whole text. Compressed formats are encoded by FFmpeg's
codecs through PyAV (LAME for mp3, libopus, FFmpeg's AAC and FLAC), into muxers that write
forward only, since a stream cannot go back to patch a header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import av
import numpy as np

from services.common.audio import float_to_s16le, wav_stream_header


@dataclass(frozen=True)
class Encoding:
    """A file format an encoder writes, and how PyAV writes it (for compressed formats)."""

    name: str
    media_type: str
    muxer: str | None = None
    codec: str | None = None
    bit_rate: int | None = None
    muxer_options: dict[str, str] = field(default_factory=dict)


ENCODINGS: dict[str, Encoding] = {
    "pcm": Encoding("pcm", "audio/pcm"),
    "wav": Encoding("wav", "audio/wav"),
    # No Xing/LAME tag and no ID3 header: the stream is MPEG frames only, so consecutive
    # responses concatenate into one playable file, and nothing claims a length up front.
    "mp3": Encoding("mp3", "audio/mpeg", "mp3", "libmp3lame", 64_000, {"write_xing": "0", "id3v2_version": "0"}),
    # An Ogg page is written once it holds this much audio (microseconds); the muxer's default
    # of one second would hold the first audio back for as long.
    "opus": Encoding("opus", "audio/ogg; codecs=opus", "ogg", "libopus", 32_000, {"page_duration": "60000"}),
    # ADTS: AAC frames with a small header each, playable from any point, as streams need.
    "aac": Encoding("aac", "audio/aac", "adts", "aac", 64_000),
    "flac": Encoding("flac", "audio/flac", "flac", "flac"),
}


class StreamEncoder(Protocol):
    media_type: str

    def encode(self, audio: np.ndarray) -> bytes:
        """Bytes ready to send after this chunk of float32 mono audio (possibly none yet)."""
        ...

    def finish(self) -> bytes:
        """The bytes still held back, and any trailer; the encoder is done afterwards."""
        ...

    def close(self) -> None:
        """Release the encoder without finishing (the client went away)."""
        ...


class PcmEncoder:
    """Raw signed 16-bit little-endian PCM, no header."""

    def __init__(self, media_type: str = ENCODINGS["pcm"].media_type) -> None:
        self.media_type = media_type

    def encode(self, audio: np.ndarray) -> bytes:
        return float_to_s16le(audio)

    def finish(self) -> bytes:
        return b""

    def close(self) -> None:
        pass


class WavEncoder(PcmEncoder):
    """A WAV stream: a header whose lengths say "unknown", then 16-bit PCM."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__(ENCODINGS["wav"].media_type)
        self._header = wav_stream_header(sample_rate)

    def encode(self, audio: np.ndarray) -> bytes:
        header, self._header = self._header, b""
        return header + float_to_s16le(audio)

    def finish(self) -> bytes:
        header, self._header = self._header, b""  # an empty stream is still a WAV file
        return header


class _Sink:
    """The muxer's output: collects what it writes until the encoder hands it on."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def write(self, data: bytes) -> int:
        self._pending += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._pending)
        self._pending.clear()
        return data


class CodecEncoder:
    """A compressed format written by an FFmpeg codec and muxer."""

    def __init__(self, encoding: Encoding, sample_rate: int) -> None:
        assert encoding.muxer and encoding.codec
        self.media_type = encoding.media_type
        self._sample_rate = sample_rate
        self._sink = _Sink()
        # A small I/O buffer: the muxer hands each page or frame on as soon as it is written.
        self._container = av.open(
            self._sink, mode="w", format=encoding.muxer, options=dict(encoding.muxer_options), buffer_size=4096
        )
        self._stream = self._container.add_stream(encoding.codec, rate=sample_rate)
        self._stream.layout = "mono"
        if encoding.bit_rate:
            self._stream.bit_rate = encoding.bit_rate
        self._samples = 0
        self._closed = False

    def encode(self, audio: np.ndarray) -> bytes:
        if not audio.size:
            return b""
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = self._sample_rate
        frame.pts = self._samples
        self._samples += audio.size
        # PyAV converts the frame to the codec's sample format and frame size.
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self.close()
        return self._sink.take()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()


def bytes_per_second(name: str, sample_rate: int) -> int:
    """About how many bytes a second of audio takes in encoding `name` (PCM's size at most)."""
    bit_rate = ENCODINGS[name].bit_rate
    return bit_rate // 8 if bit_rate else 2 * sample_rate


def open_encoder(name: str, sample_rate: int) -> StreamEncoder:
    """A new encoder for one of ENCODINGS at `sample_rate`."""
    encoding = ENCODINGS[name]
    if name == "pcm":
        return PcmEncoder()
    if name == "wav":
        return WavEncoder(sample_rate)
    return CodecEncoder(encoding, sample_rate)
