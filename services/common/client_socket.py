"""Guarding a service against clients that stop sending in the middle of a request body."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any


def set_body_read_timeout(environ: Mapping[str, Any], seconds: float) -> None:
    """Make a body read that waits longer than `seconds` for data fail with TimeoutError.

    gunicorn's gthread worker reads request bodies from a blocking socket without a timeout,
    so a client that stops mid-upload would hold a worker thread forever; enough of them would
    wedge the service. gunicorn puts the client socket in the environment; a timeout on it
    bounds each wait (not the whole upload, which may take as long as the audio lasts). The
    worker resets the socket to plain blocking mode before it reads the next request.
    """
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(seconds)


class ClientConnection:
    """The client socket of a streamed response, for the limits a streaming app sets itself.

    gunicorn's threaded worker puts the socket in the environment; a server that does not
    (meinheld) gets none of these limits, and `drop` only ends the response.
    """

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._sock: socket.socket | None = environ.get("gunicorn.socket")

    def bound_send_buffer(self, size: int) -> None:
        """Queue at most about `size` bytes in the kernel for this client.

        Unbounded, Linux grows a send buffer to megabytes for a client that does not read,
        and each byte queued there is audio synthesized that nobody has taken.
        """
        if self._sock is not None:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)

    def bound_send_wait(self, seconds: float) -> None:
        """Fail a send that waits longer than `seconds` for the client to take anything."""
        if self._sock is not None:
            self._sock.settimeout(seconds)

    def drop(self) -> None:
        """Cut the connection, so the client sees a broken stream rather than a short one."""
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone
