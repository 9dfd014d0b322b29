"""TTS benchmark: time to first audio byte and real-time factor, over HTTP, single stream.

Prints a table and writes bench/results/tts.json. Targets (2-core machine, medians): first
byte within 150 ms for one sentence; for a six-sentence paragraph, within 1.3x the sentence
figure; real-time factor (wall time / audio time) at most 0.06.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

SENTENCE = "Hello world, this is a streaming TTS test."
PARAGRAPH = (
    "The museum opens at nine in the morning. Visitors can buy tickets at the door or online. "
    "The first floor holds paintings from the last two centuries. Sculptures are on the second floor. "
    "A small cafe near the entrance serves coffee and sandwiches. The museum closes at six in the evening."
)
BYTES_PER_SECOND = 16000 * 2  # default output: s16le, 16 kHz, mono


@dataclass(frozen=True)
class Sample:
    first_byte_s: float
    total_s: float
    audio_s: float


@dataclass(frozen=True)
class Summary:
    case: str
    runs: int
    first_byte_median_ms: float
    first_byte_p90_ms: float
    total_median_ms: float
    audio_seconds: float
    rtf_median: float


def measure(session: requests.Session, url: str, text: str) -> Sample:
    start = time.perf_counter()
    response = session.post(f"{url}/api/tts", json={"text": text}, stream=True, timeout=120)
    response.raise_for_status()
    first_byte = None
    size = 0
    for frame in response.raw.read_chunked(decode_content=False):
        if first_byte is None:
            first_byte = time.perf_counter() - start
        size += len(frame)
    total = time.perf_counter() - start
    return Sample(first_byte or total, total, size / BYTES_PER_SECOND)


def summarize(case: str, samples: list[Sample]) -> Summary:
    first = sorted(sample.first_byte_s for sample in samples)
    return Summary(
        case=case,
        runs=len(samples),
        first_byte_median_ms=1000 * statistics.median(first),
        first_byte_p90_ms=1000 * first[min(len(first) - 1, int(0.9 * len(first)))],
        total_median_ms=1000 * statistics.median(sample.total_s for sample in samples),
        audio_seconds=statistics.median(sample.audio_s for sample in samples),
        rtf_median=statistics.median(sample.total_s / sample.audio_s for sample in samples),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8082")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/tts.json"))
    args = parser.parse_args()

    session = requests.Session()
    cases = {"sentence": SENTENCE, "paragraph": PARAGRAPH}
    samples: dict[str, list[Sample]] = {case: [] for case in cases}
    for text in cases.values():
        for _ in range(args.warmup):
            measure(session, args.url, text)
    # Interleave the cases so drift on the machine affects both alike.
    for _ in range(args.runs):
        for case, text in cases.items():
            samples[case].append(measure(session, args.url, text))

    summaries = [summarize(case, case_samples) for case, case_samples in samples.items()]
    print(f"TTS over HTTP at {args.url}, single stream, {args.runs} runs per case")
    print(f"{'case':<10} {'first byte p50':>15} {'p90':>8} {'total p50':>10} {'audio':>7} {'RTF p50':>8}")
    for s in summaries:
        print(
            f"{s.case:<10} {s.first_byte_median_ms:>12.0f} ms {s.first_byte_p90_ms:>5.0f} ms "
            f"{s.total_median_ms:>7.0f} ms {s.audio_seconds:>6.2f}s {s.rtf_median:>8.3f}"
        )
    sentence, paragraph = summaries
    ratio = paragraph.first_byte_median_ms / sentence.first_byte_median_ms
    worst_rtf = max(s.rtf_median for s in summaries)
    checks = {
        "sentence first byte <= 150 ms": sentence.first_byte_median_ms <= 150,
        "paragraph first byte <= 1.3x sentence": ratio <= 1.3,
        "real-time factor <= 0.06": worst_rtf <= 0.06,
    }
    print(f"paragraph / sentence first byte: {ratio:.2f}x")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'MISS'}  {name}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"summaries": [asdict(s) for s in summaries], "first_byte_ratio": ratio, "checks": checks}, indent=2)
    )
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
