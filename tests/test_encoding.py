"""Streaming encoders and the tempo stage (unit): every format decodes back to the audio given,
bytes leave chunk by chunk, and streams carry nothing that claims a length."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.audio import TempoStretch
from services.common.encoding import ENCODINGS, open_encoder
from tests.media import decode_file, opus_input_rate

RATE = 24000
TONE = (0.4 * np.sin(2 * np.pi * 330 * np.arange(2 * RATE) / RATE)).astype(np.float32)
CHUNK = int(0.3 * RATE)  # a first audio span


def encode_in_chunks(name: str) -> list[bytes]:
    encoder = open_encoder(name, RATE)
    chunks = [encoder.encode(TONE[start : start + CHUNK]) for start in range(0, len(TONE), CHUNK)]
    return [*chunks, encoder.finish()]


def dominant_frequency(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


@pytest.mark.parametrize("name", ["mp3", "opus", "aac", "flac", "wav"])
def test_each_format_decodes_to_the_tone_given(name: str) -> None:
    chunks = encode_in_chunks(name)
    assert chunks[0], "the first span gives bytes at once"
    data = b"".join(chunks)
    decoded = decode_file(data)
    made_at = opus_input_rate(data) if name == "opus" else decoded.rate
    assert made_at == RATE
    assert abs(len(decoded.audio) / decoded.rate - 2.0) < 0.1
    assert abs(dominant_frequency(decoded.audio, decoded.rate) - 330) < 5
    assert abs(np.sqrt(np.mean(decoded.audio**2)) - 0.4 / np.sqrt(2)) < 0.03


def test_pcm_is_the_samples_and_wav_puts_a_streaming_header_first() -> None:
    pcm = b"".join(encode_in_chunks("pcm"))
    assert len(pcm) == 2 * len(TONE)
    wav = b"".join(encode_in_chunks("wav"))
    assert wav[:4] == b"RIFF" and wav[44:] == pcm
    assert open_encoder("wav", RATE).finish()[:4] == b"RIFF"  # even an empty stream is a WAV file


def test_an_mp3_stream_is_frames_only() -> None:
    data = b"".join(encode_in_chunks("mp3"))
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0  # starts with a frame, not a tag
    assert b"Xing" not in data and b"Info" not in data[:400]


def test_media_types() -> None:
    assert {name: encoding.media_type for name, encoding in ENCODINGS.items()} == {
        "pcm": "audio/pcm",
        "wav": "audio/wav",
        "mp3": "audio/mpeg",
        "opus": "audio/ogg; codecs=opus",
        "aac": "audio/aac",
        "flac": "audio/flac",
    }


@pytest.mark.parametrize("tempo", [0.5, 2.0])
def test_tempo_changes_the_length_not_the_pitch(tempo: float) -> None:
    stretch = TempoStretch(RATE, tempo)
    parts = [stretch.push(TONE[start : start + CHUNK]) for start in range(0, len(TONE), CHUNK)]
    audio = np.concatenate([*parts, stretch.flush()])
    assert abs(len(audio) / RATE - 2.0 / tempo) < 0.05
    assert abs(dominant_frequency(audio, RATE) - 330) < 5
    assert sum(len(part) for part in parts[:2]) > 0  # audio leaves while more comes in
