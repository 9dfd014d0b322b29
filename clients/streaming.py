"""What the reference clients share: posting to the stack, reading frames, saving WAV files."""

from __future__ import annotations

import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import requests

FRAME_BYTES = 4096


class ClientError(Exception):
    """A problem to print for the user (the stack is down, or answered an error)."""


def post(url: str, endpoint: str, **kwargs) -> requests.Response:
    """POST to the stack, streaming the answer; ClientError with a clear message on failure."""
    try:
        response = requests.post(f"{url.rstrip('/')}{endpoint}", stream=True, timeout=(5, 120), **kwargs)
    except requests.ConnectionError:
        raise ClientError(f"Cannot connect to {url}: is the stack running ('make run')?") from None
    if response.status_code != 200:
        try:
            error = response.json()["error"]
            detail = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            detail = response.text[:200]
        raise ClientError(f"{response.status_code} from {response.url}: {detail}")
    return response


def frames(response: requests.Response, size: int = FRAME_BYTES) -> Iterator[bytes]:
    """The body cut into `size`-byte frames (the last may be shorter), each yielded as soon as
    its bytes have arrived. Proxies may re-chunk a stream, so frames are cut here rather than
    taken from the HTTP chunks."""
    pending = b""
    for data in response.iter_content(chunk_size=None):
        pending += data
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


def receive_audio(response: requests.Response) -> list[bytes]:
    """Print each frame as it arrives, as the original clients do; return them all."""
    received = []
    for frame in frames(response):
        received.append(frame)
        print(f"Frame {len(received)}: {len(frame)} bytes, time: {time.time():.3f}")
    return received


def save_wav(path: Path, response: requests.Response, received: list[bytes]) -> None:
    pcm = b"".join(received)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(int(response.headers.get("X-Channels", 1)))
        wav.setsampwidth(2)
        wav.setframerate(int(response.headers.get("X-Sample-Rate", 16000)))
        wav.writeframes(pcm)
    print(f"\n✓ Audio saved to {path}")
    print(f"Total frames: {len(received)}, size: {len(pcm)} bytes")


def fail(error: ClientError) -> int:
    print(f"✗ {error}", file=sys.stderr)
    return 1
