"""Gateway benchmark: what Nginx adds, and how soon echo answers.

- TTS time to first audio byte and total time through the gateway versus direct to the
  service, same request, interleaved in one run. Target: the gateway adds at most 5 ms (median).
- Echo: time from the last uploaded byte to the first audio byte of the answer, for speech
  uploaded in one piece and paced at real-time speed.
Prints a table and writes bench/results/gateway.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.timing import send_body

SENTENCE = "Hello world, this is a streaming TTS test."
ECHO_SENTENCE = "Please call me back as soon as you get this message."
BYTES_PER_SECOND = 32000  # 16 kHz s16le mono


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)


def tts_request(url: str, text: str) -> tuple[float, float, bytes]:
    """(seconds to the first audio byte, total seconds, audio)."""
    connection = connect(url)
    body = json.dumps({"text": text}).encode()
    started = time.perf_counter()
    connection.request("POST", "/api/tts", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    first = response.read(1)
    first_byte = time.perf_counter() - started
    audio = first + response.read()
    total = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"TTS answered {response.status}")
    return first_byte, total, audio


def echo_request(url: str, pcm: bytes, paced: bool, block: int = 3200) -> tuple[float, str]:
    """(seconds from the last uploaded byte to the first audio byte, recognized text)."""
    connection = connect(url)
    connection.putrequest("POST", "/api/echo-bytes?sr=16000&ch=1&fmt=s16le")
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(len(pcm)))
    connection.endheaders()
    last_byte = send_body(connection, pcm, paced, BYTES_PER_SECOND, block)
    response = connection.getresponse()
    response.read(1)
    latency = time.perf_counter() - last_byte
    response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"echo answered {response.status}")
    return latency, response.getheader("X-Recognized-Text", "")


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument("--tts-url", default="http://127.0.0.1:8082")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/results/gateway.json"))
    args = parser.parse_args()

    for _ in range(3):  # warm-up
        tts_request(args.gateway_url, SENTENCE)
        tts_request(args.tts_url, SENTENCE)
    samples: dict[str, list[tuple[float, float]]] = {"direct": [], "gateway": []}
    for _ in range(args.runs):  # interleaved, so drift affects both alike
        samples["direct"].append(tts_request(args.tts_url, SENTENCE)[:2])
        samples["gateway"].append(tts_request(args.gateway_url, SENTENCE)[:2])
    first = {route: median_ms([s[0] for s in runs]) for route, runs in samples.items()}
    total = {route: median_ms([s[1] for s in runs]) for route, runs in samples.items()}

    speech = tts_request(args.tts_url, ECHO_SENTENCE)[2]
    echo = {
        "one piece": [echo_request(args.gateway_url, speech, paced=False)[0] for _ in range(5)],
        "paced": [echo_request(args.gateway_url, speech, paced=True)[0] for _ in range(3)],
    }

    print(f"TTS through the gateway vs direct, {args.runs} interleaved runs (medians)")
    print(f"{'route':<9} {'first byte':>11} {'total':>9}")
    for route in samples:
        print(f"{route:<9} {first[route]:>8.1f} ms {total[route]:>6.1f} ms")
    added_first = first["gateway"] - first["direct"]
    added_total = total["gateway"] - total["direct"]
    print(f"gateway adds {added_first:+.1f} ms to the first byte, {added_total:+.1f} ms to the total")
    print(f"  {'PASS' if added_first <= 5 else 'MISS'}  the gateway adds at most 5 ms (first byte)")
    print(f"\nEcho ({len(speech) / BYTES_PER_SECOND:.1f} s of speech): last uploaded byte -> first audio byte")
    for mode, latencies in echo.items():
        print(f"  {mode:<10} {median_ms(latencies):7.0f} ms (median of {len(latencies)})")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "tts_first_byte_ms": first,
                "tts_total_ms": total,
                "gateway_added_first_byte_ms": added_first,
                "gateway_added_total_ms": added_total,
                "echo_last_byte_to_first_audio_ms": {mode: median_ms(v) for mode, v in echo.items()},
            },
            indent=2,
        )
    )
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
