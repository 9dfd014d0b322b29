"""Upload decoding (unit): formats, channels, block boundaries, WAV headers, bad audio."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from services.asr.audio_input import AudioInputError, PcmDecoder, PcmFormat
from services.asr.wav_header import parse_wav_header
from tests.conftest import encode_pcm, wav_bytes

TONE = (0.5 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)).astype(np.float32)


def decode(data: bytes, fmt: PcmFormat, block: int) -> np.ndarray:
    decoder = PcmDecoder(fmt)
    parts = [decoder.push(data[start : start + block]) for start in range(0, len(data), block)]
    return np.concatenate([*parts, decoder.finish()])


@pytest.mark.parametrize("sample_format", ["s16le", "s32le", "float32"])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_format_decodes_to_the_same_16k_mono_audio(sample_format: str, channels: int) -> None:
    fmt = PcmFormat(16000, channels, sample_format)
    out = decode(encode_pcm(TONE, sample_format, channels), fmt, block=4096)
    assert len(out) == 16000
    assert np.max(np.abs(out.astype(np.float32) / 32767 - TONE)) < 2e-3


def test_block_boundaries_inside_frames_do_not_change_the_audio() -> None:
    fmt = PcmFormat(44100, 2, "s32le")
    tone = (0.5 * np.sin(2 * np.pi * 300 * np.arange(44100) / 44100)).astype(np.float32)
    data = encode_pcm(tone, "s32le", 2)
    whole = decode(data, fmt, block=len(data))
    assert np.array_equal(decode(data, fmt, block=1001), whole)  # 1001: not a multiple of 8
    assert abs(len(whole) - 16000) <= 1


def test_a_partial_frame_at_the_end_is_an_error() -> None:
    decoder = PcmDecoder(PcmFormat(16000, 2, "s16le"))
    decoder.push(b"\x00" * 6)
    with pytest.raises(AudioInputError, match="not a whole frame"):
        decoder.finish()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_samples_are_an_error(bad: float) -> None:
    audio = TONE.copy()
    audio[100] = bad
    with pytest.raises(AudioInputError, match="NaN or infinity"):
        PcmDecoder(PcmFormat(16000, 1, "float32")).push(audio.astype("<f4").tobytes())


def test_wav_header_gives_format_and_data_offset() -> None:
    data = wav_bytes(b"\x00\x00" * 200, 22050, channels=2, sample_width=2)
    fmt, offset = parse_wav_header(data)
    assert fmt == PcmFormat(22050, 2, "s16le") and offset == 44
    assert parse_wav_header(data[:30]) is None  # not all there yet


def test_wav_header_with_metadata_and_float_samples() -> None:
    fmt_chunk = struct.pack("<HHIIHH", 3, 1, 48000, 48000 * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk
    body += b"LIST" + struct.pack("<I", 5) + b"INFO!" + b"\x00"  # odd size: padded
    body += b"data" + struct.pack("<I", 8) + b"\x00" * 8
    data = b"RIFF" + struct.pack("<I", len(body)) + body
    fmt, offset = parse_wav_header(data)
    assert fmt == PcmFormat(48000, 1, "float32") and data[offset:] == b"\x00" * 8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"RIFF\x00\x00\x00\x00AVI " + b"\x00" * 40, "not a RIFF/WAVE"),
        (wav_bytes(b"\x80" * 100, 16000, sample_width=1), "8 bits"),
        # A fmt chunk too short for its fields (a 500 before; found checking the API against its description).
        (b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 40, "fmt chunk is 0 bytes"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt \x0c\x00\x00\x00" + b"\x01\x00" * 20, "fmt chunk is 12 bytes"),
    ],
)
def test_wav_files_this_service_cannot_read_are_errors(data: bytes, message: str) -> None:
    with pytest.raises(AudioInputError, match=message):
        parse_wav_header(data)
