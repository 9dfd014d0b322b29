"""What a TTS request asks for, validated: the single place that turns input into 4xx errors."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import falcon

from services.common.errors import api_error
from services.tts.settings import ALLOWED_SAMPLE_RATES, DEFAULT_SAMPLE_RATE, MAX_SPEED, MIN_SPEED

# Room for the largest allowed text written as JSON (up to 12 bytes a character, for a
# "\ud83d\ude42" escaped surrogate pair) plus the other fields.
_JSON_BYTES_PER_CHAR = 12
_JSON_OVERHEAD_BYTES = 4096


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str | None
    speed: float
    sample_rate: int


def text_field(value: Any, max_chars: int, name: str = "text") -> str:
    """The text to say; `name` is the field as the caller's API calls it."""
    if value is None:
        raise api_error(falcon.HTTP_400, f"missing_{name}", f"the request has no '{name}'", param=name)
    if not isinstance(value, str):
        raise api_error(falcon.HTTP_422, f"invalid_{name}", f"'{name}' must be a string", param=name)
    if not value.strip():
        raise api_error(falcon.HTTP_422, f"empty_{name}", f"'{name}' is empty", param=name)
    if len(value) > max_chars:
        raise api_error(
            falcon.HTTP_413,
            "text_too_long",
            f"'{name}' is {len(value)} characters; the limit is {max_chars}",
            param=name,
        )
    return value


def _voice(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise api_error(
            falcon.HTTP_422, "invalid_voice", "'voice' must be a string (see GET /api/voices)", param="voice"
        )
    return value


def _number(value: Any, name: str) -> float:
    """A JSON number, or a query-string value that parses as one."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise api_error(falcon.HTTP_422, f"invalid_{name}", f"'{name}' must be a number", param=name)
    return float(value)


def speed_field(value: Any) -> float:
    if value is None:
        return 1.0
    speed = _number(value, "speed")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise api_error(
            falcon.HTTP_422, "invalid_speed", f"'speed' must be between {MIN_SPEED} and {MAX_SPEED}", param="speed"
        )
    return speed


def _sample_rate(value: Any) -> int:
    if value is None:
        return DEFAULT_SAMPLE_RATE
    rate = _number(value, "sample_rate")
    if rate not in ALLOWED_SAMPLE_RATES:
        allowed = ", ".join(str(r) for r in ALLOWED_SAMPLE_RATES)
        raise api_error(
            falcon.HTTP_422, "invalid_sample_rate", f"'sample_rate' must be one of {allowed}", param="sample_rate"
        )
    return int(rate)


def from_fields(fields: Mapping[str, Any], max_chars: int) -> SpeechRequest:
    return SpeechRequest(
        text=text_field(fields.get("text"), max_chars),
        voice=_voice(fields.get("voice")),
        speed=speed_field(fields.get("speed")),
        sample_rate=_sample_rate(fields.get("sample_rate")),
    )


def read_json_object(req: falcon.Request, max_chars: int) -> dict[str, Any]:
    """A POST body that must be a JSON object, with room for `max_chars` of text. Checks the
    media type and the size before reading a byte of it."""
    if req.content_type is None or req.content_type.split(";")[0].strip().lower() != falcon.MEDIA_JSON:
        raise api_error(
            falcon.HTTP_415, "unsupported_media_type", "send the request as JSON with 'Content-Type: application/json'"
        )
    max_bytes = max_chars * _JSON_BYTES_PER_CHAR + _JSON_OVERHEAD_BYTES
    if req.content_length is not None and req.content_length > max_bytes:
        raise api_error(
            falcon.HTTP_413, "body_too_large", f"the body is {req.content_length} bytes; the limit is {max_bytes}"
        )
    raw = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise api_error(falcon.HTTP_413, "body_too_large", f"the body is over the limit of {max_bytes} bytes")
    try:
        fields = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise api_error(falcon.HTTP_400, "malformed_json", f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise api_error(falcon.HTTP_400, "malformed_json", "the body is nested too deeply") from None
    if not isinstance(fields, dict):
        raise api_error(falcon.HTTP_400, "invalid_body", "the JSON body must be an object")
    return fields


def from_json_body(req: falcon.Request, max_chars: int) -> SpeechRequest:
    return from_fields(read_json_object(req, max_chars), max_chars)


def from_query(req: falcon.Request, max_chars: int) -> SpeechRequest:
    return from_fields(req.params, max_chars)
