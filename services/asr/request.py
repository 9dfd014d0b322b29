"""Query parameters of an STT request, validated: 422 naming the allowed values."""

from __future__ import annotations

from dataclasses import dataclass

import falcon

from services.asr.audio_input import ALLOWED_CHANNELS, ALLOWED_SAMPLE_RATES, SAMPLE_FORMATS, PcmFormat
from services.common.errors import api_error


@dataclass(frozen=True)
class SttParams:
    format: PcmFormat
    language: str


def _choice(req: falcon.Request, name: str, allowed: tuple, default):
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    for value in allowed:
        if raw == str(value):
            return value
    allowed_text = ", ".join(str(value) for value in allowed)
    raise api_error(falcon.HTTP_422, f"invalid_{name}", f"'{name}' must be one of {allowed_text}; got {raw!r}")


def check_format(fmt: PcmFormat) -> None:
    """Refuse a format (from a WAV header) outside what the query string may ask for."""
    if fmt.sample_rate not in ALLOWED_SAMPLE_RATES:
        allowed = ", ".join(map(str, ALLOWED_SAMPLE_RATES))
        raise api_error(falcon.HTTP_422, "invalid_sr", f"the WAV is {fmt.sample_rate} Hz; supported: {allowed}")
    if fmt.channels not in ALLOWED_CHANNELS:
        raise api_error(falcon.HTTP_422, "invalid_ch", f"the WAV has {fmt.channels} channels; supported: 1, 2")


def parse_params(req: falcon.Request) -> SttParams:
    fmt = PcmFormat(
        sample_rate=_choice(req, "sr", ALLOWED_SAMPLE_RATES, 16000),
        channels=_choice(req, "ch", ALLOWED_CHANNELS, 1),
        sample_format=_choice(req, "fmt", tuple(SAMPLE_FORMATS), "s16le"),
    )
    language = (req.get_param("lang") or "en").strip().lower()
    return SttParams(fmt, language)
