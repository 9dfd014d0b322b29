"""Carrying recognized text in an HTTP header (X-Recognized-Text) safely.

Printable ASCII other than "%" goes as is; every other character is percent-encoded as UTF-8
(RFC 3986), so the value never holds CR, LF or other control characters, whatever the
recognizer returned. Clients decode it with any URL-decoding function
(`urllib.parse.unquote` in Python, `decodeURIComponent` in JavaScript); plain English text
reads unchanged.
"""

from __future__ import annotations

from urllib.parse import quote

# Printable ASCII (space to tilde) except "%", which must be encoded for decoding to be exact.
_SAFE = "".join(chr(code) for code in range(0x20, 0x7F) if chr(code) != "%")


def encode_header_text(text: str) -> str:
    return quote(text, safe=_SAFE)
