"""Reference TTS client: stream speech for a text, print frames as they arrive, save a WAV.

python clients/stream_tts.py                       # through the gateway on :8000
python clients/stream_tts.py --url http://localhost:8082 --text "Hello there."
"""

from __future__ import annotations

import argparse
import sys
import time
import wave
from pathlib import Path

import requests
from frames import frames  # clients/frames.py, beside this script

DEFAULT_TEXT = "Hello world, this is a streaming TTS test."


def main() -> int:
    parser = argparse.ArgumentParser(description="Stream text-to-speech and save it as WAV.")
    parser.add_argument("--url", default="http://localhost:8000", help="gateway or TTS service base URL")
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--voice", default=None)
    parser.add_argument("--output", type=Path, default=Path("input.wav"))
    args = parser.parse_args()

    endpoint = f"{args.url.rstrip('/')}/api/tts"
    body = {"text": args.text, **({"voice": args.voice} if args.voice else {})}
    print(f"Sending request to {endpoint}...")
    print(f"Text: {args.text}\n")
    try:
        response = requests.post(endpoint, json=body, stream=True, timeout=(5, 120))
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

    rate = int(response.headers.get("X-Sample-Rate", 16000))
    channels = int(response.headers.get("X-Channels", 1))
    print("Receiving audio chunks:")
    received = []
    for frame in frames(response):
        received.append(frame)
        print(f"Frame {len(received)}: {len(frame)} bytes, time: {time.time():.3f}")

    pcm = b"".join(received)
    with wave.open(str(args.output), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    print(f"\n✓ Audio saved to {args.output}")
    print(f"Total frames: {len(received)}, size: {len(pcm)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
