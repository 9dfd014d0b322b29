"""Realtime service settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from services.asr.live import HIGHEST_SAMPLE_RATE, LOWEST_SAMPLE_RATE
from services.common.config import env_int, env_str


@dataclass(frozen=True)
class RealtimeSettings:
    host: str
    port: int
    workers: int
    """gunicorn worker processes; each loads the model once and holds its own sessions."""
    max_sessions: int
    """Sessions one worker serves at once; one more is told so and closed (1013)."""
    idle_timeout_seconds: int
    """How long a session may go without a frame from its client before it is closed."""
    max_frame_bytes: int
    """The largest frame (audio or text) a client may send."""
    sample_rate: int
    """The audio's rate when a client sends no config (vosk-server's VOSK_SAMPLE_RATE)."""
    max_session_seconds: int
    """How long one session may last, however busy, so that no client holds a place forever."""

    @classmethod
    def from_env(cls) -> RealtimeSettings:
        return cls(
            host=env_str("REALTIME_HOST", "127.0.0.1"),
            port=env_int("REALTIME_PORT", 8084, minimum=1, maximum=65535),
            workers=env_int("REALTIME_WORKERS", 1, minimum=1),
            max_sessions=env_int("REALTIME_MAX_SESSIONS", 4, minimum=1),
            idle_timeout_seconds=env_int("REALTIME_IDLE_TIMEOUT", 20, minimum=1, maximum=3600),
            max_frame_bytes=env_int("REALTIME_MAX_FRAME_BYTES", 262144, minimum=1024, maximum=16 << 20),
            sample_rate=env_int(
                "REALTIME_SAMPLE_RATE", 16000, minimum=int(LOWEST_SAMPLE_RATE), maximum=int(HIGHEST_SAMPLE_RATE)
            ),
            max_session_seconds=env_int("REALTIME_MAX_SESSION_SECONDS", 3600, minimum=10),
        )
