"""Orchestrator settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import env_float, env_int, env_str
from services.orchestrator.deep_health import DeepHealthOptions


@dataclass(frozen=True)
class OrchestratorSettings:
    asr_url: str
    tts_url: str
    realtime_url: str
    """The realtime (WebSocket) service, reported in /healthz/all; "" where none is deployed."""
    wyoming_tts_url: str
    """The Wyoming TTS server (tcp://host:port), reported in /healthz/all; "" where none is."""
    wyoming_asr_url: str
    request_timeout: int
    read_timeout: int
    block_bytes: int
    deep_health: DeepHealthOptions
    nginx_status_url: str
    """The gateway's stub_status, read for /metrics; "" to read none."""

    @classmethod
    def from_env(cls) -> OrchestratorSettings:
        return cls(
            asr_url=env_str("ASR_SERVICE_URL", "http://127.0.0.1:8081").rstrip("/"),
            tts_url=env_str("TTS_SERVICE_URL", "http://127.0.0.1:8082").rstrip("/"),
            realtime_url=env_str("REALTIME_SERVICE_URL", "").rstrip("/"),
            wyoming_tts_url=env_str("WYOMING_TTS_URL", ""),
            wyoming_asr_url=env_str("WYOMING_ASR_URL", ""),
            request_timeout=env_int("REQUEST_TIMEOUT", 60, minimum=1),
            read_timeout=env_int("ORCHESTRATOR_READ_TIMEOUT", 10, minimum=1),
            block_bytes=env_int("ORCHESTRATOR_BLOCK_BYTES", 8192, minimum=512),
            deep_health=DeepHealthOptions(
                cache_seconds=env_float("DEEP_HEALTH_CACHE_SECONDS", 10.0, minimum=0.0),
                timeout_seconds=env_float("DEEP_HEALTH_TIMEOUT", 15.0, minimum=1.0),
                max_word_error_rate=env_float("DEEP_HEALTH_MAX_WER", 0.3, minimum=0.0, maximum=1.0),
            ),
            nginx_status_url=env_str("NGINX_STATUS_URL", "http://127.0.0.1:8079/nginx_status"),
        )
