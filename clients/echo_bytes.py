"""Reference echo client: send a WAV's audio to /api/echo-bytes, print the recognized text and
the frames of the spoken answer as they arrive, and save the answer as a WAV.

    python clients/echo_bytes.py                         # input.wav -> out_echo.wav via :8000
    python clients/echo_bytes.py --input speech.wav --url http://gateway:8000
"""

from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path
from urllib.parse import unquote

from streaming import ClientError, fail, post, receive_audio, save_wav  # clients/streaming.py

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
        return fail(ClientError(f"Cannot read {args.input} as a PCM WAV file: {error}"))
    if width not in SAMPLE_FORMATS:
        return fail(ClientError(f"{args.input} has {8 * width}-bit samples; 16 or 32 bit are supported"))

    print(f"Input file: {args.input}")
    print(f"Parameters: {channels}ch, {rate}Hz, {8 * width}bit")
    print(f"PCM size: {len(pcm)} bytes\n")
    print(f"Sending to {args.url.rstrip('/')}/api/echo-bytes...")
    try:
        response = post(
            args.url,
            "/api/echo-bytes",
            params={"sr": rate, "ch": channels, "fmt": SAMPLE_FORMATS[width]},
            data=pcm,
            headers={"Content-Type": "application/octet-stream"},
        )
    except ClientError as error:
        return fail(error)

    print("\nReceiving response:")
    # The header is percent-encoded UTF-8 beyond printable ASCII (see the README).
    print(f"Recognized text: {unquote(response.headers.get('X-Recognized-Text', ''))}\n")
    save_wav(args.output, response, receive_audio(response))
    return 0


if __name__ == "__main__":
    sys.exit(main())
