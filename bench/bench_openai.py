"""OpenAI's speech endpoint against the native one: time to first audio byte, per response format.

The six-sentence paragraph through the gateway: raw PCM from `POST /api/tts` (16 kHz s16le,
the reference) against `POST /v1/audio/speech` (24 kHz) in each response format (mp3, opus,
aac, flac, wav, pcm). Requests are interleaved, so drift on the machine affects every format
alike; each opens its own connection and times the first read after the headers, as a plain
client such as curl sees it. Prints the medians of first byte and total time, each format's
first byte as a multiple of /api/tts PCM's, and the bytes each format takes; writes
bench/results/openai_speech.json. Target (issue): mp3's first byte within 1.5x of raw PCM's
on /api/tts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.bench_tts import PARAGRAPH
from bench.harness import ROOT
from bench.timing import PostTiming, timed_post

RESPONSE_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
REFERENCE = "/api/tts pcm"
REFERENCE_BYTES_PER_SECOND = 16000 * 2  # /api/tts default: s16le, 16 kHz, mono
TARGET_FORMAT = "mp3"
TARGET_RATIO = 1.5


@dataclass(frozen=True)
class Summary:
    route: str
    runs: int
    first_byte_median_ms: float
    total_median_ms: float
    bytes: int
    kbit_per_second: float
    first_byte_over_reference: float


def routes(gateway_url: str) -> dict[str, tuple[str, dict]]:
    """Each contender's URL and JSON body, the reference first."""
    chosen = {REFERENCE: (f"{gateway_url}/api/tts", {"text": PARAGRAPH})}
    for response_format in RESPONSE_FORMATS:
        # What OpenAI's clients send: a model and one of OpenAI's voices, which the service
        # maps to its default voice, the one /api/tts speaks with when none is named.
        body = {"model": "tts-1", "input": PARAGRAPH, "voice": "alloy", "response_format": response_format}
        chosen[f"/v1 {response_format}"] = (f"{gateway_url}/v1/audio/speech", body)
    return chosen


def run_interleaved(chosen: dict[str, tuple[str, dict]], runs: int, warmup: int) -> dict[str, list[PostTiming]]:
    for _ in range(warmup):  # loads each encoder and warms every worker's voice
        for url, body in chosen.values():
            timed_post(url, body)
    samples: dict[str, list[PostTiming]] = {name: [] for name in chosen}
    for _ in range(runs):
        for name, (url, body) in chosen.items():
            samples[name].append(timed_post(url, body))
    return samples


def summarize(route: str, samples: list[PostTiming], reference_first_ms: float, audio_seconds: float) -> Summary:
    first_ms = 1000 * statistics.median(sample.first_byte_s for sample in samples)
    size = int(statistics.median(sample.size for sample in samples))
    return Summary(
        route=route,
        runs=len(samples),
        first_byte_median_ms=first_ms,
        total_median_ms=1000 * statistics.median(sample.total_s for sample in samples),
        bytes=size,
        kbit_per_second=8 * size / audio_seconds / 1000,
        first_byte_over_reference=first_ms / reference_first_ms,
    )


def summaries(samples: dict[str, list[PostTiming]]) -> tuple[list[Summary], float]:
    """Every route's summary, and the seconds of audio (from the reference's PCM)."""
    reference = samples[REFERENCE]
    audio_seconds = statistics.median(sample.size for sample in reference) / REFERENCE_BYTES_PER_SECOND
    reference_first_ms = 1000 * statistics.median(sample.first_byte_s for sample in reference)
    return [summarize(route, runs, reference_first_ms, audio_seconds) for route, runs in samples.items()], audio_seconds


def print_table(rows: list[Summary], runs: int, audio_seconds: float) -> None:
    print(f"Paragraph ({audio_seconds:.1f} s of audio) through the gateway, median of {runs} interleaved runs")
    print(f"{'route':<14} {'first byte':>11} {'x /api/tts':>11} {'total':>10} {'bytes':>9} {'kbit/s':>7}")
    for row in rows:
        print(
            f"{row.route:<14} {row.first_byte_median_ms:>8.0f} ms {row.first_byte_over_reference:>10.2f}x "
            f"{row.total_median_ms:>7.0f} ms {row.bytes:>9} {row.kbit_per_second:>7.0f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/openai_speech.json")
    args = parser.parse_args()

    samples = run_interleaved(routes(args.gateway_url), args.runs, args.warmup)
    rows, audio_seconds = summaries(samples)
    print_table(rows, args.runs, audio_seconds)
    target = next(row for row in rows if row.route == f"/v1 {TARGET_FORMAT}")
    label = f"{TARGET_FORMAT} first byte <= {TARGET_RATIO}x {REFERENCE} first byte"
    checks = {label: target.first_byte_over_reference <= TARGET_RATIO}
    print(f"  {'PASS' if checks[label] else 'MISS'}  {label}: {target.first_byte_over_reference:.2f}x")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "gateway_url": args.gateway_url,
        "runs": args.runs,
        "audio_seconds": audio_seconds,
        "summaries": [asdict(row) for row in rows],
        "checks": checks,
        "samples": {route: [asdict(sample) for sample in runs] for route, runs in samples.items()},
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
