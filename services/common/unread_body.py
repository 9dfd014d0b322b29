"""Keep a connection, and the answer on it, when the app answered before reading the whole body.

A service may answer a request before reading all of its body: audio declared or found too
long is refused at once, and so is a method a path does not take, a body of the wrong type or
size, a request without its API key (and OPTIONS is answered without a look at the body).
gunicorn then keeps the connection open only if it can read and drop the rest of the body in
64 KB; past that it closes the socket with the rest unread, and the kernel answers the bytes
still arriving with a reset. The gateway, still sending the body or reusing the kept-alive
connection for the next request, fails and reports 502 instead of the service's answer.

`DropUnreadBody` reads and drops the rest itself, after the answer has been written, up to
the largest body the gateway sends a service and within the body read timeout, so gunicorn
finds the body read and the connection stays open. Each WSGI service (ASR, TTS, the
orchestrator) is wrapped in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from services.common.config import env_int

_READ_BYTES = 64 * 1024
# The largest body the gateway passes on to a service (its client_max_body_size, which
# nginx/render.py writes the same way): MAX_AUDIO_DURATION of the largest raw audio, 48 kHz
# stereo 32-bit, plus room for headers.
LARGEST_BYTES_PER_SECOND = 48000 * 2 * 4
HEADER_ROOM_BYTES = 64 * 1024

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def max_audio_seconds() -> int:
    return env_int("MAX_AUDIO_DURATION", 15, minimum=1, maximum=3600)


def largest_body_bytes(audio_seconds: int | None = None) -> int:
    """The most bytes of body the gateway sends a service, for `audio_seconds` of audio
    (MAX_AUDIO_DURATION by default)."""
    seconds = max_audio_seconds() if audio_seconds is None else audio_seconds
    return seconds * LARGEST_BYTES_PER_SECOND + HEADER_ROOM_BYTES


class DropUnreadBody:
    """WSGI middleware: after each answer, read and drop what is left of the request body."""

    def __init__(self, app: WsgiApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return _AnswerThenDrop(self._app(environ, start_response), environ["wsgi.input"], self._max_bytes)


class _AnswerThenDrop:
    """The app's answer; when the server closes it, the rest of the body is read and dropped."""

    def __init__(self, answer: Iterable[bytes], body: BinaryIO, max_bytes: int) -> None:
        self._answer = answer
        self._body = body
        self._max_bytes = max_bytes

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._answer)

    def close(self) -> None:
        try:
            close = getattr(self._answer, "close", None)
            if close is not None:
                close()
        finally:
            _drop_rest(self._body, self._max_bytes)


def _drop_rest(body: BinaryIO, max_bytes: int) -> None:
    dropped = 0
    try:
        while dropped < max_bytes:
            block = body.read(min(_READ_BYTES, max_bytes - dropped))
            if not block:
                return
            dropped += len(block)
    except Exception:  # noqa: BLE001 - a body that cannot be read: gunicorn closes the connection, as it would
        return
