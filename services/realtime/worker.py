"""The gunicorn worker of the realtime service: uvicorn's, with WebSocket settings of its own."""

from __future__ import annotations

import asyncio
import signal
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from services.realtime.settings import RealtimeSettings

_settings = RealtimeSettings.from_env()


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
    }

    def _install_sigquit_handler(self) -> None:
        # gunicorn's master sends QUIT to its workers when it is told to stop (`make stop` sends
        # it QUIT); the base class then only marks the worker dead, and uvicorn serves on until
        # the master kills it. Taken as TERM, uvicorn closes the sessions (1012) and exits.
        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, signal.raise_signal, signal.SIGTERM)
