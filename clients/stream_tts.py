"""Reference TTS client: stream speech for a text, print frames as they arrive, save a WAV.

python clients/stream_tts.py                       # through the gateway on :8000
python clients/stream_tts.py --url http://localhost:8082 --text "Hello there."
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streaming import ClientError, fail, post, receive_audio, save_wav  # clients/streaming.py

DEFAULT_TEXT = "Hello world, this is a streaming TTS test."


def main() -> int:
    parser = argparse.ArgumentParser(description="Stream text-to-speech and save it as WAV.")
    parser.add_argument("--url", default="http://localhost:8000", help="gateway or TTS service base URL")
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--voice", default=None)
    parser.add_argument("--output", type=Path, default=Path("input.wav"))
    args = parser.parse_args()

    print(f"Sending request to {args.url.rstrip('/')}/api/tts...")
    print(f"Text: {args.text}\n")
    body = {"text": args.text, **({"voice": args.voice} if args.voice else {})}
    try:
        response = post(args.url, "/api/tts", json=body)
    except ClientError as error:
        return fail(error)
    print("Receiving audio chunks:")
    save_wav(args.output, response, receive_audio(response))
    return 0


if __name__ == "__main__":
    sys.exit(main())
