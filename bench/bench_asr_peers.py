"""The Whisper engine's service time against its floor and a peer, on the same 23 s of speech.

- the ASR service (Whisper engine), the audio uploaded in one piece as raw PCM to its native
  `POST /api/stt/bytes`;
- the same service through OpenAI's door, `POST /v1/audio/transcriptions`, sent the same WAV
  file in the same form as faster-whisper-server below, so the two OpenAI-style servers are
  compared on equal terms (its ratios to faster-whisper-server and to the native call are
  printed, with no target);
- faster-whisper called in-process with the service's own model, settings and options: the
  floor, which the service may exceed by its HTTP, upload and conversion work (target: at
  most 1.15x);
- faster-whisper-server (from PyPI), pointed offline at the same model directory and run with
  its own defaults, the audio sent as a WAV file (target: the service is faster).

Runs are interleaved, so a noisy machine weighs on all four alike. Writes
bench/results/asr_peers.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import requests

from bench.harness import ROOT, free_port, start_service, wait_for_port
from services.asr.engines.base import RecognitionOptions
from services.asr.engines.whisper_engine import transcribe_options
from services.asr.models import find_models
from services.asr.settings import AsrSettings

RATE = 16000
# Distinct sentences, not one repeated: repeated text looks to Whisper like a decoding loop
# (a high compression ratio) and sets off its slow temperature fallback.
SPEECH_TEXT = (
    "The museum opens at nine in the morning. Visitors can buy tickets at the door or online. "
    "The first floor holds paintings from the last two centuries. Sculptures are on the second floor. "
    "A small cafe near the entrance serves coffee and sandwiches. The museum closes at six in the evening. "
    "Guided tours leave from the main hall every hour. Children under twelve enter for free. "
    "Large bags must be left in the cloakroom."
)

# The form OpenAI's clients send. faster-whisper-server reads its model from `model_name` and
# this service reads none, so `model` changes nothing on either side; it is sent to keep the
# request what such a client sends.
OPENAI_FORM = {"language": "en", "model": "whisper-1"}
OPENAI_DOOR = "service /v1 (WAV file)"


def speech(tts_url: str) -> bytes:
    response = requests.post(f"{tts_url}/api/tts", json={"text": SPEECH_TEXT, "sample_rate": RATE}, timeout=120)
    response.raise_for_status()
    return response.content


def as_wav(pcm: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm)
    return buffer.getvalue()


def in_process(model_dir: Path, settings: AsrSettings) -> Callable[[np.ndarray], str]:
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(model_dir), device="cpu", compute_type="int8", cpu_threads=settings.cpu_threads, local_files_only=True
    )

    def transcribe(audio: np.ndarray) -> str:
        options = transcribe_options(RecognitionOptions(language="en"), settings.whisper_beam_size)
        segments, _ = model.transcribe(audio, **options)
        return " ".join(segment.text.strip() for segment in segments)

    return transcribe


def start_faster_whisper_server(model_dir: Path, log_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [sys.executable, "-m", "faster_whisper_server", str(model_dir), "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=log, stderr=log)
    wait_for_port(port, process)
    return process, port


def transcribe_wav_file(base_url: str, wav: bytes) -> None:
    """An OpenAI-style transcription request: the WAV as the multipart `file`."""
    requests.post(
        f"{base_url}/v1/audio/transcriptions",
        files={"file": ("speech.wav", wav, "audio/wav")},
        data=OPENAI_FORM,
        timeout=120,
    ).raise_for_status()


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tts-url", default="http://127.0.0.1:8082")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/asr_peers.json")
    args = parser.parse_args()
    work_dir = ROOT / "bench" / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    model = next((m for m in find_models(args.models_dir / "asr") if m.engine == "whisper"), None)
    if model is None:
        print("no Whisper model exported; run 'make export'")
        return 1
    pcm = speech(args.tts_url)
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    seconds = len(audio) / RATE
    wav = as_wav(pcm)
    settings = AsrSettings.from_env()

    service = start_service(
        "asr", args.models_dir, work_dir / "asr-peers.log", ASR_ENGINE="whisper", MAX_AUDIO_DURATION="60"
    )
    peer, peer_port = start_faster_whisper_server(model.directory, work_dir / "faster-whisper-server.log")
    floor = in_process(model.directory, settings)
    contenders: dict[str, Callable[[], object]] = {
        "service": lambda: requests.post(
            f"{service.url}/api/stt/bytes?sr={RATE}&ch=1&fmt=s16le&lang=en", data=pcm, timeout=120
        ).raise_for_status(),
        OPENAI_DOOR: lambda: transcribe_wav_file(service.url, wav),
        "in-process faster-whisper": lambda: floor(audio),
        "faster-whisper-server": lambda: transcribe_wav_file(f"http://127.0.0.1:{peer_port}", wav),
    }
    try:
        for call in contenders.values():
            call()  # warm-up (faster-whisper-server loads its model on the first request)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for run in range(args.runs):
            for name, call in contenders.items():
                times[name].append(timed(call))
            print(f"  run {run + 1}/{args.runs}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()))
    finally:
        service.stop()
        peer.terminate()
        peer.wait(timeout=30)

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nWhisper {model.name}, {seconds:.1f} s of speech, median of {args.runs} interleaved runs")
    for name, median in medians.items():
        print(f"  {name:<27} {1000 * median:6.0f} ms   RTF {median / seconds:.3f}")
    floor_ratio = medians["service"] / medians["in-process faster-whisper"]
    peer_ratio = medians["service"] / medians["faster-whisper-server"]
    print(f"  {'PASS' if floor_ratio <= 1.15 else 'MISS'}  service / in-process = {floor_ratio:.2f} (target <= 1.15)")
    print(f"  {'PASS' if peer_ratio < 1 else 'MISS'}  service / faster-whisper-server = {peer_ratio:.2f} (target < 1)")
    door_peer_ratio = medians[OPENAI_DOOR] / medians["faster-whisper-server"]
    door_native_ratio = medians[OPENAI_DOOR] / medians["service"]
    print(f"        {OPENAI_DOOR} / faster-whisper-server = {door_peer_ratio:.2f}")
    print(f"        {OPENAI_DOOR} / service = {door_native_ratio:.2f}")
    result = {
        "model": model.name,
        "audio_seconds": seconds,
        "runs": args.runs,
        "median_seconds": medians,
        "seconds": times,
        "service_over_in_process": floor_ratio,
        "service_over_faster_whisper_server": peer_ratio,
        "service_v1_over_faster_whisper_server": door_peer_ratio,
        "service_v1_over_service": door_native_ratio,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
