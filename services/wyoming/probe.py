"""Is a Wyoming server answering? `describe`, and an `info` back within a timeout.

Used by the gateway's `/healthz/all` (through the orchestrator), by `make run` and by the
images' health checks: `python -m services.wyoming.probe [tcp://127.0.0.1:10200] [--timeout S]`
(the address from HEALTH_URL when none is given) exits 0 once the server answers (retrying
until the timeout), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from wyoming.error import Error
from wyoming.event import read_event, write_event
from wyoming.info import Describe, Info


class Refused(ConnectionError):
    """The server answered describe with an error (its TTS service is down, say)."""


def describe(uri: str, timeout: float = 2.0) -> Info:
    """The server's `info`; OSError when it cannot be reached or answers something else."""
    address = urlparse(uri)
    if address.scheme != "tcp" or not address.hostname or not address.port:
        raise ValueError(f"{uri!r} is not a tcp://host:port address")
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        with sock.makefile("rwb") as stream:
            write_event(Describe().event(), stream)
            stream.flush()
            event = read_event(stream)
    if event is not None and Error.is_type(event.type):
        raise Refused(Error.from_event(event).text)
    if event is None or not Info.is_type(event.type):
        raise ConnectionError(f"{uri} answered describe with {event.type if event else 'nothing'}")
    return Info.from_event(event)


def report(uri: str, timeout: float = 2.0) -> dict[str, Any]:
    """What `/healthz/all` says of the server: ok with what it serves, or down with why."""
    try:
        info = describe(uri, timeout)
    except Refused as error:
        return {"status": "unavailable", "address": uri, "error": str(error)}
    except (OSError, ValueError) as error:
        return {"status": "down", "address": uri, "error": type(error).__name__}
    served = [voice.name for program in info.tts for voice in program.voices]
    served += [model.name for program in info.asr for model in program.models]
    # A server whose service has nothing to serve still answers describe: that is not ready.
    return {"status": "ok" if served else "unavailable", "address": uri, "serves": served}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uri", nargs="?", default=os.environ.get("HEALTH_URL", ""))
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to keep trying")
    parser.add_argument("--pid-file", type=Path, help="stop trying once this server's process has exited")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    while True:
        result = report(args.uri)
        if result["status"] == "ok" or time.monotonic() > deadline or _exited(args.pid_file):
            break
        time.sleep(0.5)
    print(result)
    sys.exit(0 if result["status"] == "ok" else 1)


def _exited(pid_file: Path | None) -> bool:
    if pid_file is None:
        return False
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):  # no file (the server removes it as it exits), or no process
        return True
    return False


if __name__ == "__main__":
    main()
