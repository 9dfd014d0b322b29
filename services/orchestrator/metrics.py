"""The orchestrator's metrics: the echo pipeline's recognition step."""

from __future__ import annotations

from prometheus_client import Histogram

ECHO_ASR = Histogram(
    "echo_asr_seconds",
    "Echo: the recognition step, from the request to ASR's answer (the upload included).",
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0),
)
