"""A quicker, rougher Whisper for partial hypotheses.

Whisper's encoder always reads a 30-second window; a short stretch of speech is padded to it
with silence, and on two cores that fixed cost (about 350 ms for tiny.en) is most of a
decode. Read only as far as the audio fills the window, plus a margin, it costs a third as
much. Whisper was trained on whole windows, though: read short it now and then repeats itself
or adds a word. So only drafts are read this way (partials, which take only the words two
drafts in a row agree on); every final result reads the whole window.
"""

from __future__ import annotations

import numpy as np
from ctranslate2 import StorageView
from faster_whisper import WhisperModel

FRAMES_PER_SECOND = 100
MIN_WINDOW_FRAMES = 10 * FRAMES_PER_SECOND
MARGIN_FRAMES = 4 * FRAMES_PER_SECOND
"""Silence kept after the audio: without it Whisper tends to run on past the last word."""


class DraftWhisperModel(WhisperModel):
    def encode(self, features: np.ndarray) -> StorageView:
        """Encode only the part of the window the audio fills, and a margin of silence."""
        batch = features if features.ndim == 3 else features[None]
        # faster-whisper pads the features of audio shorter than the window with exact zeros;
        # a column of audio, even of silence, is never all zero.
        filled = np.flatnonzero(np.any(batch != 0, axis=(0, 1)))
        frames = int(filled[-1]) + 1 if filled.size else 0
        window = min(batch.shape[-1], max(MIN_WINDOW_FRAMES, frames + MARGIN_FRAMES))
        return super().encode(np.ascontiguousarray(batch[..., :window]))
