"""API keys: with API_KEYS set, `/api` and `/v1` answer only requests that carry one.

A stack of its own (nginx + the three services) with two keys, through the gateway.
"""

from __future__ import annotations

import jiwer
import openai
import pytest
import requests

from bench.harness import Gateway
from tests.conftest import VOICE_ID
from tests.test_intelligibility import words

# A whole sentence, judged by word error rate: a two-word greeting is too short for Whisper tiny to
# hear the same way on every CPU.
ROUND_TRIP = "Please call me back as soon as you get this message."


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_sdk_needs_one_of_the_keys(keyed_gateway: Gateway) -> None:
    wrong = openai.OpenAI(base_url=f"{keyed_gateway.url}/v1", api_key="key-three", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert raised.value.code == "invalid_api_key" and raised.value.type == "invalid_request_error"
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    right = openai.OpenAI(base_url=f"{keyed_gateway.url}/v1", api_key="key-two", max_retries=0)
    wav = right.audio.speech.create(model="tts-1", voice="alloy", input=ROUND_TRIP, response_format="wav")
    assert wav.content.startswith(b"RIFF")
    text = right.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav.content), response_format="text")
    assert jiwer.wer(words(ROUND_TRIP), words(text)) <= 0.1, text
    assert VOICE_ID in [model.id for model in right.models.list()]


def test_the_native_api_needs_a_key_and_answers_in_its_own_shape(keyed_gateway: Gateway) -> None:
    url = f"{keyed_gateway.url}/api/tts"
    for headers in ({}, bearer("key-three"), {"Authorization": "key-one"}):
        refused = requests.post(url, json={"text": "Hello."}, headers=headers, timeout=30)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
        assert refused.json() == {"error": {"code": "invalid_api_key", "message": refused.json()["error"]["message"]}}
    speech = requests.post(url, json={"text": "Hello there."}, headers=bearer("key-one"), timeout=30)
    assert speech.status_code == 200 and len(speech.content) > 16000
    assert requests.get(f"{keyed_gateway.url}/api/voices", timeout=10).status_code == 401


def test_echo_passes_the_key_on_to_both_services(keyed_gateway: Gateway) -> None:
    pcm = requests.post(
        f"{keyed_gateway.url}/api/tts", json={"text": ROUND_TRIP}, headers=bearer("key-two"), timeout=30
    ).content
    echo = f"{keyed_gateway.url}/api/echo-bytes?sr=16000"
    assert requests.post(echo, data=pcm, timeout=60).status_code == 401
    answer = requests.post(echo, data=pcm, headers=bearer("key-two"), timeout=60)
    assert answer.status_code == 200, answer.text
    heard = answer.headers["X-Recognized-Text"]
    assert jiwer.wer(words(ROUND_TRIP), words(heard)) <= 0.1, heard
    assert len(answer.content) > 16000


def test_health_and_the_lists_open_webui_reads_without_a_key_stay_open(keyed_gateway: Gateway) -> None:
    assert requests.get(f"{keyed_gateway.url}/healthz", timeout=10).status_code == 200
    voices = requests.get(f"{keyed_gateway.url}/v1/audio/voices", timeout=10)
    assert voices.status_code == 200 and voices.json()["voices"]
    assert requests.get(f"{keyed_gateway.url}/v1/audio/models", timeout=10).status_code == 200
