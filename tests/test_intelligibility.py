"""Round trip: speech from the TTS service, transcribed by Whisper tiny.en, must say the text."""

from __future__ import annotations

import re

import jiwer
import pytest
import requests

from tests.conftest import Server, pcm_to_float, transcribe

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back as soon as you get this message.",
    "The weather today is sunny with a light breeze from the west.",
    "She opened the window and looked at the garden below.",
    "Our train leaves the station in the early afternoon.",
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
    assert error_rate <= 0.10, list(zip(SENTENCES, heard))


@pytest.mark.parametrize(
    ("text", "expected_any"),
    [
        ("It costs $5 on 3 May.", [("5", "five"), ("may",), ("cost",)]),
        ("Mr. Brown arrived at 10:30.", [("mister", "mr"), ("brown",), ("10", "ten")]),
        ("We sold 250 tickets.", [("250", "two hundred"), ("tickets",)]),
    ],
)
def test_numbers_and_abbreviations_are_read_out_not_dropped(tts_server: Server, whisper, text: str, expected_any) -> None:
    heard = words(transcribe(whisper, pcm_to_float(speak(tts_server, text))))
    for alternatives in expected_any:
        assert any(alternative in heard for alternative in alternatives), (text, heard)
