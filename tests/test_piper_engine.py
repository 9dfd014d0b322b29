"""The Piper engine on the exported joe voice: span decoding is exact, first part comes first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.tts.engines.piper import PiperScales, PiperVoice
from tests.conftest import VOICE_ID

SENTENCE = "The museum opens at nine in the morning and closes at six."


@pytest.fixture(scope="module")
def voice(models_dir: Path) -> PiperVoice:
    bundle = models_dir / "tts" / VOICE_ID
    return PiperVoice(bundle, json.loads((bundle / "voice.json").read_text()), threads=2)


def snr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    return 10 * np.log10(np.sum(reference**2) / max(np.sum((reference - candidate) ** 2), 1e-30))


def test_spans_decode_exactly_like_the_whole_piece(voice: PiperVoice) -> None:
    # Exactness is the audio model's: the text model's noise only made each run a random draw
    # of latents (on one in many a split came out at 57 dB), so the latent here is noiseless.
    noiseless = PiperScales(noise_scale=0.0, length_scale=1.0, noise_w=0.0)
    latent = voice.encode(SENTENCE, scales=noiseless)
    whole = voice.decode(latent, 0, latent.frames)
    assert len(whole) == latent.frames * voice.hop_length
    for split in (1, 26, latent.frames // 2, latent.frames - 1):
        parts = np.concatenate([voice.decode(latent, 0, split), voice.decode(latent, split, latent.frames)])
        assert snr_db(whole, parts) > 60, split


def test_first_part_is_decoded_ahead_of_the_rest(voice: PiperVoice) -> None:
    first, *rest = voice.synthesize(SENTENCE, first_part_seconds=0.3)
    assert abs(len(first) / voice.sample_rate - 0.3) < 0.02
    assert rest and sum(map(len, rest)) > 3 * len(first)
    (whole,) = voice.synthesize(SENTENCE)
    assert abs(len(whole) - len(first) - sum(map(len, rest))) < 0.25 * len(whole)  # its own random prosody


def test_the_rest_comes_whole_when_it_can_be_decoded_before_the_audio_in_hand_plays(voice: PiperVoice) -> None:
    context = voice.context_frames
    # 1 ms a frame with a margin of two: 0.3 s in hand pays for 150 decoded frames.
    rest = 150 - 2 * context
    assert voice._next_span_end(26, 26 + rest + context, 0.3, 0.001, 26) == 26 + rest + context
    # Longer: the longest span that can be decoded in time, its context included.
    assert voice._next_span_end(26, 1000, 0.3, 0.001, 26) == 26 + rest
    # Too slow for even a span as long as the first: the rest in one go, the fewest frames.
    assert voice._next_span_end(26, 1000, 0.3, 0.1, 26) == 1000


def test_speed_scales_the_number_of_frames(voice: PiperVoice) -> None:
    normal = voice.encode(SENTENCE).frames
    assert voice.encode(SENTENCE, speed=2.0).frames < 0.7 * normal
    assert voice.encode(SENTENCE, speed=0.5).frames > 1.4 * normal


def test_text_without_phonemes_gives_no_audio(voice: PiperVoice) -> None:
    assert voice.encode("") is None
    assert list(voice.synthesize("")) == []

