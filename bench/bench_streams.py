"""TTS under parallel streams, measured the way streaming TTS is usually reported (e.g. NVIDIA
Riva): latency to the first audio chunk, latency between chunks (p50/p95), and throughput in
seconds of audio per wall-clock second, at 1, 2, 4 and 8 parallel streams, for a sentence and a
six-sentence paragraph, through the gateway. Also whether a real-time player would starve (a
chunk arriving after the audio already received has played out), and the throughput of the
same voice in-process on the same machine, so the service's overhead shows as a ratio.
Writes bench/results/streams.json and streams.png.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import requests

from bench.bench_tts import PARAGRAPH, SENTENCE
from bench.harness import ROOT

BYTES_PER_SECOND = 32000  # s16le 16 kHz mono
STREAMS = (1, 2, 4, 8)
ROUNDS = 3


@dataclass(frozen=True)
class Row:
    case: str
    streams: int
    requests: int
    first_chunk_p50_ms: float
    first_chunk_p95_ms: float
    between_chunks_p50_ms: float
    between_chunks_p95_ms: float
    starved_requests: int
    audio_seconds_per_second: float
    in_process_audio_seconds_per_second: float

    @property
    def service_share(self) -> float:
        return self.audio_seconds_per_second / self.in_process_audio_seconds_per_second


def one_request(session: requests.Session, url: str, text: str) -> tuple[float, list[float], bool, int]:
    """(first chunk s, gaps between chunks s, starved?, audio bytes)."""
    started = time.perf_counter()
    arrivals, sizes = [], []
    with session.post(f"{url}/api/tts", json={"text": text}, stream=True, timeout=120) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=None):
            arrivals.append(time.perf_counter())
            sizes.append(len(chunk))
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    # A player starting at the first chunk has played (t - t0) seconds by time t; it starves if
    # a chunk arrives after all audio received before it has been played.
    received = np.cumsum(sizes) / BYTES_PER_SECOND
    starved = any(arrivals[k] - arrivals[0] > received[k - 1] for k in range(1, len(arrivals)))
    return arrivals[0] - started, gaps, starved, sum(sizes)


def service_run(url: str, text: str, streams: int, per_stream: int) -> tuple[list, float]:
    results: list = []
    lock = threading.Lock()

    def stream_worker() -> None:
        session = requests.Session()
        for _ in range(per_stream):
            outcome = one_request(session, url, text)
            with lock:
                results.append(outcome)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        for future in [pool.submit(stream_worker) for _ in range(streams)]:
            future.result()
    return results, time.perf_counter() - started


class InProcess:
    """The same voice called directly (no HTTP, no service), loaded and warmed up once."""

    def __init__(self, threads: int) -> None:
        from services.common.config import models_dir
        from services.tts.voices import load_voices

        self._voice = load_voices(models_dir() / "tts", threads)["en_US-joe-medium"].synthesizer
        self.throughput(SENTENCE, 1, 1)

    def throughput(self, text: str, streams: int, per_stream: int) -> float:
        """Seconds of audio per second, `streams` threads each synthesizing `text` `per_stream` times."""
        from services.tts.text.normalize import normalize_text
        from services.tts.text.segment import split_into_pieces

        pieces = split_into_pieces(normalize_text(text))
        total = [0.0]
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(per_stream):
                samples = sum(len(part) for piece in pieces for part in self._voice.synthesize(piece))
                with lock:
                    total[0] += samples / self._voice.sample_rate

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=streams) as pool:
            for future in [pool.submit(worker) for _ in range(streams)]:
                future.result()
        return total[0] / (time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def chart(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4))
    for case in ("sentence", "paragraph"):
        mine = [row for row in rows if row.case == case]
        streams = [row.streams for row in mine]
        latency.plot(streams, [row.first_chunk_p50_ms for row in mine], marker="o", label=f"{case} p50")
        latency.plot(streams, [row.first_chunk_p95_ms for row in mine], marker="x", linestyle="--", label=f"{case} p95")
        throughput.plot(streams, [row.audio_seconds_per_second for row in mine], marker="o", label=f"{case}, service")
        throughput.plot(
            streams,
            [row.in_process_audio_seconds_per_second for row in mine],
            linestyle=":",
            label=f"{case}, in-process",
        )
    latency.set(xlabel="parallel streams", ylabel="ms", title="Time to first audio chunk", xscale="log", xticks=STREAMS)
    latency.set_xticklabels([str(s) for s in STREAMS])
    throughput.set(
        xlabel="parallel streams", ylabel="audio s / wall s", title="Throughput", xscale="log", xticks=STREAMS
    )
    throughput.set_xticklabels([str(s) for s in STREAMS])
    for axis in (latency, throughput):
        axis.minorticks_off()
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument(
        "--per-stream", type=int, default=2, help="paragraphs each stream asks for per round (sentences: 3x)"
    )
    parser.add_argument(
        "--ort-threads", type=int, default=2, help="in-process threads, as the service's TTS_ORT_THREADS"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/streams.json")
    args = parser.parse_args()

    requests.post(f"{args.gateway_url}/api/tts", json={"text": SENTENCE}, timeout=60).raise_for_status()  # warm-up
    in_process = InProcess(args.ort_threads)
    rows = []
    # A sentence is a third of the paragraph's work or less: three times as many keep each
    # throughput run long enough to measure.
    for case, text, per_stream in (
        ("sentence", SENTENCE, 3 * args.per_stream),
        ("paragraph", PARAGRAPH, args.per_stream),
    ):
        for streams in STREAMS:
            # Service and in-process runs alternate, and the throughputs are medians of the
            # rounds, so that a noisy moment on the machine weighs on both alike.
            results, service_rates, in_process_rates = [], [], []
            for _ in range(ROUNDS):
                round_results, wall = service_run(args.gateway_url, text, streams, per_stream)
                results += round_results
                service_rates.append(sum(size for *_, size in round_results) / BYTES_PER_SECOND / wall)
                in_process_rates.append(in_process.throughput(text, streams, per_stream))
            firsts = [1000 * first for first, _, _, _ in results]
            gaps = [1000 * gap for _, request_gaps, _, _ in results for gap in request_gaps]
            rows.append(
                Row(
                    case=case,
                    streams=streams,
                    requests=len(results),
                    first_chunk_p50_ms=statistics.median(firsts),
                    first_chunk_p95_ms=percentile(firsts, 0.95),
                    between_chunks_p50_ms=statistics.median(gaps) if gaps else 0.0,
                    between_chunks_p95_ms=percentile(gaps, 0.95),
                    starved_requests=sum(1 for _, _, starved, _ in results if starved),
                    audio_seconds_per_second=statistics.median(service_rates),
                    in_process_audio_seconds_per_second=statistics.median(in_process_rates),
                )
            )
            row = rows[-1]
            print(f"  {case:<9} {streams} streams: first chunk p50 {row.first_chunk_p50_ms:.0f} ms", flush=True)

    print(
        f"\n{'case':<10}{'streams':>8}{'first p50':>11}{'p95':>8}{'gap p50':>9}{'p95':>8}{'starved':>9}"
        f"{'audio s/s':>11}{'in-proc':>9}{'share':>7}"
    )
    for row in rows:
        print(
            f"{row.case:<10}{row.streams:>8}{row.first_chunk_p50_ms:>8.0f} ms{row.first_chunk_p95_ms:>5.0f} ms"
            f"{row.between_chunks_p50_ms:>6.0f} ms{row.between_chunks_p95_ms:>5.0f} ms"
            f"{row.starved_requests:>5}/{row.requests:<3}"
            f"{row.audio_seconds_per_second:>11.1f}{row.in_process_audio_seconds_per_second:>9.1f}{row.service_share:>7.0%}"
        )
    no_starving = all(row.starved_requests == 0 for row in rows if row.streams <= 2)
    share = min(row.service_share for row in rows if row.streams >= 2)
    print(f"  {'PASS' if no_starving else 'MISS'}  no chunk starves a real-time player at 1 and 2 streams")
    print(f"  {'PASS' if share >= 0.9 else 'MISS'}  throughput at 2+ streams >= 90% of in-process ({share:.0%} worst)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([{**asdict(row), "service_share": row.service_share} for row in rows], indent=2))
    chart(rows, args.out.with_suffix(".png"))
    print(f"results written to {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
