"""Capacity: time to first audio against the number of parallel streams, ours and two peers.

Same voice (Piper en_US-joe-medium), same machine, one run, the six-sentence paragraph:
- ours: the stack through the gateway, POST /api/tts (streams PCM as each piece is synthesized);
- Piper's own HTTP server (`python -m piper.http_server`): answers a whole WAV;
- wyoming-piper (offline, local data dir): streams sentence by sentence over Wyoming TCP.

At each level of the sweep (default 1, 2, 4, 8, 16 parallel streams) there are `--rounds`
rounds; in each, N clients released together by a barrier send one request each and read the
whole answer, and the time from sending to the first audio of every request is kept. Within a
round the servers take turns (ours, piper http_server, wyoming-piper) after a short settle, so
drift on the machine touches all three alike. A refusal (HTTP 503, our admission control) is
counted per level and kept out of the latencies. Reported per level and server: p50 and p95 in
ms, refusals, and ours/peer of p95.

If bench/results holds locust summaries from `make load` (load-<N>u_stats.csv), a second panel
draws the "first audio" metric the locustfile records, p50 and p95 against users.

Prints a table, writes bench/results/capacity.json and the chart docs/capacity.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.bench_peers import SETTLE_SECONDS, VOICE, start_piper_http, start_wyoming_piper, wyoming
from bench.bench_streams import percentile
from bench.bench_tts import PARAGRAPH
from bench.harness import ROOT
from bench.timing import first_byte_seconds
from services.common.cpu import available_cores

OURS = "ours (gateway)"
PIPER = "piper http_server"
WYOMING = "wyoming-piper"
COLORS = {OURS: "tab:blue", PIPER: "tab:orange", WYOMING: "tab:green"}
SHORT = {PIPER: "piper", WYOMING: "wyoming"}
# The name the locustfile gives its time-to-first-audio samples.
LOCUST_FIRST_AUDIO = "first audio"
LOCUST_CSV = re.compile(r"load-(\d+)u_stats\.csv")

Measure = Callable[[str], float]


class Refused(Exception):
    """The server said it is at capacity (HTTP 503)."""


@dataclass
class Level:
    """What one server did at one number of parallel streams, over all rounds."""

    first_audio_s: list[float] = field(default_factory=list)
    refused: int = 0
    errors: int = 0


@dataclass(frozen=True)
class Stat:
    requests: int
    refused: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class UsersPoint:
    users: int
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float


def http_measure(url: str) -> Measure:
    def measure(text: str) -> float:
        try:
            return first_byte_seconds(url, {"text": text})
        except RuntimeError as error:
            # timing.timed_post reports a non-200 answer as "<url> answered <status>: <body>".
            if " answered 503:" in str(error):
                raise Refused(str(error)) from error
            raise

    return measure


def one_round(measure: Measure, text: str, streams: int, level: Level) -> None:
    """`streams` clients, released together, each send one request and read it to the end."""
    barrier = threading.Barrier(streams)

    def client() -> float:
        barrier.wait()
        return measure(text)

    with ThreadPoolExecutor(max_workers=streams) as pool:
        futures = [pool.submit(client) for _ in range(streams)]
        for future in futures:
            try:
                level.first_audio_s.append(future.result())
            except Refused:
                level.refused += 1
            except Exception as error:  # noqa: BLE001 - a failed request must not end a long sweep
                print(f"  request failed: {error}", file=sys.stderr)
                level.errors += 1


def summarize(level: Level) -> Stat:
    samples = level.first_audio_s
    requests = len(samples) + level.refused + level.errors
    if not samples:
        return Stat(requests, level.refused, level.errors, None, None)
    p50, p95 = 1000 * statistics.median(samples), 1000 * percentile(samples, 0.95)
    return Stat(requests, level.refused, level.errors, p50, p95)


def sweep(servers: dict[str, Measure], text: str, levels: list[int], rounds: int) -> dict[int, dict[str, Stat]]:
    results: dict[int, dict[str, Stat]] = {}
    for streams in levels:
        collected = {name: Level() for name in servers}
        for _ in range(rounds):
            for name, measure in servers.items():
                # Let the previous server's onnxruntime threads stop spinning before the next burst.
                time.sleep(SETTLE_SECONDS)
                one_round(measure, text, streams, collected[name])
        results[streams] = {name: summarize(level) for name, level in collected.items()}
        print(f"  {streams} streams done", file=sys.stderr)
    return results


def ratio(ours: Stat, peer: Stat) -> float | None:
    if ours.p95_ms is None or peer.p95_ms is None:
        return None
    return ours.p95_ms / peer.p95_ms


def read_locust(results_dir: Path) -> list[UsersPoint]:
    """The "first audio" row of every `make load` summary, by number of users."""
    points = []
    for path in results_dir.glob("load-*u_stats.csv"):
        match = LOCUST_CSV.fullmatch(path.name)
        if not match:
            continue
        with path.open(newline="") as file:
            for row in csv.DictReader(file):
                if row.get("Name") != LOCUST_FIRST_AUDIO:
                    continue
                try:
                    p50, p95 = float(row["50%"]), float(row["95%"])
                except (KeyError, ValueError):  # "N/A" when no request completed
                    continue
                count, failures = int(row["Request Count"]), int(row["Failure Count"])
                points.append(UsersPoint(int(match.group(1)), count, failures, p50, p95))
    return sorted(points, key=lambda point: point.users)


def show(value: float | None, width: int, digits: int = 0) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def print_table(results: dict[int, dict[str, Stat]], rounds: int) -> None:
    names = list(next(iter(results.values())))
    print(f"Time to first audio of the paragraph, {VOICE}, {rounds} round(s) per level, ms")
    header = f"{'streams':>7}" + "".join(f" | {name:^22}" for name in names)
    header += " | " + " ".join(f"{'p95 ours/' + SHORT.get(name, name):>16}" for name in names[1:])
    print(header)
    print(f"{'':>7}" + "".join(f" | {'p50':>6} {'p95':>6} {'refused':>8}" for _ in names))
    for streams, stats in results.items():
        line = f"{streams:>7}"
        for stat in stats.values():
            line += f" | {show(stat.p50_ms, 6)} {show(stat.p95_ms, 6)} {stat.refused:>8}"
        ours = stats[names[0]]
        line += " | " + " ".join(show(ratio(ours, stats[name]), 16, 2) for name in names[1:])
        errors = sum(stat.errors for stat in stats.values())
        print(line + (f"  ({errors} failed)" if errors else ""))


def draw(results: dict[int, dict[str, Stat]], users: list[UsersPoint], cores: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    panels = 2 if users else 1
    figure, axes = plt.subplots(1, panels, figsize=(9, 4), dpi=100, squeeze=False)
    streams_axis = axes[0][0]
    levels = list(results)
    for name, color in COLORS.items():
        # A level where every request was refused has no latency: leave a gap, not a zero.
        for attribute, style in (("p50_ms", "-"), ("p95_ms", "--")):
            values = [getattr(results[n][name], attribute) for n in levels]
            streams_axis.plot(levels, [math.nan if v is None else v for v in values], style, color=color, marker="o")
    streams_axis.set_xscale("log", base=2)
    streams_axis.set_xticks(levels, [str(n) for n in levels])
    streams_axis.set_xlabel("parallel streams")
    streams_axis.set_title("paragraph, N requests at once", fontsize=10)
    handles = [Line2D([], [], color=color, label=name) for name, color in COLORS.items()]
    handles += [
        Line2D([], [], color="gray", linestyle=style, label=label) for style, label in (("-", "p50"), ("--", "p95"))
    ]
    streams_axis.legend(handles=handles, fontsize=8)

    if users:
        users_axis = axes[0][1]
        counts = [point.users for point in users]
        users_axis.plot(counts, [point.p50_ms for point in users], "-", color=COLORS[OURS], marker="o")
        users_axis.plot(counts, [point.p95_ms for point in users], "--", color=COLORS[OURS], marker="o")
        users_axis.set_xticks(counts, [str(n) for n in counts])
        users_axis.set_xlabel("locust users (make load, mixed traffic)")
        users_axis.set_title(f"{OURS}, locust '{LOCUST_FIRST_AUDIO}'", fontsize=10)

    for axis in axes[0]:
        axis.set_yscale("log")
        # Plain milliseconds rather than powers of ten; 2x and 5x marks between decades.
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "25" else ""))
        axis.set_ylabel("time to first audio, ms")
        axis.grid(True, which="both", alpha=0.3)
    figure.suptitle(f"Time to first audio under load: Piper {VOICE}, {cores}-core machine", fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench/results")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs/capacity.png")
    args = parser.parse_args()
    work = ROOT / "bench" / "work" / "capacity"
    work.mkdir(parents=True, exist_ok=True)
    cores = available_cores()

    piper_process, piper_port = start_piper_http(work)
    wyoming_process, wyoming_port = start_wyoming_piper(work)
    try:
        servers: dict[str, Measure] = {
            OURS: http_measure(f"{args.gateway_url}/api/tts"),
            # Piper's server answers a whole WAV: its first byte comes when the audio is done.
            PIPER: http_measure(f"http://127.0.0.1:{piper_port}/synthesize"),
            WYOMING: lambda text: wyoming(wyoming_port, text),
        }
        for measure in servers.values():  # warm-up: model loads and first-run allocations
            measure(PARAGRAPH), measure(PARAGRAPH)
        results = sweep(servers, PARAGRAPH, sorted(set(args.streams)), args.rounds)
    finally:
        stop(piper_process)
        stop(wyoming_process)

    users = read_locust(args.results_dir)
    print_table(results, args.rounds)
    if users:
        print(f"\nlocust '{LOCUST_FIRST_AUDIO}' ({OURS}), ms")
        for point in users:
            print(
                f"{point.users:>5} users: p50 {point.p50_ms:>6.0f}  p95 {point.p95_ms:>6.0f}  ({point.requests} requests)"
            )

    report = {
        "voice": VOICE,
        "cores": cores,
        "text": PARAGRAPH,
        "rounds": args.rounds,
        "levels": [
            {
                "streams": streams,
                "servers": {name: asdict(stat) for name, stat in stats.items()},
                "p95_ratio_ours_to": {name: ratio(stats[OURS], stats[name]) for name in (PIPER, WYOMING)},
            }
            for streams, stats in results.items()
        ],
        "locust_users": [asdict(point) for point in users],
    }
    out = args.results_dir / "capacity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    draw(results, users, cores, args.chart)
    print(f"results written to {out}, chart to {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
