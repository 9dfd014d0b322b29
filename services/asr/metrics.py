"""The ASR engines' metrics, by engine and model: how much audio they hear, how long a client
waits once its audio is in, and what decoding costs.

The engine layer records them (services.asr.recognize, services.asr.live), so every front door
is counted in the process that decodes: uploads in the ASR service (native and OpenAI's), live
streams in the realtime service.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

AUDIO_SECONDS = Counter(
    "asr_audio_seconds",
    "Seconds of audio recognized, by mode: upload (a whole file or body) or live (a stream).",
    ["engine", "model", "mode"],
)
DECODE_AFTER_UPLOAD = Histogram(
    "asr_decode_after_upload_seconds",
    "From an upload's last byte to its transcript: what the client waits once its audio is in.",
    ["engine", "model"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0),
)
REAL_TIME_FACTOR = Histogram(
    "asr_real_time_factor",
    "An upload's decoding time (while it arrived and after) over its audio (below 1: faster than real time).",
    ["engine", "model"],
    buckets=(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0),
)
REFUSALS = Counter("asr_refusals", "Decodes refused at capacity (503 with Retry-After).", ["engine", "model"])


def serving(engine: str, model: str) -> None:
    """Start the loaded engine's series at zero, so a first refusal is a rise that `rate()` sees."""
    for metric in (DECODE_AFTER_UPLOAD, REAL_TIME_FACTOR, REFUSALS):
        metric.labels(engine, model)
    for mode in ("upload", "live"):
        AUDIO_SECONDS.labels(engine, model, mode)
