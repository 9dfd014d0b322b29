"""Load test of the stack through the gateway: `make load` (or `locust -f bench/locustfile.py`).

A realistic mix: most users ask for speech (streamed; time to first audio is recorded as its
own metric, "first audio"), some transcribe a short recording, some use echo. The recording
is made once at start by the stack's own TTS.
"""

from __future__ import annotations

import time

from locust import HttpUser, between, events, task

SENTENCES = [
    "Hello world, this is a streaming TTS test.",
    "The museum opens at nine in the morning. Visitors can buy tickets at the door or online.",
    "Please call me back as soon as you get this message.",
]
RECORDING: dict[str, bytes] = {}


@events.test_start.add_listener
def make_recording(environment, **_: object) -> None:
    """Speech for the STT and echo users: 3 s of the joe voice, s16le 16 kHz mono."""
    import requests

    response = requests.post(f"{environment.host}/api/tts", json={"text": SENTENCES[2]}, timeout=60)
    response.raise_for_status()
    RECORDING["pcm"] = response.content


class SpeechUser(HttpUser):
    """Listens to synthesized speech as it streams."""

    weight = 3
    wait_time = between(1, 3)

    @task
    def speak(self) -> None:
        text = SENTENCES[int(time.time()) % len(SENTENCES)]
        started = time.perf_counter()
        with self.client.post(
            "/api/tts", json={"text": text}, stream=True, catch_response=True, name="/api/tts"
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            first = None
            size = 0
            for chunk in response.iter_content(chunk_size=4096):
                if first is None:
                    first = time.perf_counter() - started
                size += len(chunk)
            events.request.fire(
                request_type="TTS",
                name="first audio",
                response_time=1000 * (first or 0.0),
                response_length=size,
                exception=None if first is not None else RuntimeError("no audio"),
                context={},
            )


class TranscribeUser(HttpUser):
    """Uploads a short recording for transcription."""

    weight = 1
    wait_time = between(2, 5)

    @task
    def transcribe(self) -> None:
        with self.client.post(
            "/api/stt/bytes?sr=16000&ch=1&fmt=s16le",
            data=RECORDING.get("pcm", b""),
            headers={"Content-Type": "application/octet-stream"},
            catch_response=True,
            name="/api/stt/bytes",
        ) as response:
            if response.status_code != 200 or not response.json().get("text"):
                response.failure(f"{response.status_code}: {response.text[:200]}")


class EchoUser(HttpUser):
    """Speech in, speech out."""

    weight = 1
    wait_time = between(2, 5)

    @task
    def echo(self) -> None:
        with self.client.post(
            "/api/echo-bytes?sr=16000&ch=1&fmt=s16le",
            data=RECORDING.get("pcm", b""),
            headers={"Content-Type": "application/octet-stream"},
            stream=True,
            catch_response=True,
            name="/api/echo-bytes",
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            for _ in response.iter_content(chunk_size=65536):
                pass
