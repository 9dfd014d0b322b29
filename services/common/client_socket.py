"""Guarding a service against clients that stop sending in the middle of a request body."""

from __future__ import annotations

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
