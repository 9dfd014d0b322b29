"""Timing helpers the benchmarks share: uploads paced like a live client, first-byte latency."""

from __future__ import annotations

import http.client
import time

import requests


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


def first_byte_seconds(url: str, json_body: dict) -> float:
    """Seconds from sending a JSON POST to the first byte of its answer (read to the end)."""
    started = time.perf_counter()
    first = None
    with requests.post(url, json=json_body, stream=True, timeout=120) as response:
        response.raise_for_status()
        for _ in response.iter_content(chunk_size=65536):
            first = first or time.perf_counter() - started
    return first if first is not None else time.perf_counter() - started
