"""The Vosk engine for real, on the Korean Vosk model (the only Vosk model a package ships).

Korean speech comes from espeak-ng. The English model (vosk-model-small-en-us) goes through
the same code; it is exported and tested the same way where it can be downloaded.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import jiwer
import numpy as np
import pytest
import requests
import soxr

from bench.harness import Server
from services.asr.engines.base import RecognitionOptions, Transcript
from services.asr.engines.vosk_engine import VoskEngine
from services.asr.wav_header import parse_wav_header
from tests.conftest import encode_pcm

KOREAN = "안녕하세요 만나서 반갑습니다. 오늘 날씨가 정말 좋네요."


def korean_speech(text: str = KOREAN) -> np.ndarray:
    """espeak-ng speaking Korean, as float audio at 16 kHz."""
    wav = subprocess.run(["espeak-ng", "-v", "ko", text, "--stdout"], capture_output=True, check=True).stdout
    fmt, offset = parse_wav_header(wav)
    audio = np.frombuffer(wav[offset:], dtype="<i2").astype(np.float32) / 32768
    return soxr.resample(audio, fmt.sample_rate, 16000)


def as_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2")


@pytest.fixture(scope="session")
def vosk_engine(vosk_models_dir: Path) -> VoskEngine:
    return VoskEngine(vosk_models_dir / "asr" / "vosk-ko", "ko")


def test_exported_model_is_chosen_by_default_and_named(asr_vosk_server: Server) -> None:
    health = requests.get(f"{asr_vosk_server.url}/healthz", timeout=5).json()
    assert (health["engine"], health["model"]) == ("vosk", "vosk-ko")
    models = requests.get(f"{asr_vosk_server.url}/api/stt/models", timeout=5).json()
    assert models["loaded"]["languages"] == ["ko"] and models["loaded"]["streaming"] is True


def test_feeding_in_small_blocks_recognizes_like_one_block(vosk_engine: VoskEngine) -> None:
    audio = as_int16(korean_speech())

    def recognize(block: int) -> str:
        session = vosk_engine.start()
        for start in range(0, len(audio), block):
            session.accept(audio[start : start + block])
        return Transcript.of(session.finish(RecognitionOptions("ko"))).text

    whole = recognize(len(audio))
    assert len(whole.split()) >= 5
    for block in (1600, 333):
        # Kaldi's endpointing sees different block edges, so a word may differ (on this
        # synthetic Korean, up to 7 of 18 were seen); dropped or repeated blocks change far more.
        assert jiwer.wer(whole, recognize(block)) <= 0.4


def test_word_times_increase_and_stay_within_the_audio(asr_vosk_server: Server) -> None:
    audio = korean_speech()
    response = requests.post(
        f"{asr_vosk_server.url}/api/stt/bytes?lang=ko", data=encode_pcm(audio, "s16le"), timeout=60
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["language"] == "ko" and result["engine"] == "vosk"
    segments = result["segments"]
    assert len(segments) >= 5
    for previous, current in zip(segments, segments[1:], strict=False):
        assert previous["start_ms"] <= current["start_ms"] and previous["end_ms"] <= current["end_ms"]
    assert all(0 <= s["start_ms"] <= s["end_ms"] <= len(audio) / 16 + 50 for s in segments)
    assert all(0 <= s["confidence"] <= 1 for s in segments)


def test_silence_gives_no_words(asr_vosk_server: Server) -> None:
    result = requests.post(f"{asr_vosk_server.url}/api/stt/bytes?lang=ko", data=bytes(32000 * 2), timeout=30).json()
    assert (result["text"], result["segments"]) == ("", [])


def test_english_is_refused_by_a_korean_model(asr_vosk_server: Server) -> None:
    response = requests.post(f"{asr_vosk_server.url}/api/stt/bytes?lang=en", data=bytes(3200), timeout=30)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_language"


def test_paced_15_second_upload_is_decoded_while_it_arrives(asr_vosk_server: Server) -> None:
    speech = korean_speech()
    pause = np.zeros(16000, dtype=np.float32)
    audio = np.concatenate([speech, pause] * 10)[: 15 * 16000]  # exactly the 15 s limit
    pcm = encode_pcm(audio, "s16le")
    block = 3200  # 100 ms, sent every 100 ms: real-time speed
    started = time.perf_counter()

    def paced():
        for start in range(0, len(pcm), block):
            yield pcm[start : start + block]
            time.sleep(max(0.0, started + (start + block) / 32000 - time.perf_counter()))

    response = requests.post(f"{asr_vosk_server.url}/api/stt/bytes?lang=ko", data=paced(), timeout=90)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["duration_seconds"] == 15.0
    assert len(result["segments"]) >= 10
    timing = result["timing"]
    # The engine got audio within the first second of a 15 s upload: decoding ran alongside it.
    assert timing["first_audio_ms"] < 1000 < 14000 < timing["upload_ms"]
