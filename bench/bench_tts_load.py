"""TTS under load, through the gateway: what deadline scheduling and admission are for.

1. Long streams held by listeners who read at playback pace (each a long text, about 90 s of
   audio), and meanwhile one short request a second: its time to first audio (p50, p95) and
   whether any was refused.
2. A burst of paragraph requests at once: how many were admitted, their first audio (p50, p95),
   how many admitted streams a real-time player would hear stall after the first chunk, how
   fast the refusals came, and the Retry-After they gave.

Writes bench/results/tts_load.json.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.bench_streams import BYTES_PER_SECOND, percentile
from bench.bench_tts import PARAGRAPH, SENTENCE
from bench.harness import ROOT

LONG_TEXT = " ".join([PARAGRAPH] * 4)
# A listener's player asks for this much audio before it starts, then takes it as it plays.
PLAYER_BUFFER_SECONDS = 2.0


@dataclass(frozen=True)
class Reply:
    status: int
    first_audio_s: float
    """Until the first audio byte, or until the refusal."""
    stalled: bool
    retry_after: int | None = None


def play(url: str, text: str, stop: threading.Event | None = None, paced: bool = False) -> Reply:
    """One request; `paced` reads at playback pace, as a listener's player does."""
    started = time.perf_counter()
    with requests.post(f"{url}/api/tts", json={"text": text}, stream=True, timeout=300) as response:
        if response.status_code != 200:
            retry_after = response.headers.get("Retry-After")
            return Reply(response.status_code, time.perf_counter() - started, False, int(retry_after or 0) or None)
        first = None
        received = 0
        stalled = False
        for chunk in response.iter_content(chunk_size=4096):
            now = time.perf_counter()
            if first is None:
                first = now
            # A player that started at the first chunk has played (now - first) s: it has
            # stalled if that is more than the audio received before this chunk.
            stalled = stalled or now - first > received / BYTES_PER_SECOND + 0.05 and received > 0
            received += len(chunk)
            if paced:
                ahead = received / BYTES_PER_SECOND - PLAYER_BUFFER_SECONDS - (now - first)
                if ahead > 0:
                    time.sleep(ahead)
            if stop is not None and stop.is_set():
                break
        return Reply(200, (first or time.perf_counter()) - started, stalled)


def short_requests_beside_long_streams(url: str, long_streams: int, seconds: float) -> dict:
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=long_streams) as pool:
        holders = [pool.submit(play, url, LONG_TEXT, stop, True) for _ in range(long_streams)]
        time.sleep(5)  # every long stream admitted and past its first audio
        shorts = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            shorts.append(play(url, SENTENCE))
            time.sleep(max(0.0, 1.0 - shorts[-1].first_audio_s))
        stop.set()
        held = [future.result() for future in holders]
    served = [reply.first_audio_s * 1000 for reply in shorts if reply.status == 200]
    return {
        "long_streams": long_streams,
        "long_streams_admitted": sum(reply.status == 200 for reply in held),
        "long_streams_stalled": sum(reply.stalled for reply in held),
        "short_requests": len(shorts),
        "short_refused": sum(reply.status != 200 for reply in shorts),
        "short_first_audio_p50_ms": round(percentile(served, 0.5), 1),
        "short_first_audio_p95_ms": round(percentile(served, 0.95), 1),
    }


def burst(url: str, count: int) -> dict:
    with ThreadPoolExecutor(max_workers=count) as pool:
        replies = list(pool.map(lambda _: play(url, PARAGRAPH, paced=True), range(count)))
    admitted = [reply for reply in replies if reply.status == 200]
    refused = [reply for reply in replies if reply.status == 503]
    first = [reply.first_audio_s * 1000 for reply in admitted]
    refusal = [reply.first_audio_s * 1000 for reply in refused]
    return {
        "requests": count,
        "admitted": len(admitted),
        "refused": len(refused),
        "other_statuses": len(replies) - len(admitted) - len(refused),
        "admitted_first_audio_p50_ms": round(percentile(first, 0.5), 1),
        "admitted_first_audio_p95_ms": round(percentile(first, 0.95), 1),
        "admitted_stalled": sum(reply.stalled for reply in admitted),
        "refusal_p95_ms": round(percentile(refusal, 0.95), 1),
        "retry_after_s": sorted({reply.retry_after for reply in refused if reply.retry_after}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument("--long-streams", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long short requests are sent")
    parser.add_argument("--burst", type=int, default=40)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "tts_load.json")
    args = parser.parse_args()

    beside = short_requests_beside_long_streams(args.gateway_url, args.long_streams, args.seconds)
    print(f"{args.long_streams} long streams read at playback pace, one short request a second:")
    for key, value in beside.items():
        print(f"  {key}: {value}")
    time.sleep(3)
    at_once = burst(args.gateway_url, args.burst)
    print(f"{args.burst} paragraph requests at once, each read at playback pace:")
    for key, value in at_once.items():
        print(f"  {key}: {value}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"beside_long_streams": beside, "burst": at_once}, indent=2) + "\n")


if __name__ == "__main__":
    main()
