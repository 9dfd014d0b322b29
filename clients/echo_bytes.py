"""Reference echo client: send a WAV's audio to /api/echo-bytes, print the recognized text and
the frames of the spoken answer as they arrive, and save the answer as a WAV.

    python clients/echo_bytes.py                         # input.wav -> out_echo.wav via :8000
    python clients/echo_bytes.py --input speech.wav --url http://gateway:8000
"""

from __future__ import annotations

import argparse
import sys
import time
import wave
from pathlib import Path
from urllib.parse import unquote

import requests
from frames import frames  # clients/frames.py, beside this script

SAMPLE_FORMATS = {2: "s16le", 4: "s32le"}


def main() -> int:
    parser = argparse.ArgumentParser(description="Speech in, recognized text and synthesized speech out.")
    parser.add_argument("--url", default="http://localhost:8000", help="gateway base URL")
    parser.add_argument("--input", type=Path, default=Path("input.wav"))
    parser.add_argument("--output", type=Path, default=Path("out_echo.wav"))
    args = parser.parse_args()

    try:
        with wave.open(str(args.input), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            pcm = wav.readframes(wav.getnframes())
    except (OSError, wave.Error) as error:
        print(f"✗ Cannot read {args.input} as a PCM WAV file: {error}", file=sys.stderr)
        return 1
    if width not in SAMPLE_FORMATS:
        print(f"✗ {args.input} has {8 * width}-bit samples; 16 or 32 bit are supported", file=sys.stderr)
        return 1

    print(f"Input file: {args.input}")
    print(f"Parameters: {channels}ch, {rate}Hz, {8 * width}bit")
    print(f"PCM size: {len(pcm)} bytes\n")
    endpoint = f"{args.url.rstrip('/')}/api/echo-bytes"
    print(f"Sending to {endpoint}...")
    params = {"sr": rate, "ch": channels, "fmt": SAMPLE_FORMATS[width]}
    try:
        response = requests.post(
            endpoint,
            params=params,
            data=pcm,
            headers={"Content-Type": "application/octet-stream"},
            stream=True,
            timeout=(5, 120),
        )
    except requests.ConnectionError:
        print(f"✗ Cannot connect to {args.url}: is the stack running ('make run')?", file=sys.stderr)
        return 1
    if response.status_code != 200:
        try:
            error = response.json()["error"]
            detail = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            detail = response.text[:200]
        print(f"✗ {response.status_code} from {endpoint}: {detail}", file=sys.stderr)
        return 1

    print("\nReceiving response:")
    # The header is percent-encoded UTF-8 beyond printable ASCII (see the README).
    print(f"Recognized text: {unquote(response.headers.get('X-Recognized-Text', ''))}\n")
    rate_out = int(response.headers.get("X-Sample-Rate", 16000))
    received = []
    for frame in frames(response):
        received.append(frame)
        print(f"Frame {len(received)}: {len(frame)} bytes, time: {time.time():.3f}")

    audio = b"".join(received)
    with wave.open(str(args.output), "wb") as wav:
        wav.setnchannels(int(response.headers.get("X-Channels", 1)))
        wav.setsampwidth(2)
        wav.setframerate(rate_out)
        wav.writeframes(audio)
    print(f"\n✓ Audio saved to {args.output}")
    print(f"Total frames: {len(received)}, size: {len(audio)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
