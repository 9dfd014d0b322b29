"""The Wyoming servers against the ones Home Assistant users run, same voice and model, one run.

- TTS: ours (`make run`'s, over the TTS service) and wyoming-piper (offline, the same Piper
  voice): time to the first `audio-chunk` and to `audio-stop`, for a sentence and a paragraph.
- ASR: ours and wyoming-faster-whisper (the same Whisper model directory, beam size and CPU
  threads): the time from `audio-stop` to `transcript`. The audio is TTS-made speech followed
  by half a second of silence (where Home Assistant's voice detector ends a command), sent at
  the pace a microphone would send it, in 1,024-sample chunks at 16 kHz.

Requests are interleaved so drift on the machine affects both servers alike. Prints medians and
ratios and writes bench/results/wyoming.json. Targets (issue): first audio at most 0.5x
wyoming-piper's on the sentence and the paragraph; transcript at most 1.0x
wyoming-faster-whisper's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import jiwer
import requests
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.tts import Synthesize

from bench.bench_peers import start_wyoming_piper
from bench.bench_tts import PARAGRAPH, SENTENCE
from bench.harness import ROOT, free_port, wait_for_port
from services.asr.models import choose_engine, find_models
from services.asr.settings import AsrSettings

COMMAND = "Turn on the kitchen lights and set the temperature to twenty degrees."
RATE, WIDTH, CHANNELS = 16000, 2, 1
CHUNK_SAMPLES = 1024
TRAILING_SILENCE_SECONDS = 0.5
SETTLE_SECONDS = 0.3


async def read(client: AsyncTcpClient) -> Event:
    event = await asyncio.wait_for(client.read_event(), 120)
    if event is None:
        raise RuntimeError("the server closed the connection")
    if event.type == "error":
        raise RuntimeError(f"the server answered an error: {event.data}")
    return event


async def synthesize(port: int, text: str) -> tuple[float, float]:
    """Seconds to the first audio chunk and to audio-stop."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        started = time.perf_counter()
        await client.write_event(Synthesize(text=text).event())
        first = None
        while not AudioStop.is_type((event := await read(client)).type):
            if first is None and AudioChunk.is_type(event.type):
                first = time.perf_counter() - started
        done = time.perf_counter() - started
        return (first if first is not None else done), done


async def transcribe(port: int, pcm: bytes) -> tuple[float, str]:
    """Seconds from audio-stop to the transcript, and its text; the audio is sent in real time."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=RATE, width=WIDTH, channels=CHANNELS).event())
        step = CHUNK_SAMPLES * WIDTH * CHANNELS
        due = time.perf_counter()
        for start in range(0, len(pcm), step):
            chunk = AudioChunk(rate=RATE, width=WIDTH, channels=CHANNELS, audio=pcm[start : start + step])
            await client.write_event(chunk.event())
            due += CHUNK_SAMPLES / RATE
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        stopped = time.perf_counter()
        await client.write_event(AudioStop().event())
        while (event := await read(client)).type != "transcript":
            pass
        return time.perf_counter() - stopped, event.data["text"]


def start_wyoming_faster_whisper(work: Path, model_dir: Path, settings: AsrSettings) -> tuple[subprocess.Popen, int]:
    port = free_port()
    data_dir = work / "wyoming-faster-whisper"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "wyoming_faster_whisper", "--uri", f"tcp://127.0.0.1:{port}"]
    command += ["--model", str(model_dir), "--data-dir", str(data_dir), "--language", "en"]
    command += ["--beam-size", str(settings.whisper_beam_size), "--cpu-threads", str(settings.cpu_threads)]
    command += ["--stt-library", "faster-whisper"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, timeout=120)
    return process, port


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def interleaved(calls: dict[str, Callable[[], Awaitable]], runs: int) -> dict[str, list]:
    """Each call `runs` times, in turn, after one warm-up each."""
    results: dict[str, list] = {name: [] for name in calls}
    for call in calls.values():
        asyncio.run(call())
    for _ in range(runs):
        for name, call in calls.items():
            time.sleep(SETTLE_SECONDS)
            results[name].append(asyncio.run(call()))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tts-url", default="http://127.0.0.1:8082", help="speech for the ASR side")
    parser.add_argument("--wyoming-tts-port", type=int, default=10200)
    parser.add_argument("--wyoming-asr-port", type=int, default=10300)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/wyoming.json")
    args = parser.parse_args()
    work = ROOT / "bench" / "work" / "wyoming"
    work.mkdir(parents=True, exist_ok=True)
    settings = AsrSettings.from_env()
    engine = choose_engine(settings).engine
    if engine is None or engine.name != "whisper":
        print("The ASR comparison needs a Whisper model exported (make export).")
        return 1
    model = next(m for m in find_models(settings.models_dir) if m.directory.name == engine.id)
    speech = requests.post(args.tts_url + "/api/tts", json={"text": COMMAND, "sample_rate": RATE}, timeout=60)
    speech.raise_for_status()
    pcm = speech.content + bytes(int(TRAILING_SILENCE_SECONDS * RATE) * WIDTH)

    piper, piper_port = start_wyoming_piper(work)
    whisper, whisper_port = start_wyoming_faster_whisper(work, model.directory, settings)
    report: dict[str, dict] = {"tts": {}, "asr": {}}
    try:
        for case, text in {"sentence": SENTENCE, "paragraph": PARAGRAPH}.items():
            results = interleaved(
                {
                    "ours": lambda text=text: synthesize(args.wyoming_tts_port, text),
                    "wyoming-piper": lambda text=text: synthesize(piper_port, text),
                },
                args.runs,
            )
            report["tts"][case] = {
                name: {
                    "first_audio_ms": median_ms([f for f, _ in samples]),
                    "total_ms": median_ms([t for _, t in samples]),
                }
                for name, samples in results.items()
            }
        results = interleaved(
            {
                "ours": lambda: transcribe(args.wyoming_asr_port, pcm),
                "wyoming-faster-whisper": lambda: transcribe(whisper_port, pcm),
            },
            args.runs,
        )
        report["asr"] = {
            name: {
                "after_audio_stop_ms": median_ms([seconds for seconds, _ in samples]),
                "word_error_rate": jiwer.wer(COMMAND.lower(), samples[-1][1].lower().strip()),
                "text": samples[-1][1],
            }
            for name, samples in results.items()
        }
    finally:
        piper.terminate()
        whisper.terminate()

    print(f"Wyoming TTS, median of {args.runs} interleaved runs (same voice, same machine)")
    print(f"{'server':<16} {'case':<10} {'first audio':>12} {'total':>10}")
    for case, servers in report["tts"].items():
        for name, figures in servers.items():
            print(f"{name:<16} {case:<10} {figures['first_audio_ms']:>9.0f} ms {figures['total_ms']:>7.0f} ms")
    print(f"Wyoming ASR, audio-stop to transcript, median of {args.runs} interleaved runs (same model)")
    for name, figures in report["asr"].items():
        print(f"{name:<24} {figures['after_audio_stop_ms']:>7.0f} ms   {figures['text']!r}")
    ratios = {
        f"first audio vs wyoming-piper, {case} (target <= 0.5)": servers["ours"]["first_audio_ms"]
        / servers["wyoming-piper"]["first_audio_ms"]
        for case, servers in report["tts"].items()
    }
    ratios["transcript vs wyoming-faster-whisper (target <= 1.0)"] = (
        report["asr"]["ours"]["after_audio_stop_ms"] / report["asr"]["wyoming-faster-whisper"]["after_audio_stop_ms"]
    )
    for label, ratio in ratios.items():
        target = float(label.rsplit("<= ", 1)[1].rstrip(")"))
        print(f"  {'PASS' if ratio <= target else 'MISS'}  ours {label}: {ratio:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**report, "ratios": ratios}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
