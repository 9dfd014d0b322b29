"""The TTS service's metrics, by voice: what its listeners feel (first audio, refusals, drops)
and what the voices cost (real-time factor, queue wait).

The engine layer records them (services.tts.speech, services.tts.stream), so every front door
that streams speech is counted: the native API, OpenAI's, the Wyoming server's requests and the
echo pipeline's replies.
"""

from __future__ import annotations

import time
from enum import Enum

from prometheus_client import Counter, Gauge, Histogram

# Most first audio leaves within 100 ms on an idle machine; under load it is the queue's wait.
FIRST_AUDIO = Histogram(
    "tts_first_audio_seconds",
    "From the request reaching the TTS engine to its first audio handed to the server.",
    ["voice"],
    buckets=(0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
)
SYNTHESIS = Histogram(
    "tts_synthesis_seconds",
    "A whole stream, from the request to its last audio (synthesis runs a few seconds ahead of "
    "the listener, so a long text takes about as long as it plays).",
    ["voice"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
REAL_TIME_FACTOR = Histogram(
    "tts_real_time_factor",
    "Time the voice spent synthesizing a stream over the audio it made (below 1: faster than real time).",
    ["voice"],
    buckets=(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0),
)
CHARACTERS = Counter("tts_characters", "Characters of text admitted to be spoken (after normalization).", ["voice"])
AUDIO_SECONDS = Counter("tts_audio_seconds", "Seconds of audio synthesized and encoded.", ["voice"])
ACTIVE_STREAMS = Gauge(
    "tts_active_streams", "Streams admitted and not yet closed.", ["voice"], multiprocess_mode="livesum"
)
QUEUE_WAIT = Histogram(
    "tts_queue_wait_seconds",
    "Wait for a place among the streams at work (TTS_MAX_STREAMS), admitted requests only.",
    ["voice"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REFUSALS = Counter("tts_refusals", "Requests refused at capacity (503 with Retry-After).", ["voice"])
DISCONNECTS = Counter(
    "tts_disconnects",
    "Streams that ended before their last audio, by reason: client_closed (the client left), "
    "slow_reader (it took audio slower than real time), stalled (it took none for the grace period).",
    ["voice", "reason"],
)
ECHO_VOICE_TO_VOICE = Histogram(
    "echo_voice_to_voice_seconds",
    "Echo: from the end of the caller's audio to the reply's first audio.",
    buckets=(0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)


class Disconnect(str, Enum):
    CLIENT_CLOSED = "client_closed"
    SLOW_READER = "slow_reader"
    STALLED = "stalled"


class StreamMetrics:
    """One admitted stream's share of the metrics, from its admission to its close."""

    def __init__(self, voice: str, started: float, characters: int, queue_seconds: float) -> None:
        self._voice = voice
        self._started = started
        """`time.perf_counter()` when the request reached the engine."""
        self.echo_waited: float | None = None
        """For an echo reply: seconds between the end of the caller's audio and `started`."""
        self._closed = False
        CHARACTERS.labels(voice).inc(characters)
        QUEUE_WAIT.labels(voice).observe(queue_seconds)
        ACTIVE_STREAMS.labels(voice).inc()

    def first_audio(self) -> None:
        seconds = time.perf_counter() - self._started
        FIRST_AUDIO.labels(self._voice).observe(seconds)
        if self.echo_waited is not None:
            ECHO_VOICE_TO_VOICE.observe(self.echo_waited + seconds)

    def synthesized(self, audio_seconds: float, synthesis_seconds: float) -> None:
        """The last audio is made: the whole stream's time, and the voice's speed on it."""
        SYNTHESIS.labels(self._voice).observe(time.perf_counter() - self._started)
        if audio_seconds > 0:
            REAL_TIME_FACTOR.labels(self._voice).observe(synthesis_seconds / audio_seconds)

    def closed(self, audio_seconds: float, disconnect: Disconnect | None) -> None:
        if self._closed:
            return
        self._closed = True
        AUDIO_SECONDS.labels(self._voice).inc(audio_seconds)
        if disconnect is not None:
            DISCONNECTS.labels(self._voice, disconnect.value).inc()
        ACTIVE_STREAMS.labels(self._voice).dec()


def refused(voice: str) -> None:
    REFUSALS.labels(voice).inc()


def serving(voice: str) -> None:
    """Start a loaded voice's series at zero, so a first refusal or drop is a rise from 0 that
    `rate()` sees, not a series that appears already at 1."""
    for metric in (
        FIRST_AUDIO,
        SYNTHESIS,
        REAL_TIME_FACTOR,
        CHARACTERS,
        AUDIO_SECONDS,
        ACTIVE_STREAMS,
        QUEUE_WAIT,
        REFUSALS,
    ):
        metric.labels(voice)
    for reason in Disconnect:
        DISCONNECTS.labels(voice, reason.value)
