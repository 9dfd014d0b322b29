"""Wait for a service's health endpoint: used by `make run`, the tests and the images' health checks."""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_healthy(url: str, timeout: float, still_running: Callable[[], bool] = lambda: True) -> bool:
    """Poll `url` until it answers 200, the deadline passes, or the process has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(url):
            return True
        if not still_running():
            return False
        time.sleep(0.2)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description="Wait until a health endpoint answers 200.")
    # An image sets HEALTH_URL, so its one HEALTHCHECK line serves every service.
    parser.add_argument("url", nargs="?", default=os.environ.get("HEALTH_URL"))
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    if not args.url:
        parser.error("give the URL to check, or set HEALTH_URL")
    if wait_until_healthy(args.url, args.timeout):
        return 0
    try:
        with urllib.request.urlopen(args.url, timeout=2) as response:
            body = response.read().decode()
    except urllib.error.HTTPError as error:
        body = error.read().decode()
    except (urllib.error.URLError, OSError) as error:
        body = str(error)
    print(f"{args.url} is not healthy after {args.timeout:.0f} s: {body}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
