"""One access line per request or WebSocket session of the realtime service, in the shape the
WSGI services' gunicorn writes (`ACCESS_LOG_FORMAT`), with the request id the gateway gave it.

uvicorn's own lines do not fit: they carry no request id, they keep the query string (the
other services leave it out), and a WebSocket gets its line when it opens, so neither how long
the session lasted nor how it ended is known. This ASGI middleware writes its line when the
request or session is over; the worker turns uvicorn's lines off (`services.realtime.worker`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The logger gunicorn's access lines go to: the same handlers, the same files.
_ACCESS_LOG = logging.getLogger("gunicorn.access")


@dataclass
class Exchange:
    """What one request or session sent back, as its messages pass."""

    scope: Scope
    started: float = field(default_factory=time.monotonic)
    status: int | None = None
    body_bytes: int = 0
    close_code: int | None = None

    def sent(self, message: Message) -> None:
        kind = message["type"]
        if kind in ("http.response.start", "websocket.http.response.start"):
            self.status = message["status"]
        elif kind in ("http.response.body", "websocket.http.response.body"):
            self.body_bytes += len(message.get("body", b""))
        elif kind == "websocket.accept":
            self.status = 101
        elif kind == "websocket.send":
            payload = message.get("bytes")
            self.body_bytes += len(payload) if payload is not None else len(message.get("text", "").encode())
        elif kind == "websocket.close":
            self.close_code = self.close_code or message.get("code", 1000)
            # Closed before it was accepted: uvicorn refuses the handshake with 403.
            self.status = self.status or 403

    def received(self, message: Message) -> None:
        if message["type"] == "websocket.disconnect":
            self.close_code = self.close_code or message.get("code", 1005)

    def line(self) -> str:
        scope = self.scope
        client = scope.get("client")
        headers = dict(scope.get("headers", []))
        request_id = headers.get(b"x-request-id", b"-").decode("latin-1") or "-"
        method = scope.get("method", "GET")  # a WebSocket handshake is a GET
        line = " ".join(
            [
                time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
                client[0] if client else "-",
                f'"{method} {scope.get("path", "")} HTTP/{scope.get("http_version", "1.1")}"',
                # No answer at all: the app failed, and uvicorn answered 500 for it.
                str(self.status or 500),
                str(self.body_bytes),
                f"{round(1000 * (time.monotonic() - self.started))}ms",
                f"id={request_id}",
            ]
        )
        return line if self.close_code is None else f"{line} close={self.close_code}"


class AccessLog:
    """Wraps an ASGI app: every http and websocket exchange gets its line when it ends."""

    def __init__(self, app: AsgiApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        exchange = Exchange(scope)

        async def receive_noted() -> Message:
            message = await receive()
            exchange.received(message)
            return message

        async def send_noted(message: Message) -> None:
            exchange.sent(message)
            await send(message)

        try:
            await self._app(scope, receive_noted, send_noted)
        finally:
            _ACCESS_LOG.info(exchange.line())
