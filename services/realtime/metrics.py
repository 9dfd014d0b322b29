"""The realtime service's metrics: its WebSocket sessions. The audio they carry is counted by the
engine layer (asr_audio_seconds_total{mode="live"}, services.asr.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ACTIVE_SESSIONS = Gauge("realtime_active_sessions", "Live recognition sessions open now.", multiprocess_mode="livesum")
REFUSALS = Counter(
    "realtime_refusals", "Sessions refused because every place was taken (REALTIME_MAX_SESSIONS; close 1013)."
)
