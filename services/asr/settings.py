"""ASR service settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.config import ConfigError, env_int, env_str, models_dir
from services.common.unread_body import largest_body_bytes, max_audio_seconds

ENGINES = ("vosk", "whisper")


@dataclass(frozen=True)
class AsrSettings:
    models_dir: Path
    engine: str
    """"vosk", "whisper", or "" to pick by what is exported (Vosk when a Vosk model is there)."""
    whisper_model_size: str
    vosk_model: str
    """Directory name under models/asr/ of the Vosk model to serve; "" for the first one."""
    max_audio_seconds: int
    block_bytes: int
    whisper_beam_size: int
    cpu_threads: int
    concurrent_decodes: int
    read_timeout_seconds: int
    """How long an upload may go without sending a byte before it is dropped (408)."""
    max_decodes: int
    """Decodes after the upload that one worker runs at once; more wait (bounded), then 503."""
    max_queue: int
    queue_seconds: int
    early_decoding: bool
    """Whether Whisper decodes each utterance of an upload as soon as a pause ends it (the
    answer then comes sooner after the last byte, for more decodes in all)."""
    pause_ms: int
    """Silence that ends an utterance in a stream: Whisper decodes it then, while the rest
    still arrives."""
    partial_interval_ms: int
    """How often a live stream's open utterance is decoded again for its partial (Whisper)."""

    @property
    def max_upload_bytes(self) -> int:
        """The most bytes an audio upload may have: MAX_AUDIO_DURATION of the largest raw audio
        (48 kHz stereo 32-bit), plus room for headers. The gateway applies the same bound."""
        return largest_body_bytes(self.max_audio_seconds)

    @classmethod
    def from_env(cls) -> AsrSettings:
        engine = env_str("ASR_ENGINE", "").lower()
        if engine and engine not in ENGINES:
            raise ConfigError(f"ASR_ENGINE={engine!r}; choose one of {', '.join(ENGINES)}")
        return cls(
            models_dir=models_dir() / "asr",
            engine=engine,
            whisper_model_size=env_str("ASR_MODEL_SIZE", "base.en"),
            vosk_model=env_str("ASR_VOSK_MODEL", ""),
            max_audio_seconds=max_audio_seconds(),
            block_bytes=env_int("ASR_BLOCK_BYTES", 8192, minimum=512, maximum=1 << 20),
            whisper_beam_size=env_int("ASR_WHISPER_BEAM_SIZE", 3, minimum=1, maximum=10),
            cpu_threads=env_int("ASR_CPU_THREADS", 2, minimum=1, maximum=64),
            concurrent_decodes=env_int("ASR_CONCURRENT_DECODES", 2, minimum=1, maximum=64),
            read_timeout_seconds=env_int("ASR_READ_TIMEOUT", 10, minimum=1, maximum=600),
            max_decodes=env_int("ASR_MAX_DECODES", 2, minimum=1),
            max_queue=env_int("ASR_MAX_QUEUE", 8, minimum=0),
            queue_seconds=env_int("ASR_QUEUE_TIMEOUT", 10, minimum=1),
            early_decoding=env_int("ASR_EARLY_DECODING", 1, minimum=0, maximum=1) == 1,
            pause_ms=env_int("ASR_PAUSE_MS", 160, minimum=64, maximum=5000),
            partial_interval_ms=env_int("ASR_PARTIAL_INTERVAL_MS", 300, minimum=100, maximum=10000),
        )
