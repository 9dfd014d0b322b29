"""The gunicorn worker of the realtime service: uvicorn's, with WebSocket settings of its own."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from services.realtime.settings import RealtimeSettings

_settings = RealtimeSettings.from_env()


def _without_handshake_lines(record: logging.LogRecord) -> bool:
    """uvicorn notes each WebSocket handshake in its error log, with the query string; the
    app's access line says the same when the session ends, with its request id."""
    return not str(record.msg).startswith('%s - "WebSocket %s"')


class RealtimeWorker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "ws": "websockets-sansio",
        # A frame a little over REALTIME_MAX_FRAME_BYTES is read, and the session refuses it with
        # its own error message (1009); one over four times the limit is cut off by the server
        # itself, with 1009 and no message, before it is held in memory.
        "ws_max_size": 4 * _settings.max_frame_bytes,
        # A client whose network vanished (no close, no reset) is found by its missing pong and
        # its session place freed; the idle timeout alone would take as long only when idle.
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        # PCM barely compresses: deflating it would only cost the CPU the decoders need.
        "ws_per_message_deflate": False,
        # The app writes one line per request or session itself (`services.realtime.access_log`).
        "access_log": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        logging.getLogger("uvicorn.error").addFilter(_without_handshake_lines)

    def _install_sigquit_handler(self) -> None:
        # gunicorn's master sends QUIT to its workers when it is told to stop (`make stop` sends
        # it QUIT); the base class then only marks the worker dead, and uvicorn serves on until
        # the master kills it. Taken as TERM, uvicorn closes the sessions (1012) and exits.
        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, signal.raise_signal, signal.SIGTERM)
