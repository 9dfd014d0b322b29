"""Timing helpers the benchmarks share: uploads paced like a live client, first-byte and total latency."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from dataclasses import dataclass


def send_body(
    connection: http.client.HTTPConnection, body: bytes, paced: bool, bytes_per_second: int, block: int = 3200
) -> float:
    """Send a request body, in one piece or at real-time speed; return when the last byte left."""
    started = time.perf_counter()
    if paced:
        for start in range(0, len(body), block):
            connection.send(body[start : start + block])
            time.sleep(max(0.0, started + (start + block) / bytes_per_second - time.perf_counter()))
    else:
        connection.send(body)
    return time.perf_counter()


@dataclass(frozen=True)
class PostTiming:
    """One streamed answer as a plain client sees it."""

    first_byte_s: float
    total_s: float
    size: int  # bytes of the answer's body


def timed_post(url: str, json_body: dict) -> PostTiming:
    """Seconds from opening a connection and sending a JSON POST to the first byte of the
    answer's body, and to its last byte: what a plain client such as curl sees, with as
    little client work inside the measurement as can be."""
    parts = urllib.parse.urlsplit(url)
    body = json.dumps(json_body).encode()
    started = time.perf_counter()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        connection.request("POST", parts.path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {response.read()[:200]!r}")
        size = len(response.read1(65536))
        first = time.perf_counter() - started
        size += len(response.read())
        total = time.perf_counter() - started
    finally:
        connection.close()
    return PostTiming(first, total, size)


def first_byte_seconds(url: str, json_body: dict) -> float:
    """Seconds to the first byte of the answer's body (see `timed_post`)."""
    return timed_post(url, json_body).first_byte_s
