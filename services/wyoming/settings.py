"""Wyoming servers' settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.api_keys import api_keys_from_env
from services.common.config import env_int, env_str

TTS_PORT = 10200
ASR_PORT = 10300
# Each server's Prometheus metrics (HTTP), on the port after its own.
TTS_METRICS_PORT = 10201
ASR_METRICS_PORT = 10301


@dataclass(frozen=True)
class WyomingSettings:
    host: str
    """The address both servers listen on."""
    tts_port: int
    asr_port: int
    tts_metrics_port: int
    """Where the TTS server answers `GET /metrics` (HTTP, on `host`); 0: nowhere."""
    asr_metrics_port: int
    tts_url: str
    """The TTS service the TTS server calls."""
    api_key: str | None
    """With API_KEYS set, the key the TTS server shows the TTS service (the first one)."""
    zeroconf: bool
    """Announce each server as `_wyoming._tcp` on the local network (mDNS)."""
    max_clients: int
    """Connections one server holds at once; one more is told so and closed."""
    idle_timeout_seconds: int
    """How long a connection may go without an event before it is closed."""
    max_event_bytes: int
    """The largest data or payload one event may carry."""
    max_sessions: int
    """ASR: transcriptions decoding at once (each holds a thread of the engine)."""

    @classmethod
    def from_env(cls) -> WyomingSettings:
        keys = sorted(api_keys_from_env())
        return cls(
            host=env_str("WYOMING_HOST", "0.0.0.0"),
            tts_port=env_int("WYOMING_TTS_PORT", TTS_PORT, minimum=1, maximum=65535),
            asr_port=env_int("WYOMING_ASR_PORT", ASR_PORT, minimum=1, maximum=65535),
            tts_metrics_port=env_int("WYOMING_TTS_METRICS_PORT", TTS_METRICS_PORT, minimum=0, maximum=65535),
            asr_metrics_port=env_int("WYOMING_ASR_METRICS_PORT", ASR_METRICS_PORT, minimum=0, maximum=65535),
            tts_url=env_str("TTS_SERVICE_URL", "http://127.0.0.1:8082").rstrip("/"),
            api_key=keys[0] if keys else None,
            zeroconf=env_str("WYOMING_ZEROCONF", "0").lower() in ("1", "true", "yes", "on"),
            max_clients=env_int("WYOMING_MAX_CLIENTS", 16, minimum=1),
            idle_timeout_seconds=env_int("WYOMING_IDLE_TIMEOUT", 30, minimum=1, maximum=3600),
            max_event_bytes=env_int("WYOMING_MAX_EVENT_BYTES", 1 << 20, minimum=4096, maximum=64 << 20),
            max_sessions=env_int("WYOMING_ASR_MAX_SESSIONS", 4, minimum=1),
        )
