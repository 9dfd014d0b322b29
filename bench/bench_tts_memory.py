"""TTS worker memory: resident set size (RSS) of one gunicorn worker as streams come and go.

Starts its own TTS service (gthread worker, its default settings) on a free loopback port and
reads the worker's VmRSS from /proc:

1. fresh, once the service answers its health check;
2. after one paragraph stream;
3. after 4, then 8 paragraph streams at once (each body read to the end);
4. over a soak of N mixed requests (short sentence, paragraph, about 1,500 characters, speed
   1.5, /api/tts/wav, /v1/audio/speech as mp3), a few at a time: RSS every 50 requests and the
   slope of a least-squares line through them, in MB per 1,000 requests (the first fifth of the
   soak is left out as warm-up).

The speed at each step is printed beside it: time to first audio (median) and throughput (seconds
of audio produced per second of wall time), so a setting that saves memory but slows synthesis
shows. Targets: at most 400 MB after 8 parallel streams; a soak slope under 1 MB per 1,000.

Writes bench/results/tts_memory.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import cycle, islice
from pathlib import Path

import requests

from bench.bench_tts import PARAGRAPH, SENTENCE
from bench.harness import ROOT, Server, child_pids, rss_mb, start_service

MODELS_DIR = ROOT / "models"
LONG_TEXT = " ".join([PARAGRAPH] * 4)[:1500]
SAMPLE_EVERY = 50  # soak requests between two RSS readings
WARM_UP_SHARE = 0.2  # share of the soak left out of the slope


@dataclass(frozen=True)
class Call:
    """One kind of request of the soak mix."""

    name: str
    path: str
    body: dict


SHORT = Call("short", "/api/tts", {"text": SENTENCE})
PARAGRAPH_CALL = Call("paragraph", "/api/tts", {"text": PARAGRAPH})
LONG = Call("long", "/api/tts", {"text": LONG_TEXT})
FAST = Call("speed 1.5", "/api/tts", {"text": PARAGRAPH, "speed": 1.5})
WAV = Call("wav", "/api/tts/wav", {"text": SENTENCE})
MP3 = Call(
    "openai mp3", "/v1/audio/speech", {"model": "tts-1", "voice": "alloy", "input": SENTENCE, "response_format": "mp3"}
)
# One round of the soak: every kind, the cheap ones more often than the long text (which alone
# takes as much synthesis as the rest of the round).
SOAK_ROUND = [LONG, SHORT, PARAGRAPH_CALL, WAV, SHORT, MP3, FAST, SHORT, WAV, PARAGRAPH_CALL, MP3, SHORT] + [
    SHORT,
    WAV,
    MP3,
    FAST,
    SHORT,
    PARAGRAPH_CALL,
    MP3,
    WAV,
]


@dataclass(frozen=True)
class Reply:
    first_audio_s: float
    total_s: float
    size: int


@dataclass(frozen=True)
class Step:
    """RSS after a step, and the speed of its requests."""

    name: str
    rss_mb: float
    streams: int
    first_audio_median_ms: float
    audio_per_wall_second: float


def worker_pid(server: Server) -> int:
    """The gunicorn worker: the one child of the master process."""
    children = child_pids(server.process.pid)
    if len(children) != 1:
        raise RuntimeError(f"expected one worker, found {children}")
    return children[0]


def call(url: str, request: Call) -> Reply:
    """One request, its whole body read; raises on an error status."""
    started = time.perf_counter()
    with requests.post(f"{url}{request.path}", json=request.body, stream=True, timeout=300) as response:
        response.raise_for_status()
        first = None
        size = 0
        for chunk in response.iter_content(chunk_size=None):
            if first is None:
                first = time.perf_counter()
            size += len(chunk)
    finished = time.perf_counter()
    return Reply((first or finished) - started, finished - started, size)


def pcm_seconds(replies: list[Reply]) -> float:
    return sum(reply.size for reply in replies) / (16000 * 2)  # s16le, 16 kHz, mono


def parallel_step(url: str, pid: int, name: str, streams: int) -> Step:
    """`streams` paragraph streams at once; RSS once they have all ended."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        replies = list(pool.map(lambda _: call(url, PARAGRAPH_CALL), range(streams)))
    wall = time.perf_counter() - started
    time.sleep(1.0)  # let the worker finish closing the streams
    return Step(
        name,
        round(rss_mb(pid), 1),
        streams,
        round(statistics.median(reply.first_audio_s for reply in replies) * 1000, 1),
        round(pcm_seconds(replies) / wall, 1),
    )


def slope_per_thousand(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MB) against requests served, per 1,000 requests."""
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread * 1000


def soak(url: str, pid: int, requests_count: int, clients: int) -> dict:
    """`requests_count` mixed requests, `clients` at a time; RSS every SAMPLE_EVERY requests."""
    calls = list(islice(cycle(SOAK_ROUND), requests_count))
    points: list[tuple[int, float]] = [(0, rss_mb(pid))]
    first_audio: list[float] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for begin in range(0, requests_count, SAMPLE_EVERY):
            batch = calls[begin : begin + SAMPLE_EVERY]
            replies = list(pool.map(lambda request: call(url, request), batch))
            first_audio += [reply.first_audio_s for reply, request in zip(replies, batch) if request is SHORT]
            points.append((begin + len(batch), rss_mb(pid)))
    wall = time.perf_counter() - started
    measured = [point for point in points if point[0] >= requests_count * WARM_UP_SHARE]
    return {
        "requests": requests_count,
        "clients": clients,
        "wall_seconds": round(wall, 1),
        "rss_start_mb": round(points[0][1], 1),
        "rss_end_mb": round(points[-1][1], 1),
        "rss_max_mb": round(max(rss for _, rss in points), 1),
        "slope_mb_per_1000": round(slope_per_thousand(measured), 2),
        "short_first_audio_median_ms": round(statistics.median(first_audio) * 1000, 1) if first_audio else None,
        "rss_mb_by_requests": [[count, round(rss, 1)] for count, rss in points],
    }


def run(soak_requests: int, clients: int, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as work:
        server = start_service("tts", MODELS_DIR, Path(work) / "tts.log", **env)
        try:
            pid = worker_pid(server)
            fresh = rss_mb(pid)
            print(f"fresh: {fresh:.1f} MB", flush=True)
            steps = []
            for name, streams in (("after 1 stream", 1), ("after 4 parallel", 4), ("after 8 parallel", 8)):
                steps.append(step := parallel_step(server.url, pid, name, streams))
                print(
                    f"{name}: {step.rss_mb:.1f} MB  (first audio median {step.first_audio_median_ms:.0f} ms, "
                    f"{step.audio_per_wall_second:.1f} s of audio per second)",
                    flush=True,
                )
            soaked = soak(server.url, pid, soak_requests, clients) if soak_requests else None
            if soaked:
                print(
                    f"soak of {soaked['requests']} mixed requests ({clients} at a time, {soaked['wall_seconds']:.0f} s): "
                    f"{soaked['rss_start_mb']:.1f} -> {soaked['rss_end_mb']:.1f} MB (max {soaked['rss_max_mb']:.1f}), "
                    f"slope {soaked['slope_mb_per_1000']:+.2f} MB per 1,000 requests, "
                    f"short first audio median {soaked['short_first_audio_median_ms']} ms",
                    flush=True,
                )
        finally:
            server.stop()
    return {"env": env, "fresh_mb": round(fresh, 1), "steps": [asdict(step) for step in steps], "soak": soaked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soak", type=int, default=3000, help="mixed requests in the soak (0: none)")
    parser.add_argument("--clients", type=int, default=4, help="soak requests at a time")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra service setting")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "tts_memory.json")
    args = parser.parse_args()
    env = dict(pair.split("=", 1) for pair in args.env)
    result = run(args.soak, args.clients, env)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
