"""Audio files (WAV, mp3, Ogg, WebM, FLAC, MP4/M4A, AAC) decoded as they are read.

The container is recognized from the file's first bytes, never from its name or declared type,
and only these containers are opened: FFmpeg (through PyAV) demuxes and decodes them, pulling
bytes from the upload as it needs them, so decoding overlaps the upload and nothing is written
to disk. The decoded audio goes through the same conversion to 16 kHz mono as raw PCM uploads.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator

import av
import numpy as np

from services.asr.audio_input import AudioInputError, EngineAudio
from services.asr.upload import AudioTooLong, EmptyAudio

SNIFF_BYTES = 12


def _is_mpeg_audio(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, then a version and a layer that exist."""
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x18 != 0x08 and head[1] & 0x06


def _is_adts(head: bytes) -> bool:
    """An ADTS (AAC) frame header: 12 sync bits, layer 0."""
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


# FFmpeg demuxer for each container, by the signature of its first bytes.
_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("wav", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WAVE"),
    ("ogg", lambda head: head[:4] == b"OggS"),
    ("flac", lambda head: head[:4] == b"fLaC"),
    ("matroska", lambda head: head[:4] == b"\x1a\x45\xdf\xa3"),  # WebM is Matroska
    ("mp4", lambda head: head[4:8] == b"ftyp"),  # MP4, M4A, MOV, 3GP
    ("mp3", lambda head: head[:3] == b"ID3" or _is_mpeg_audio(head)),
    ("aac", _is_adts),
)
SUPPORTED = "WAV, mp3, Ogg (Opus, Vorbis, FLAC), WebM, FLAC, MP4/M4A and AAC (ADTS)"
# Declared types of those files, for APIs whose body may also be raw PCM (which has no signature).
FILE_MEDIA_TYPES = frozenset(
    {"audio/mpeg", "audio/mp3", "audio/ogg", "audio/opus", "audio/webm", "video/webm", "audio/flac", "audio/x-flac"}
    | {"audio/mp4", "audio/m4a", "audio/x-m4a", "video/mp4", "audio/aac", "audio/aacp"}
)


def sniff_container(head: bytes) -> str | None:
    """The demuxer for a file starting with `head` (SNIFF_BYTES of it), or None."""
    return next((demuxer for demuxer, matches in _SIGNATURES if matches(head)), None)


class UploadTooLarge(AudioInputError):
    """The upload has more bytes than the service reads."""


class UploadReader(io.RawIOBase):
    """The file part of an upload as the demuxer reads it: counted, and seekable when needed.

    MP4 may keep its index after the audio (phones often write it last), so the demuxer must
    seek: everything read is then kept in memory (within the byte bound) to seek back in, and
    a seek forward reads ahead. Other containers are read front to back, and are offered no
    seeking at all, or FFmpeg would first read to the end to look for trailing tags.
    """

    def __init__(self, read: Callable[[int], bytes], head: bytes, max_bytes: int, seekable: bool) -> None:
        super().__init__()
        self._read_upload = read
        self._head = head
        self._max_bytes = max_bytes
        self._seekable = seekable
        self._kept = bytearray()
        self._position = 0
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def _pull(self, size: int) -> bytes:
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
        else:
            data = self._read_upload(size)
        self.bytes_read += len(data)
        if self.bytes_read > self._max_bytes:
            raise UploadTooLarge(f"the file is over the limit of {self._max_bytes} bytes")
        return data

    def read(self, size: int = -1) -> bytes:
        size = size if size is not None and size >= 0 else 1 << 16
        if not self._seekable:
            return self._pull(size)
        while self._position + size > len(self._kept):
            data = self._pull(self._position + size - len(self._kept))
            if not data:
                break
            self._kept += data
        data = bytes(self._kept[self._position : self._position + size])
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("this container is read front to back")
        if whence == io.SEEK_END:
            while self._pull_into_kept():
                pass
            offset += len(self._kept)
        elif whence == io.SEEK_CUR:
            offset += self._position
        self._position = max(0, offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def _pull_into_kept(self) -> bool:
        data = self._pull(1 << 16)
        self._kept += data
        return bool(data)


def mp3_frame_bytes(header: bytes) -> int | None:
    """The length of the MPEG audio Layer III frame that starts with `header`, or None.

    MP3 frames have no end marker: the header's bit rate, sample rate and padding give the
    length, which is how a frame cut off by a truncated file is told from a whole one.
    """
    if len(header) < 4 or not _is_mpeg_audio(header):
        return None
    (word,) = struct.unpack(">I", header[:4])
    version = (word >> 19) & 0x3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    layer = (word >> 17) & 0x3  # 1: Layer III
    bitrate_index = (word >> 12) & 0xF
    rate_index = (word >> 10) & 0x3
    padding = (word >> 9) & 0x1
    if layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    kbps = (_MPEG1_L3_KBPS if mpeg1 else _MPEG2_L3_KBPS)[bitrate_index]
    rate = _MPEG1_RATES[rate_index] // (1 if mpeg1 else 2 if version == 2 else 4)
    return (144 if mpeg1 else 72) * kbps * 1000 // rate + padding


_MPEG1_L3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_L3_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_MPEG1_RATES = (44100, 48000, 32000)


def _planes(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame as float32 [channels, samples] in [-1, 1], whatever its sample format."""
    samples = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        samples = samples.reshape(-1, channels).T
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    if samples.dtype.kind == "i":
        return samples.astype(np.float32) / float(2 ** (8 * samples.dtype.itemsize - 1))
    return samples.astype(np.float32, copy=False)


class AudioFile:
    """Iterate over an uploaded audio file as 16 kHz mono int16 blocks; `seconds` then says
    how long it is. `read(size)` gives the file's bytes as they arrive."""

    def __init__(self, read: Callable[[int], bytes], max_bytes: int, max_seconds: float) -> None:
        self._read = read
        self._max_bytes = max_bytes
        self._max_seconds = max_seconds
        self.seconds = 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        head = b""
        while len(head) < SNIFF_BYTES and (more := self._read(SNIFF_BYTES - len(head))):
            head += more
        if not head:
            raise EmptyAudio("the file is empty")
        demuxer = sniff_container(head)
        if demuxer is None:
            raise AudioInputError(f"the file is not audio in a supported format ({SUPPORTED})")
        reader = UploadReader(self._read, head, self._max_bytes, seekable=demuxer == "mp4")
        try:
            container = av.open(reader, mode="r", format=demuxer)
        except av.FFmpegError as error:
            raise AudioInputError(f"the file is not readable {demuxer} audio ({error.strerror})") from None
        with container:
            if not container.streams.audio:
                raise AudioInputError("the file has no audio track")
            yield from self._decode(container, container.streams.audio[0], demuxer)

    def _decode(
        self, container: av.container.InputContainer, stream: av.AudioStream, demuxer: str
    ) -> Iterator[np.ndarray]:
        converter: EngineAudio | None = None
        rate = 0
        last_packet = b""
        try:
            for packet in container.demux(stream):
                if demuxer == "mp3" and packet.size:
                    last_packet = bytes(packet)
                for frame in packet.decode():
                    if frame.sample_rate != rate:  # the first frame, or a change of rate mid-file
                        if converter is not None:
                            yield converter.finish()
                        rate, converter = frame.sample_rate, EngineAudio(frame.sample_rate)
                    self.seconds += frame.samples / rate
                    if self.seconds > self._max_seconds:
                        raise AudioTooLong(
                            f"the audio is {self.seconds:.1f} s or longer; the limit is {self._max_seconds:g} s"
                        )
                    yield converter.push(_planes(frame))
        except av.FFmpegError as error:
            raise AudioInputError(f"the {demuxer} audio is damaged ({error.strerror})") from None
        if converter is None:
            raise EmptyAudio("the file holds no audio samples")
        expected = mp3_frame_bytes(last_packet)
        if expected is not None and len(last_packet) < expected:
            raise AudioInputError(
                f"the mp3 file is truncated: its last frame has {len(last_packet)} of {expected} bytes"
            )
        yield converter.finish()
