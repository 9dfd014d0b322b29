"""Audio files decoded as they are read (unit): every container people upload, recognized from
its bytes; MP4 with its index last; limits, damage and things that are not audio."""

from __future__ import annotations

import io

import numpy as np
import pytest

from services.asr.audio_input import AudioInputError
from services.asr.containers import AudioFile, UploadTooLarge, mp3_frame_bytes, sniff_container
from services.asr.upload import AudioTooLong
from tests.media import RECORDINGS, encode_file

RATE = 24000
TONE = (0.4 * np.sin(2 * np.pi * 330 * np.arange(3 * RATE) / RATE)).astype(np.float32)
DEMUXERS = {"wav": "wav", "mp3": "mp3", "m4a": "mp4", "mp4": "mp4", "ogg": "ogg", "webm": "matroska"}
DEMUXERS |= {"flac": "flac", "aac": "aac"}


class Upload:
    """A file arriving in blocks, and how much of it has been read."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)
        self.read_bytes = 0

    def read(self, size: int) -> bytes:
        block = self._stream.read(min(size, 4096))
        self.read_bytes += len(block)
        return block


def decode(data: bytes, max_seconds: float = 60, max_bytes: int = 1 << 24) -> tuple[np.ndarray, AudioFile]:
    audio_file = AudioFile(Upload(data).read, max_bytes, max_seconds)
    return np.concatenate(list(audio_file)).astype(np.float32) / 32768, audio_file


@pytest.mark.parametrize("kind", list(RECORDINGS))
def test_every_container_is_recognized_and_decoded_to_16k_mono(kind: str) -> None:
    data = encode_file(TONE, RATE, kind)
    assert sniff_container(data[:12]) == DEMUXERS[kind]
    audio, audio_file = decode(data)
    assert abs(audio_file.seconds - 3.0) < 0.1
    assert abs(len(audio) / 16000 - audio_file.seconds) < 0.05
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / len(audio) - 330) < 5


def test_an_mp4_with_its_index_at_the_end_is_read_by_seeking_in_memory() -> None:
    data = encode_file(np.tile(TONE, 4), RATE, "m4a")
    # Past what the demuxer buffers (32 KiB): it must seek back from the index to the audio.
    assert data.index(b"moov") > data.index(b"mdat") and len(data) > 64 * 1024
    _, audio_file = decode(data)
    assert abs(audio_file.seconds - 12.0) < 0.1


def test_a_stream_container_is_decoded_before_the_upload_ends() -> None:
    upload = Upload(encode_file(np.tile(TONE, 4), RATE, "ogg"))
    blocks = iter(AudioFile(upload.read, 1 << 24, 60))
    next(block for block in blocks if block.size)
    assert upload.read_bytes < upload._stream.getbuffer().nbytes / 2


def test_limits_stop_reading_at_once() -> None:
    with pytest.raises(AudioTooLong):
        decode(encode_file(TONE, RATE, "mp3"), max_seconds=2)
    with pytest.raises(UploadTooLarge):
        decode(encode_file(TONE, RATE, "wav"), max_bytes=50_000)


def test_a_truncated_mp3_is_refused_and_a_whole_one_is_not() -> None:
    data = encode_file(TONE, RATE, "mp3")
    with pytest.raises(AudioInputError, match="truncated"):
        decode(data[: len(data) // 2 + 3])
    decode(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"just some text, not audio at all", "not audio"),
        (b"OggS" + bytes(500), "not readable|damaged|no audio"),
        (b"fLaC" + bytes(500), "not readable|damaged|no audio"),
        (b"RIFF\x10\x00\x00\x00WAVEjunkjunk", "not readable|damaged|no audio"),
    ],
)
def test_things_that_are_not_audio_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(AudioInputError, match=message):
        decode(data)


def test_mp3_frame_lengths_follow_the_header() -> None:
    assert mp3_frame_bytes(bytes([0xFF, 0xFB, 0x90, 0x00])) == 417  # MPEG-1, 128 kb/s, 44.1 kHz
    assert mp3_frame_bytes(bytes([0xFF, 0xFB, 0x92, 0x00])) == 418  # the same, padded
    assert mp3_frame_bytes(bytes([0xFF, 0xF3, 0x84, 0x00])) == 192  # MPEG-2, 64 kb/s, 24 kHz
    assert mp3_frame_bytes(b"ID3\x04") is None
