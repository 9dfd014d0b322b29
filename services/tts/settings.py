"""TTS service settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.config import env_int, env_pairs, env_str, models_dir

ALLOWED_SAMPLE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
DEFAULT_SAMPLE_RATE = 16000
# OpenAI's range, for every API: a Piper voice stays intelligible across it.
MIN_SPEED, MAX_SPEED = 0.25, 4.0


@dataclass(frozen=True)
class TtsSettings:
    voices_dir: Path
    default_voice: str
    """Voice used when a request names none; empty means the first exported voice."""
    max_text_chars: int
    ort_threads: int
    frame_bytes: int
    max_piece_chars: int
    first_part_ms: int
    """Audio decoded and sent ahead of the rest of the first piece (0: no split)."""
    max_streams: int
    """Streams one worker synthesizes at once; more wait (up to `max_queue`, `queue_seconds`)."""
    max_queue: int
    queue_seconds: int
    openai_voices: dict[str, str]
    """Served voice for some of OpenAI's voice names (the others get the default voice)."""

    @classmethod
    def from_env(cls) -> TtsSettings:
        return cls(
            voices_dir=models_dir() / "tts",
            default_voice=env_str("TTS_DEFAULT_VOICE", ""),
            max_text_chars=env_int("TTS_MAX_TEXT_CHARS", 5000, minimum=1),
            ort_threads=env_int("TTS_ORT_THREADS", 2, minimum=1, maximum=64),
            frame_bytes=env_int("TTS_FRAME_BYTES", 4096, minimum=256, maximum=1 << 20),
            max_piece_chars=env_int("TTS_MAX_PIECE_CHARS", 200, minimum=20),
            first_part_ms=env_int("TTS_FIRST_PART_MS", 300, minimum=0, maximum=5000),
            max_streams=env_int("TTS_MAX_STREAMS", 8, minimum=1),
            # A single-threaded worker (meinheld) cannot let a request wait: no queue there.
            max_queue=0
            if env_str("TTS_WORKER_CLASS", "gthread") == "meinheld"
            else env_int("TTS_MAX_QUEUE", 16, minimum=0),
            queue_seconds=env_int("TTS_QUEUE_TIMEOUT", 10, minimum=1),
            openai_voices=env_pairs("TTS_OPENAI_VOICES"),
        )
