"""TTS service settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.config import env_float, env_int, env_pairs, env_str, models_dir
from services.common.cpu import available_cores

CORES = available_cores()

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
    first_audio_ms: int
    """How soon after admission a stream's first audio is due, when streams already playing
    need the CPU first to keep their listeners from running dry (see services.tts.scheduling)."""
    span_ms: int
    """Longest step of synthesis while other streams synthesize too (see services.tts.scheduling)."""
    synthesis_slots: int
    """Synthesis steps one worker runs at once, each with `ort_threads` threads."""
    admit_load: float
    """Share of the slots the admitted streams may need to keep up with real time."""
    max_streams: int
    """Streams one worker holds at the most, whatever the load."""
    max_queue: int
    queue_seconds: int
    ahead_seconds: float
    """Audio a stream may have synthesized beyond what its client has taken."""
    reader_grace_seconds: float
    """How far behind real time a client may fall in taking audio before it is dropped."""
    openai_voices: dict[str, str]
    """Served voice for some of OpenAI's voice names (the others get the default voice)."""

    @classmethod
    def from_env(cls) -> TtsSettings:
        threads = env_int("TTS_ORT_THREADS", 1, minimum=1, maximum=64)
        return cls(
            voices_dir=models_dir() / "tts",
            default_voice=env_str("TTS_DEFAULT_VOICE", ""),
            max_text_chars=env_int("TTS_MAX_TEXT_CHARS", 5000, minimum=1),
            ort_threads=threads,
            frame_bytes=env_int("TTS_FRAME_BYTES", 4096, minimum=256, maximum=1 << 20),
            max_piece_chars=env_int("TTS_MAX_PIECE_CHARS", 200, minimum=20),
            first_part_ms=env_int("TTS_FIRST_PART_MS", 300, minimum=0, maximum=5000),
            first_audio_ms=env_int("TTS_FIRST_AUDIO_MS", 1000, minimum=50, maximum=10000),
            span_ms=env_int("TTS_SPAN_MS", 3000, minimum=500, maximum=60000),
            synthesis_slots=env_int("TTS_SYNTHESIS_SLOTS", max(1, CORES // threads), minimum=1),
            admit_load=env_float("TTS_ADMIT_LOAD", 0.75, minimum=0.1, maximum=4.0),
            max_streams=env_int("TTS_MAX_STREAMS", 24, minimum=1),
            # A single-threaded worker (meinheld) cannot let a request wait: no queue there.
            max_queue=0
            if env_str("TTS_WORKER_CLASS", "gthread") == "meinheld"
            else env_int("TTS_MAX_QUEUE", 16, minimum=0),
            queue_seconds=env_int("TTS_QUEUE_TIMEOUT", 1, minimum=1),
            ahead_seconds=env_float("TTS_AHEAD_SECONDS", 4.0, minimum=0.5, maximum=60.0),
            reader_grace_seconds=env_float("TTS_READER_GRACE_SECONDS", 10.0, minimum=1.0, maximum=600.0),
            openai_voices=env_pairs("TTS_OPENAI_VOICES"),
        )
