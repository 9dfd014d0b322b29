"""Metrics benchmark: what the services' Prometheus metrics cost.

- Recording: one TTS stream's metrics (admitted, first audio, synthesized, closed) and one
  request's count, in prometheus-client's multiprocess mode as the services run it (values in
  memory-mapped files), against the TTS time to first audio measured through the gateway.
- A scrape of each service's /metrics on the running stack: time (median of 20) and size.
Prints a table and writes bench/results/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.timing import timed_post

RECORDED_STREAMS = 20000
SCRAPES = 20
SENTENCE = "Hello world, this is a streaming TTS test."
# Where each service answers /metrics: the settings `make run` starts them with.
SERVICE_PORTS = {
    "tts": ("TTS_PORT", "8082"),
    "asr": ("ASR_PORT", "8081"),
    "realtime": ("REALTIME_PORT", "8084"),
    "orchestrator": ("ORCHESTRATOR_PORT", "8083"),
    "wyoming-tts": ("WYOMING_TTS_METRICS_PORT", "10201"),
    "wyoming-asr": ("WYOMING_ASR_METRICS_PORT", "10301"),
}


def recording_microseconds() -> dict[str, float]:
    """Microseconds per stream and per counted request, written to a multiprocess directory of
    its own (set before prometheus-client is first imported, as gunicorn's master does)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
    from services.common.metrics import HTTP_REQUESTS
    from services.tts.metrics import StreamMetrics, serving

    serving("bench-voice")
    started = time.perf_counter()
    for _ in range(RECORDED_STREAMS):
        stream = StreamMetrics("bench-voice", time.perf_counter(), 120, 0.0005)
        stream.first_audio()
        stream.synthesized(8.0, 0.9)
        stream.closed(8.0, None)
    per_stream = (time.perf_counter() - started) / RECORDED_STREAMS * 1e6
    started = time.perf_counter()
    for _ in range(RECORDED_STREAMS):
        HTTP_REQUESTS.labels("/api/tts", "POST", "200").inc()
    per_request = (time.perf_counter() - started) / RECORDED_STREAMS * 1e6
    return {"per_stream_us": round(per_stream, 1), "per_request_us": round(per_request, 2)}


def scrape(url: str) -> dict[str, float]:
    durations, size = [], 0
    for _ in range(SCRAPES):
        started = time.perf_counter()
        answer = requests.get(url, timeout=10)
        durations.append(time.perf_counter() - started)
        answer.raise_for_status()
        size = len(answer.content)
    series = sum(1 for line in answer.text.splitlines() if line and not line.startswith("#"))
    return {"median_ms": round(1000 * statistics.median(durations), 2), "bytes": size, "series": series}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument("--host", default="127.0.0.1", help="where the services listen (make run: loopback)")
    parser.add_argument("--output", type=Path, default=Path("bench/results/metrics.json"))
    args = parser.parse_args()

    recording = recording_microseconds()
    first_audio = statistics.median(
        timed_post(f"{args.gateway_url}/api/tts", {"text": SENTENCE}).first_byte_s for _ in range(21)
    )
    ports = {name: int(os.environ.get(variable, default)) for name, (variable, default) in SERVICE_PORTS.items()}
    scrapes = {name: scrape(f"http://{args.host}:{port}/metrics") for name, port in ports.items()}

    share = recording["per_stream_us"] / (first_audio * 1e6)
    print(
        f"recording one TTS stream's metrics: {recording['per_stream_us']} us "
        f"({share:.3%} of its first audio, {1000 * first_audio:.0f} ms median through the gateway)"
    )
    print(f"counting one request by route and status: {recording['per_request_us']} us")
    print(f"{'scrape':<14}{'median ms':>10}{'bytes':>9}{'series':>8}")
    for name, figures in scrapes.items():
        print(f"{name:<14}{figures['median_ms']:>10}{figures['bytes']:>9}{figures['series']:>8}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {"recording": recording, "tts_first_audio_ms": round(1000 * first_audio, 1), "scrapes": scrapes}
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
