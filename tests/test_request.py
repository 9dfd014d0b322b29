"""Validation of TTS requests (unit): every bad field is a 4xx with a stable code."""

import falcon
import pytest

from services.tts.request import from_fields

LIMIT = 100


def error_of(fields: dict) -> tuple[str, str]:
    with pytest.raises(falcon.HTTPError) as raised:
        from_fields(fields, LIMIT)
    return raised.value.status, raised.value.code


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({}, falcon.HTTP_400, "missing_text"),
        ({"text": ""}, falcon.HTTP_422, "empty_text"),
        ({"text": " \n\t "}, falcon.HTTP_422, "empty_text"),
        ({"text": 5}, falcon.HTTP_422, "invalid_text"),
        ({"text": ["a"]}, falcon.HTTP_422, "invalid_text"),
        ({"text": "x" * (LIMIT + 1)}, falcon.HTTP_413, "text_too_long"),
        ({"text": "hi", "voice": 3}, falcon.HTTP_422, "invalid_voice"),
        ({"text": "hi", "speed": 0}, falcon.HTTP_422, "invalid_speed"),
        ({"text": "hi", "speed": "fast"}, falcon.HTTP_422, "invalid_speed"),
        ({"text": "hi", "speed": True}, falcon.HTTP_422, "invalid_speed"),
        ({"text": "hi", "speed": "nan"}, falcon.HTTP_422, "invalid_speed"),
        ({"text": "hi", "sample_rate": 12345}, falcon.HTTP_422, "invalid_sample_rate"),
        ({"text": "hi", "sample_rate": "abc"}, falcon.HTTP_422, "invalid_sample_rate"),
    ],
)
def test_bad_fields_are_rejected(fields: dict, status: str, code: str) -> None:
    assert error_of(fields) == (status, code)


def test_defaults_and_query_string_values() -> None:
    request = from_fields({"text": "hi"}, LIMIT)
    assert (request.voice, request.speed, request.sample_rate) == (None, 1.0, 16000)
    request = from_fields({"text": "hi", "speed": "1.5", "sample_rate": "48000", "voice": "v"}, LIMIT)
    assert (request.voice, request.speed, request.sample_rate) == ("v", 1.5, 48000)
