"""Run a Wyoming server: `python -m services.wyoming tts` (port 10200) or `... asr` (10300).

Settings come from the environment (`services/wyoming/settings.py`); `--pid-file` is for
`make run`, which starts the servers in the background. SIGTERM, SIGINT and SIGQUIT stop the
server: connections are closed and the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

from prometheus_client import start_http_server
from wyoming.server import AsyncTcpServer, HandlerFactory

from services.common.logs import configure_logging
from services.common.places import Places
from services.wyoming.events import ConnectionLimits
from services.wyoming.program import PROGRAM_NAME
from services.wyoming.settings import WyomingSettings

_LOG = logging.getLogger("services.wyoming")


def tts_handlers(settings: WyomingSettings, base: dict[str, object], resources: AsyncExitStack) -> HandlerFactory:
    from services.wyoming.tts import TtsHandler
    from services.wyoming.tts_service import TtsService

    _LOG.info("Wyoming TTS: speech from the TTS service at %s", settings.tts_url)
    service = TtsService(settings.tts_url, settings.api_key)
    resources.push_async_callback(service.close)
    return partial(TtsHandler, service=service, **base)


def asr_handlers(settings: WyomingSettings, base: dict[str, object], resources: AsyncExitStack) -> HandlerFactory:
    from services.asr.models import choose_engine, find_models
    from services.asr.recognize import Recognizer
    from services.asr.settings import AsrSettings
    from services.wyoming.asr import AsrHandler

    asr_settings = AsrSettings.from_env()
    choice = choose_engine(asr_settings)
    engine_id = choice.engine.id if choice.engine else None
    exported = next((m for m in find_models(asr_settings.models_dir) if m.directory.name == engine_id), None)
    pool = ThreadPoolExecutor(max_workers=settings.max_sessions, thread_name_prefix="wyoming-asr")
    resources.callback(pool.shutdown, cancel_futures=True)
    return partial(
        AsrHandler,
        recognizer=Recognizer(choice, asr_settings),
        exported=exported,
        sessions=Places(settings.max_sessions),
        pool=pool,
        **base,
    )


async def serve(kind: str, settings: WyomingSettings) -> None:
    port = settings.tts_port if kind == "tts" else settings.asr_port
    base: dict[str, object] = {
        "connections": Places(settings.max_clients),
        "limits": ConnectionLimits(settings.idle_timeout_seconds, settings.max_event_bytes),
    }
    metrics_port = settings.tts_metrics_port if kind == "tts" else settings.asr_metrics_port
    server = AsyncTcpServer(settings.host, port)
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGQUIT):  # SIGTERM: the server handles it itself
        loop.add_signal_handler(stop_signal, server._handle_stop_signal, loop)
    async with AsyncExitStack() as resources:
        handlers = (tts_handlers if kind == "tts" else asr_handlers)(settings, base, resources)
        if metrics_port:
            # The process's metrics (the ASR server's live audio, memory, CPU) over plain HTTP,
            # from prometheus-client's own small server: the protocol's port speaks only Wyoming.
            metrics_server, _ = start_http_server(metrics_port, settings.host)
            resources.callback(metrics_server.shutdown)
            _LOG.info("metrics on http://%s:%d/metrics", settings.host, metrics_port)
        if settings.zeroconf:
            await announce(kind, port)
        _LOG.info("Wyoming %s server listening on tcp://%s:%d", kind.upper(), settings.host, port)
        await server.run(handlers)
    _LOG.info("Wyoming %s server stopped", kind.upper())


async def announce(kind: str, port: int) -> None:
    """Home Assistant discovers `_wyoming._tcp` services on the local network (mDNS)."""
    from wyoming.zeroconf import HomeAssistantZeroconf

    announcement = HomeAssistantZeroconf(port=port, name=f"{PROGRAM_NAME}-{kind}-{socket.gethostname()}")
    await announcement.register_server()
    _LOG.info("announced as %s._wyoming._tcp on the local network", announcement.name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.wyoming", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("tts", "asr"))
    parser.add_argument("--pid-file", type=Path, help="write this process's id here, and remove it on exit")
    args = parser.parse_args()
    configure_logging(f"wyoming-{args.kind}")
    if args.pid_file:
        args.pid_file.write_text(f"{os.getpid()}\n")
    try:
        asyncio.run(serve(args.kind, WyomingSettings.from_env()))
    except OSError as error:  # the port is taken, or the address is not this machine's
        _LOG.error("the Wyoming %s server cannot listen: %s", args.kind.upper(), error)
        sys.exit(1)
    finally:
        if args.pid_file:
            args.pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
