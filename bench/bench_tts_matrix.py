"""TTS workers x onnxruntime threads: one-stream latency against many-stream throughput.

Each setting runs its own TTS server (TTS_WORKERS gunicorn processes, each with its own
onnxruntime sessions of TTS_ORT_THREADS intra-op threads) on a free loopback port, and is
measured directly, without the gateway:
- one stream: time to the first audio byte and real-time factor, paragraph, median;
- 4 parallel streams: seconds of audio per wall second, and first chunk p50.
Then, in-process, onnxruntime's graph optimization levels on the exported audio model (the
bulk of synthesis), as loaded by the service: time to decode one sentence's latent frames.
Writes bench/results/tts_matrix.json. The service's defaults are the rows marked *.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import onnxruntime as ort
import requests

from bench.bench_streams import BYTES_PER_SECOND, service_run
from bench.bench_tts import PARAGRAPH, measure
from bench.harness import ROOT, start_service
from services.tts.settings import TtsSettings
from services.tts.voices import load_voices

SETTINGS = ((1, 1), (1, 2), (2, 1), (2, 2))  # (workers, onnxruntime threads)
STREAMS = 4


@dataclass(frozen=True)
class Row:
    workers: int
    ort_threads: int
    first_byte_ms: float
    rtf: float
    streams: int
    streams_first_chunk_ms: float
    streams_audio_seconds_per_second: float


def measure_setting(models_dir: Path, work_dir: Path, workers: int, threads: int, runs: int) -> Row:
    server = start_service(
        "tts",
        models_dir,
        work_dir / f"tts-{workers}w-{threads}t.log",
        TTS_WORKERS=str(workers),
        TTS_ORT_THREADS=str(threads),
    )
    try:
        session = requests.Session()
        for _ in range(2 * workers):  # every worker loads its voice on its first requests
            measure(session, server.url, PARAGRAPH)
        samples = [measure(session, server.url, PARAGRAPH) for _ in range(runs)]
        results, wall = service_run(server.url, PARAGRAPH, STREAMS, per_stream=2)
    finally:
        server.stop()
    return Row(
        workers=workers,
        ort_threads=threads,
        first_byte_ms=1000 * statistics.median(s.first_byte_s for s in samples),
        rtf=statistics.median(s.total_s / s.audio_s for s in samples),
        streams=STREAMS,
        streams_first_chunk_ms=1000 * statistics.median(first for first, *_ in results),
        streams_audio_seconds_per_second=sum(size for *_, size in results) / BYTES_PER_SECOND / wall,
    )


LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,  # what services/tts/engines/onnx.py uses
}


def optimization_levels(models_dir: Path, threads: int, runs: int) -> dict[str, float]:
    """Median milliseconds to decode one sentence's latent with the audio model, per level."""
    voice = next(v for v in load_voices(models_dir / "tts", threads).values() if v.manifest["engine"] == "piper")
    manifest, directory = voice.manifest, models_dir / "tts" / voice.id
    latent = voice.synthesizer.encode(PARAGRAPH.split(". ")[0] + ".")
    feeds = {manifest["streaming"]["latent_input"]: latent.values, manifest["streaming"]["mask_input"]: latent.mask}
    timings = {}
    for name, level in LEVELS.items():
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        options.intra_op_num_threads = threads
        model = ort.InferenceSession(str(directory / manifest["models"]["audio"]), options)
        model.run(None, feeds)
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            model.run(None, feeds)
            samples.append(time.perf_counter() - started)
        timings[name] = 1000 * statistics.median(samples)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/tts_matrix.json")
    args = parser.parse_args()
    work_dir = ROOT / "bench" / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    defaults = TtsSettings.from_env()
    default_workers = 1  # services/tts/gunicorn.conf.py

    rows = []
    for workers, threads in SETTINGS:
        rows.append(measure_setting(args.models_dir, work_dir, workers, threads, args.runs))
        print(f"  {workers} workers x {threads} threads: first byte {rows[-1].first_byte_ms:.0f} ms", flush=True)

    print(
        f"\n{'workers':>8}{'threads':>8}{'first byte':>12}{'RTF':>7}{f'{STREAMS} streams: first':>18}{'audio s/s':>11}"
    )
    for row in rows:
        mark = "*" if (row.workers, row.ort_threads) == (default_workers, defaults.ort_threads) else " "
        print(
            f"{mark}{row.workers:>7}{row.ort_threads:>8}{row.first_byte_ms:>9.0f} ms{row.rtf:>7.3f}"
            f"{row.streams_first_chunk_ms:>15.0f} ms{row.streams_audio_seconds_per_second:>11.1f}"
        )

    levels = optimization_levels(args.models_dir, defaults.ort_threads, 3 * args.runs)
    print(f"\ngraph optimization level ({defaults.ort_threads} threads): audio model, one sentence")
    for name, milliseconds in levels.items():
        print(f"{'*' if name == 'all' else ' '} {name:<9}{milliseconds:>7.1f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": [asdict(row) for row in rows], "levels_ms": levels}, indent=2))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
