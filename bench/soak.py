"""Soak: mixed traffic through the gateway for a bounded time (`make soak DURATION=30m`).

A few clients at a time send the stack what its users do: speech (native, WAV, OpenAI's mp3),
transcription (native and OpenAI's), echo, voice and model lists, health. Meanwhile the
resident memory (RSS) of every process `make run` started (each gunicorn master and worker,
nginx's master and workers) is read from /proc every few seconds.

Reported at the end, and written to bench/results/soak.json:
- requests sent, by kind, and every answer that was not a 2xx (status and body), and every
  request that failed outright (connection error, timeout, a stream cut short);
- per process: RSS at start and end, its highest, and the growth per 1,000 requests (the slope
  of a least-squares line through the samples, the first fifth left out as warm-up).
A worker that restarted (a new pid) is reported as such: that is a failure too.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path

import requests

from bench.bench_tts import PARAGRAPH, SENTENCE
from bench.harness import ROOT, child_pids, rss_mb

SAMPLE_SECONDS = 5.0
WARM_UP_SHARE = 0.2
SERVICES = ("tts", "asr", "realtime", "orchestrator", "nginx")


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    json_body: dict | None = None
    audio: bool = False  # the body is the recording made at start
    form: bool = False  # OpenAI's multipart upload of the recording as WAV


CALLS = [
    Call("tts sentence", "POST", "/api/tts", {"text": SENTENCE}),
    Call("tts paragraph", "POST", "/api/tts", {"text": PARAGRAPH}),
    Call("tts wav", "POST", "/api/tts/wav", {"text": SENTENCE, "speed": 1.3}),
    Call("openai speech mp3", "POST", "/v1/audio/speech", {"model": "tts-1", "voice": "alloy", "input": SENTENCE,
                                                            "response_format": "mp3"}),
    Call("stt", "POST", "/api/stt/bytes?sr=16000&ch=1&fmt=s16le", audio=True),
    Call("openai transcription", "POST", "/v1/audio/transcriptions", form=True),
    Call("echo", "POST", "/api/echo-bytes?sr=16000&ch=1&fmt=s16le", audio=True),
    Call("tts sentence", "POST", "/api/tts", {"text": "Yes, of course."}),
    Call("voices", "GET", "/api/voices"),
    Call("models", "GET", "/v1/models"),
    Call("health", "GET", "/healthz"),
]  # fmt: skip


@dataclass(frozen=True)
class Recording:
    """A spoken sentence (about 3 s at 16 kHz), as a voice assistant's user says one: raw s16le
    for the native uploads, WAV for OpenAI's."""

    pcm: bytes
    wav: bytes

    @classmethod
    def of(cls, url: str, text: str) -> Recording:
        made = [
            requests.post(f"{url}{path}", json={"text": text}, timeout=120) for path in ("/api/tts", "/api/tts/wav")
        ]
        for answer in made:
            answer.raise_for_status()
        return cls(made[0].content, made[1].content)


@dataclass
class Outcome:
    sent: Counter = field(default_factory=Counter)
    not_2xx: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.sent.values())

    def record(self, call: Call, status: int | None, problem: str = "") -> None:
        with self.lock:
            self.sent[call.name] += 1
            if status is None:
                key = f"{call.name}: {problem.split(':')[0]}"
                self.failed[key] += 1
                self.examples.setdefault(key, problem[:300])
            elif not 200 <= status < 300:
                key = f"{call.name}: {status}"
                self.not_2xx[key] += 1
                self.examples.setdefault(key, problem[:300])


def send(session: requests.Session, url: str, call: Call, recording: Recording, outcome: Outcome) -> None:
    try:
        if call.form:
            files = {"file": ("speech.wav", recording.wav, "audio/wav")}
            response = session.post(f"{url}{call.path}", data={"model": "whisper-1"}, files=files, timeout=120)
        elif call.audio:
            response = session.post(f"{url}{call.path}", data=recording.pcm, timeout=120)
        else:
            response = session.request(call.method, f"{url}{call.path}", json=call.json_body, timeout=120)
        body = response.content  # read to the end: a stream cut short raises here
        outcome.record(call, response.status_code, body[:300].decode(errors="replace"))
    except requests.RequestException as error:
        outcome.record(call, None, f"{type(error).__name__}: {error}")


def client(url: str, recording: Recording, outcome: Outcome, stop_at: float, offset: int) -> None:
    calls = cycle(CALLS[offset:] + CALLS[:offset])
    with requests.Session() as session:
        while time.monotonic() < stop_at:
            send(session, url, next(calls), recording, outcome)


def processes(run_dir: Path) -> dict[int, str]:
    """pid -> "service master|worker" for what `make run` started (its pid files)."""
    found: dict[int, str] = {}
    for service in SERVICES:
        pid_file = run_dir / f"{service}.pid"
        if not pid_file.is_file():
            continue
        master = int(pid_file.read_text().split()[0])
        found[master] = f"{service} master"
        try:
            found.update({worker: f"{service} worker" for worker in child_pids(master)})
        except OSError:
            continue  # the master is gone: a failure the report shows
    return found


def slope_per_1000(points: list[tuple[int, float]]) -> float:
    """MB per 1,000 requests: least squares through (requests, MB), warm-up left out."""
    kept = points[int(len(points) * WARM_UP_SHARE) :]
    if len(kept) < 3 or kept[-1][0] == kept[0][0]:
        return 0.0
    return 1000 * statistics.linear_regression([x for x, _ in kept], [y for _, y in kept]).slope


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 30m or 1h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def run(url: str, run_dir: Path, seconds: float, clients: int) -> dict:
    watched = processes(run_dir)
    if not watched:
        raise SystemExit(f"no process of the stack found from the pid files in {run_dir}; run 'make run' first")
    recording = Recording.of(url, SENTENCE)

    outcome = Outcome()
    samples: dict[int, list[tuple[int, float]]] = {pid: [] for pid in watched}
    started = time.monotonic()
    stop_at = started + seconds
    threads = [
        threading.Thread(target=client, args=(url, recording, outcome, stop_at, index * 3), daemon=True)
        for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    next_report = started + 60
    while any(thread.is_alive() for thread in threads):
        count = outcome.total
        for pid in watched:
            try:
                samples[pid].append((count, rss_mb(pid)))
            except OSError:
                continue  # it ended: the report says it is gone
        if time.monotonic() >= next_report:
            print(f"  {time.monotonic() - started:5.0f} s: {count} requests", flush=True)
            next_report += 60
        time.sleep(SAMPLE_SECONDS)
    now_running = processes(run_dir)
    report = {
        "duration_seconds": round(time.monotonic() - started),
        "clients": clients,
        "requests": outcome.total,
        "sent": dict(outcome.sent),
        "not_2xx": dict(outcome.not_2xx),
        "failed": dict(outcome.failed),
        "examples": outcome.examples,
        "processes": [
            {
                "pid": pid,
                "role": role,
                "still_running": pid in now_running,
                "rss_start_mb": round(samples[pid][0][1], 1) if samples[pid] else None,
                "rss_end_mb": round(samples[pid][-1][1], 1) if samples[pid] else None,
                "rss_max_mb": round(max(rss for _, rss in samples[pid]), 1) if samples[pid] else None,
                "slope_mb_per_1000": round(slope_per_1000(samples[pid]), 2),
            }
            for pid, role in watched.items()
        ],
        "new_processes": {pid: role for pid, role in now_running.items() if pid not in watched},
    }
    return report


def print_report(report: dict) -> None:
    print(f"\n{report['requests']} requests in {report['duration_seconds']} s, {report['clients']} clients at a time")
    print(f"{'process':22s} {'pid':>7s} {'start':>8s} {'end':>8s} {'max':>8s} {'MB/1000 req':>12s}")
    for process in report["processes"]:
        gone = "" if process["still_running"] else "  (gone: restarted?)"
        print(
            f"{process['role']:22s} {process['pid']:7d} {process['rss_start_mb']:8.1f} {process['rss_end_mb']:8.1f} "
            f"{process['rss_max_mb']:8.1f} {process['slope_mb_per_1000']:+12.2f}{gone}"
        )
    if report["new_processes"]:
        print(f"processes that started during the soak: {report['new_processes']}")
    problems = {**report["not_2xx"], **report["failed"]}
    if not problems:
        print("every answer was a 2xx")
    for key, count in sorted(problems.items()):
        print(f"  {count:5d} x {key}: {report['examples'].get(key, '')[:160]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "run", help="where `make run` keeps its pid files")
    parser.add_argument("--duration", type=parse_duration, default=parse_duration("10m"), help="e.g. 90s, 30m, 1h")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    report = run(args.gateway_url, args.run_dir, args.duration, args.clients)
    print_report(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    failed = report["not_2xx"] or report["failed"] or report["new_processes"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
