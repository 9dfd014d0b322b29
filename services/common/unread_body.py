"""Keep a connection, and the answer on it, when the app answered before reading the whole body.

A service may answer an upload before reading all of it: audio declared or found too long is
refused at once. gunicorn then keeps the connection open only if it can read and drop the rest
of the body in 64 KB; past that it closes the socket with the rest unread, and the kernel
answers the bytes still arriving with a reset. The gateway, still sending the upload, fails
with a broken pipe and reports 502 instead of the service's answer.

`DropUnreadBody` reads and drops the rest itself, after the answer has been written, up to
the largest body the service accepts (the gateway sends no more) and within the body read
timeout, so gunicorn finds the body read and the connection stays open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

_READ_BYTES = 64 * 1024

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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
