"""The Piper engine on the exported joe voice: span decoding is exact, first part comes first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.tts.engines.piper import PiperVoice
from tests.conftest import VOICE_ID

SENTENCE = "The museum opens at nine in the morning and closes at six."


@pytest.fixture(scope="module")
def voice(models_dir: Path) -> PiperVoice:
    bundle = models_dir / "tts" / VOICE_ID
    return PiperVoice(bundle, json.loads((bundle / "voice.json").read_text()), threads=2)


def snr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    return 10 * np.log10(np.sum(reference**2) / max(np.sum((reference - candidate) ** 2), 1e-30))


def test_spans_decode_exactly_like_the_whole_piece(voice: PiperVoice) -> None:
    latent = voice.encode(SENTENCE)
    whole = voice.decode(latent, 0, latent.frames)
    assert len(whole) == latent.frames * voice.hop_length
    for split in (1, 26, latent.frames // 2, latent.frames - 1):
        parts = np.concatenate([voice.decode(latent, 0, split), voice.decode(latent, split, latent.frames)])
        assert snr_db(whole, parts) > 60, split


def test_first_part_is_decoded_ahead_of_the_rest(voice: PiperVoice) -> None:
    first, rest = voice.synthesize(SENTENCE, first_part_seconds=0.3)
    assert abs(len(first) / voice.sample_rate - 0.3) < 0.02
    assert len(rest) > 3 * len(first)


def test_spans_after_the_first_can_grow(voice: PiperVoice) -> None:
    parts = list(voice.synthesize(SENTENCE, first_part_seconds=0.3, span_growth=3))
    assert len(parts) >= 3
    assert abs(len(parts[0]) / voice.sample_rate - 0.3) < 0.02
    # Each span but the last is three times the one before it.
    for earlier, later in zip(parts[:-2], parts[1:-1], strict=True):
        assert abs(len(later) - 3 * len(earlier)) <= 3 * voice.hop_length
    (whole,) = voice.synthesize(SENTENCE)
    assert abs(len(whole) - sum(map(len, parts))) < 0.25 * len(whole)  # same text, its own random prosody


def test_speed_scales_the_number_of_frames(voice: PiperVoice) -> None:
    normal = voice.encode(SENTENCE).frames
    assert voice.encode(SENTENCE, speed=2.0).frames < 0.7 * normal
    assert voice.encode(SENTENCE, speed=0.5).frames > 1.4 * normal


def test_text_without_phonemes_gives_no_audio(voice: PiperVoice) -> None:
    assert voice.encode("") is None
    assert list(voice.synthesize("")) == []
