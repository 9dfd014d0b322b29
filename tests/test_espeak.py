"""The espeak-ng phonemizer: Piper's phonemes exactly, without Piper's leak."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

import pytest
from piper.phonemize_espeak import EspeakPhonemizer as PiperPhonemizer

from services.tts.engines.espeak import EspeakPhonemizer

TEXTS = [
    "Hello world.",
    "The museum opens at nine in the morning, and closes at six.",
    "Is it open today? Yes! Come in: the door is on the left; the cafe is on the right.",
    "No terminator at the end",
    "Dr. Smith paid $3.50 for 2 coffees on 12/03/2024 at 10:45.",
    "A naïve café owner said “bonjour” — then left...",
    "Wait... what?! (Really.) [Yes] {no}",
    "",
    "?!.",
    "Numbers like 1,234,567 and 3.14159 are read out.",
]


@pytest.fixture(scope="module")
def ours() -> EspeakPhonemizer:
    return EspeakPhonemizer()


@pytest.mark.parametrize("voice", ["en-us", "de", "fr"])
def test_the_phonemes_are_piper_s_own(ours: EspeakPhonemizer, voice: str) -> None:
    piper = PiperPhonemizer()
    for text in TEXTS:
        assert ours.sentences(voice, text) == piper.phonemize(voice, text), text


def growth_per_call(phonemize: Callable[[str, str], object], calls: int = 2000) -> float:
    """Bytes that stay allocated per call, over `calls` calls after a warm-up."""
    text = "The museum opens at nine, and closes at six. Is it open today? Yes!"
    for _ in range(100):
        phonemize("en-us", text)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(calls):
            phonemize("en-us", text)
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / calls
    finally:
        tracemalloc.stop()


def test_nothing_stays_in_memory_from_call_to_call(ours: EspeakPhonemizer) -> None:
    assert growth_per_call(ours.sentences) < 5
    # The reason for this module: once Piper's own stops growing, it can be used again.
    assert growth_per_call(PiperPhonemizer().phonemize) > 500
