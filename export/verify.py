"""Is this audio speech-like? Used to check an exported voice before it is installed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpeechStats:
    seconds: float
    rms_dbfs: float
    active_fraction: float
    """Share of 20 ms frames louder than -40 dBFS."""
    peak: float

    def problems(self, text_chars: int) -> list[str]:
        """Reasons this does not look like speech of a text this long (empty: looks fine)."""
        found = []
        seconds_per_char = self.seconds / max(text_chars, 1)
        if not 0.03 <= seconds_per_char <= 0.2:
            found.append(f"{self.seconds:.2f} s of audio for {text_chars} characters is implausible")
        if self.rms_dbfs < -35:
            found.append(f"too quiet ({self.rms_dbfs:.1f} dBFS)")
        if self.active_fraction < 0.4:
            found.append(f"mostly silent ({self.active_fraction:.0%} of frames active)")
        return found


def speech_stats(audio: np.ndarray, sample_rate: int) -> SpeechStats:
    audio = np.asarray(audio, dtype=np.float64)
    if audio.size == 0:
        return SpeechStats(0.0, -120.0, 0.0, 0.0)
    frame = max(sample_rate // 50, 1)
    usable = audio[: audio.size - audio.size % frame] if audio.size >= frame else audio
    frames = usable.reshape(-1, frame) if usable.size >= frame else usable.reshape(1, -1)
    frame_rms = np.sqrt(np.mean(frames**2, axis=1))
    rms = float(np.sqrt(np.mean(audio**2)))
    return SpeechStats(
        seconds=audio.size / sample_rate,
        rms_dbfs=20 * np.log10(max(rms, 1e-6)),
        active_fraction=float(np.mean(frame_rms > 10 ** (-40 / 20))),
        peak=float(np.max(np.abs(audio))),
    )
