"""Reference live-recognition client: stream a WAV file or the microphone to /api/stt/ws
(vosk-server's WebSocket protocol) and print the words as they are recognized: the utterance
being spoken on one line as it grows, each finished utterance on a line of its own.

    python clients/stream_stt.py --input speech.wav            # at speaking pace, via :8000
    python clients/stream_stt.py --input speech.wav --fast     # as fast as the server answers
    python clients/stream_stt.py                               # the microphone; Ctrl-C ends
    python clients/stream_stt.py --url ws://localhost:8084/api/stt/ws --input speech.wav

The WAV may have any rate, 16-bit samples, one channel or more (mixed down to one). The
microphone needs the `sounddevice` package (bench/requirements-bench.txt) and PortAudio.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import signal
import sys
import threading
import time
import wave
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from types import FrameType

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

FRAME_SECONDS = 0.2
# Spelled as vosk-server's sample clients send it.
END_OF_STREAM = '{"eof" : 1}'


class ClientError(Exception):
    """A problem to print for the user (the stack is down, the input unusable, or the server
    answered an error)."""


class Transcript:
    """Prints the server's answers: the open utterance's partial text, rewritten in place on one
    line whenever it changes, and each finished utterance's text on a line of its own."""

    def __init__(self) -> None:
        self._partial = ""  # the partial text on the current line
        self._shown = 0  # how many characters of it are on the screen

    def show(self, message: str | bytes) -> None:
        try:
            answer = json.loads(message)
        except ValueError:
            raise ClientError(f"the server sent what is not JSON: {message[:200]!r}") from None
        if "error" in answer:
            self._show_final("")
            raise ClientError(f"{answer['error'].get('code')}: {answer['error'].get('message')}")
        if "partial" in answer:
            self._show_partial(answer["partial"])
        elif "text" in answer:
            self._show_final(answer["text"])

    def _show_partial(self, text: str) -> None:
        if text == self._partial:
            return
        # Only the tail of a partial wider than the terminal: a wrapped line cannot be rewritten.
        width = shutil.get_terminal_size().columns - 1
        shown = text if len(text) <= width else "…" + text[-(width - 1) :]
        print("\r" + shown.ljust(self._shown), end="", flush=True)
        self._partial, self._shown = text, len(shown)

    def _show_final(self, text: str) -> None:
        if text:
            print("\r" + text.ljust(self._shown), flush=True)
        elif self._shown:
            print("\r" + " " * self._shown + "\r", end="", flush=True)
        self._partial, self._shown = "", 0


def wav_frames(wav: wave.Wave_read) -> Iterator[bytes]:
    """The file's audio in frames of FRAME_SECONDS, as s16le mono."""
    channels = wav.getnchannels()
    while pcm := wav.readframes(int(wav.getframerate() * FRAME_SECONDS)):
        if channels > 1:
            samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels)
            pcm = samples.mean(axis=1).round().astype("<i2").tobytes()
        yield pcm


def paced(frames: Iterable[bytes], sample_rate: float) -> Iterator[bytes]:
    """The frames at speaking pace: each leaves once the audio before it would have played."""
    start, sent = time.monotonic(), 0.0
    for frame in frames:
        time.sleep(max(0.0, start + sent - time.monotonic()))
        yield frame
        sent += len(frame) / 2 / sample_rate


def microphone() -> tuple[float, Generator[bytes, None, None]]:
    """The default input device's rate, and its audio in frames of FRAME_SECONDS (s16le mono),
    recorded from the first frame asked for until the generator is closed."""
    try:
        import sounddevice  # optional: only the microphone needs it
    except (ImportError, OSError) as error:  # OSError: the package is there, PortAudio is not
        raise ClientError(f"Give a WAV file with --input, or install sounddevice for the microphone ({error})")
    blocks: queue.Queue[bytes] = queue.Queue()
    try:
        rate = float(sounddevice.query_devices(kind="input")["default_samplerate"])
        stream = sounddevice.RawInputStream(
            samplerate=rate,
            blocksize=int(rate * FRAME_SECONDS),
            channels=1,
            dtype="int16",
            callback=lambda data, _frames, _time, _status: blocks.put(bytes(data)),
        )
    except sounddevice.PortAudioError as error:
        raise ClientError(f"Cannot open the microphone: {error}") from None

    def frames() -> Generator[bytes, None, None]:
        with stream:  # records until the generator is closed
            print("Listening; Ctrl-C ends.", file=sys.stderr)
            while True:
                yield blocks.get()

    return rate, frames()


def recognize(url: str, sample_rate: float, frames: Iterable[bytes], api_key: str | None) -> None:
    """Stream the frames, printing the answer to each; at their end or on Ctrl-C, ask for the
    final result and print what comes until the server closes."""
    transcript = Transcript()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    try:
        with connect(url, additional_headers=headers, open_timeout=10) as websocket:
            try:
                websocket.send(json.dumps({"config": {"sample_rate": sample_rate, "words": 1}}))
                send_until_interrupted(websocket, frames, transcript)
                websocket.send(END_OF_STREAM)
            except ConnectionClosed:
                pass  # the server ended the session: why is in its last messages, read below
            for message in websocket:
                transcript.show(message)
    except InvalidStatus as refused:
        raise ClientError(f"{refused.response.status_code} from {url}: {http_error(refused.response.body)}") from None
    except ConnectionClosed as closed:
        raise ClientError(f"{url} closed the connection: {closed}") from None
    except OSError as error:
        raise ClientError(f"Cannot connect to {url}: is the stack running ('make run')? ({error})") from None
    except WebSocketException as error:
        raise ClientError(f"{url}: {error}") from None


def send_until_interrupted(websocket: ClientConnection, frames: Iterable[bytes], transcript: Transcript) -> None:
    """Send each frame and show the answer to it, until the frames end or Ctrl-C. Ctrl-C ends
    the stream between two frames, never in the middle of one; a second one stops at once."""
    interrupted = threading.Event()

    def interrupt(_signal: int, _frame: FrameType | None) -> None:
        interrupted.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        for frame in frames:
            if interrupted.is_set():
                break
            websocket.send(frame)
            transcript.show(websocket.recv())
    finally:
        signal.signal(signal.SIGINT, previous)


def http_error(body: bytes | bytearray | None) -> str:
    """The JSON error of a refused upgrade (the services' shape), or the start of the body."""
    try:
        error = json.loads(body or b"")["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return (body or b"").decode(errors="replace")[:200]


def stream_file(url: str, path: Path, fast: bool, api_key: str | None) -> None:
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise ClientError(f"{path} has {8 * wav.getsampwidth()}-bit samples; 16-bit are supported")
            rate = float(wav.getframerate())
            frames = wav_frames(wav) if fast else paced(wav_frames(wav), rate)
            recognize(url, rate, frames, api_key)
    except (OSError, wave.Error, EOFError) as error:
        raise ClientError(f"Cannot read {path} as a PCM WAV file: {error}") from None


def stream_microphone(url: str, api_key: str | None) -> None:
    rate, frames = microphone()
    with closing(frames):  # stops the recording
        recognize(url, rate, frames, api_key)


def main() -> int:
    parser = argparse.ArgumentParser(description="Stream speech to the live recognizer and print the text.")
    parser.add_argument("--url", default="ws://127.0.0.1:8000/api/stt/ws", help="gateway or realtime WebSocket URL")
    parser.add_argument("--input", type=Path, help="a 16-bit PCM WAV file (default: the microphone)")
    parser.add_argument("--fast", action="store_true", help="send the file without waiting at speaking pace")
    parser.add_argument("--api-key", help="one of the server's API_KEYS, when it has any")
    args = parser.parse_args()

    try:
        if args.input is None:
            stream_microphone(args.url, args.api_key)
        else:
            stream_file(args.url, args.input, args.fast, args.api_key)
    except ClientError as error:
        print(f"✗ {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
