"""Audio helpers on the streaming path (unit)."""

import io
import wave

import numpy as np

from services.common.audio import StreamResampler, cut_frames, float_to_s16le, wav_stream_header


def test_frames_are_cut_to_size_across_chunk_boundaries() -> None:
    chunks = [b"a" * 5000, b"b" * 100, b"c" * 9000]
    frames = list(cut_frames(chunks, 4096))
    assert b"".join(frames) == b"".join(chunks)
    assert [len(frame) for frame in frames] == [4096, 4096, 4096, 1812]


def test_framing_sends_nothing_for_empty_input() -> None:
    assert list(cut_frames([b"", b""], 4096)) == []


def test_float_to_s16le_scales_and_clips() -> None:
    pcm = float_to_s16le(np.array([0.0, 1.0, -1.0, 2.0, -2.0, 0.5], dtype=np.float32))
    assert np.frombuffer(pcm, dtype="<i2").tolist() == [0, 32767, -32767, 32767, -32767, 16383]


def test_resampling_in_chunks_keeps_duration_and_pitch() -> None:
    rate = 22050
    tone = np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
    resampler = StreamResampler(rate, 16000)
    out = np.concatenate([resampler.push(tone[:3000]), resampler.push(tone[3000:]), resampler.flush()])
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 s of audio: bin index == Hz
    # No seam at the chunk boundary: the middle of the tone stays a clean sine.
    middle = out[1000:15000]
    expected = np.sin(2 * np.pi * 440 * (np.arange(1000, 15000) / 16000))
    assert np.max(np.abs(np.abs(middle) - np.abs(expected))) < 0.05


def test_same_rate_passes_audio_through() -> None:
    audio = np.ones(10, dtype=np.float32)
    resampler = StreamResampler(16000, 16000)
    assert resampler.push(audio) is audio and len(resampler.flush()) == 0


def test_streaming_wav_header_is_read_by_the_wave_module() -> None:
    pcm = float_to_s16le(np.zeros(1600, dtype=np.float32))
    with wave.open(io.BytesIO(wav_stream_header(16000) + pcm)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.readframes(10**9) == pcm
