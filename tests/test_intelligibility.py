"""Round trip: speech from the TTS service, transcribed by Whisper tiny.en, must say the text."""

from __future__ import annotations

import re

import jiwer
import pytest
import requests

from bench.harness import Server
from tests.conftest import pcm_to_float, transcribe

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back as soon as you get this message.",
    "The weather today is sunny with a light breeze from the west.",
    "She opened the window and looked at the garden below.",
    "Our train leaves the station in the early afternoon.",
    "The children played football in the park until dinner.",
    "He forgot his umbrella and got wet on the way home.",
    "Fresh bread from the bakery smells wonderful in the morning.",
]


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def speak(server: Server, text: str) -> bytes:
    response = requests.post(f"{server.url}/api/tts", json={"text": text}, timeout=60)
    assert response.status_code == 200
    return response.content


def test_fixed_sentences_are_understood_with_low_word_error_rate(tts_server: Server, whisper) -> None:
    heard = [words(transcribe(whisper, pcm_to_float(speak(tts_server, text)))) for text in SENTENCES]
    error_rate = jiwer.wer([words(text) for text in SENTENCES], heard)
    assert error_rate <= 0.10, list(zip(SENTENCES, heard, strict=True))


NUMBER_WORDS = {
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "thirty",
    "fifty",
    "hundred",
}


def says_a_number(heard: str) -> bool:
    """Whisper writes numbers as digits or words; either shows the number was spoken."""
    return any(word.isdigit() or word in NUMBER_WORDS for word in heard.replace("$", " ").split())


@pytest.mark.parametrize(
    ("text", "other_words"),
    [
        ("It costs $5 on 3 May.", ["cost", "may"]),
        ("Mr. Brown arrived at 10:30.", ["brown", "arrived"]),
        ("We sold 250 tickets.", ["sold", "tickets"]),
    ],
)
def test_numbers_are_read_out_not_dropped(tts_server: Server, whisper, text: str, other_words: list[str]) -> None:
    heard = words(transcribe(whisper, pcm_to_float(speak(tts_server, text))))
    assert says_a_number(heard), (text, heard)
    assert all(word in heard for word in other_words), (text, heard)
