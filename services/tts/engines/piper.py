"""Piper (VITS) voices: espeak-ng phonemes -> phoneme ids -> ONNX -> audio.

`make export` splits each Piper graph in two: a text model (phoneme ids -> latent frames, one
per 256 output samples, with the voice's randomness) and an audio model (latent frames ->
waveform: flow and vocoder, deterministic and convolutional). The audio model can therefore
decode any span of frames on its own, given enough neighbouring frames as context; decoding
a short first span lets the first audio out after a fraction of a piece's cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from piper.phoneme_ids import phonemes_to_ids

from services.tts.engines.espeak import EspeakPhonemizer
from services.tts.engines.onnx import create_session

# A span after the first must decode within half the time its audio in hand takes to play.
SPAN_TIME_MARGIN = 2.0

_phonemizer: EspeakPhonemizer | None = None
_PHONEMIZER_LOCK = threading.Lock()  # espeak-ng is set up once per process


def phonemize(espeak_voice: str, text: str) -> list[str]:
    """Phonemes of `text` as one sequence (espeak's own sentence breaks become pauses)."""
    global _phonemizer
    with _PHONEMIZER_LOCK:
        if _phonemizer is None:
            _phonemizer = EspeakPhonemizer()
    sentences = _phonemizer.sentences(espeak_voice, text)
    phonemes: list[str] = []
    for sentence in sentences:
        if phonemes and sentence:
            phonemes.append(" ")
        phonemes.extend(sentence)
    return phonemes


@dataclass(frozen=True)
class PiperScales:
    noise_scale: float
    length_scale: float
    noise_w: float


@dataclass(frozen=True)
class Latent:
    """The text model's output for one piece: `frames` latent frames and their mask."""

    values: np.ndarray  # [1, channels, frames]
    mask: np.ndarray  # [1, 1, frames]

    @property
    def frames(self) -> int:
        return self.values.shape[2]


class PiperVoice:
    """One Piper voice bundle (`voice.json`, text and audio models) loaded for synthesis."""

    supports_speed = True  # the length scale
    # A phoneme lasts one latent frame at the least, so past about twice its usual pace a
    # smaller length scale no longer makes speech faster.
    max_speed = 2.0

    def __init__(self, bundle_dir: Path, manifest: dict[str, Any], threads: int) -> None:
        frontend, streaming = manifest["frontend"], manifest["streaming"]
        self.sample_rate: int = int(manifest["sample_rate"])
        self._espeak_voice: str = frontend["espeak_voice"]
        self._phoneme_id_map: dict[str, list[int]] = frontend["phoneme_id_map"]
        self._scales = PiperScales(**manifest["scales"])
        self._gain = float(manifest.get("output_gain", 1.0))
        self._speaker_id: int | None = 0 if int(manifest.get("num_speakers", 1)) > 1 else None
        self.hop_length: int = int(streaming["hop_length"])
        self.context_frames: int = int(streaming["context_frames"])
        self._latent_name: str = streaming["latent_input"]
        self._mask_name: str = streaming["mask_input"]
        self._text_model = create_session(bundle_dir / manifest["models"]["text"], threads)
        self._audio_model = create_session(bundle_dir / manifest["models"]["audio"], threads)

    def _speaker_inputs(self) -> dict[str, np.ndarray]:
        if self._speaker_id is None:
            return {}
        return {"sid": np.asarray([self._speaker_id], dtype=np.int64)}

    def encode(self, text: str, speed: float = 1.0, scales: PiperScales | None = None) -> Latent | None:
        """Latent frames for one piece of normalized text; None when nothing is sayable."""
        phonemes = phonemize(self._espeak_voice, text)
        if not phonemes:
            return None
        scales = scales or self._scales
        ids = phonemes_to_ids(phonemes, self._phoneme_id_map)
        values, mask = self._text_model.run(
            None,
            {
                "input": np.asarray([ids], dtype=np.int64),
                "input_lengths": np.asarray([len(ids)], dtype=np.int64),
                "scales": np.asarray(
                    [scales.noise_scale, scales.length_scale / speed, scales.noise_w], dtype=np.float32
                ),
                **self._speaker_inputs(),
            },
        )
        return Latent(values, mask)

    def decode(self, latent: Latent, start: int, end: int, context_frames: int | None = None) -> np.ndarray:
        """Audio for latent frames [start, end), exactly as if the whole piece were decoded.

        The frames around the span are decoded too, as context for the convolutions, and
        their audio is cut away. `make export` measured how much context is enough.
        """
        context = self.context_frames if context_frames is None else context_frames
        left = max(0, start - context)
        right = min(latent.frames, end + context)
        audio = self._audio_model.run(
            None,
            {
                self._latent_name: latent.values[:, :, left:right],
                self._mask_name: latent.mask[:, :, left:right],
                **self._speaker_inputs(),
            },
        )[0].reshape(-1)
        audio = audio[(start - left) * self.hop_length : (end - left) * self.hop_length]
        if self._gain != 1.0:
            audio = audio * self._gain
        return audio

    def synthesize(
        self, text: str, speed: float = 1.0, first_part_seconds: float = 0.0, max_span_seconds: float = 0.0
    ) -> Iterator[np.ndarray]:
        """Float32 mono audio at `self.sample_rate` for one piece of normalized text.

        With `first_part_seconds`, that many seconds are decoded and yielded first, then the
        rest in as few spans as keep a real-time player fed (see `_next_span_end`). With
        `max_span_seconds`, no span is longer: each is one step that other streams' steps may
        follow. Each split costs the context frames decoded twice. Without either, the piece
        comes as one array.
        """
        latent = self.encode(text, speed)
        if latent is None:
            return
        first = self._frames(first_part_seconds)
        longest = self._frames(max_span_seconds) or latent.frames
        start, end = 0, self._span_end(0, first or longest, latent.frames)
        playing_since = 0.0
        while True:
            began = time.perf_counter()
            audio = self.decode(latent, start, end)
            decoded_frames = min(end + self.context_frames, latent.frames) - max(0, start - self.context_frames)
            seconds_per_frame = (time.perf_counter() - began) / decoded_frames
            yield audio
            if end == latent.frames:
                return
            if not first:
                start, end = end, self._span_end(end, longest, latent.frames)
                continue
            # The consumer asks for more once it has sent the audio: a player starts then.
            playing_since = playing_since or time.perf_counter()
            in_hand = end * self.hop_length / self.sample_rate - (time.perf_counter() - playing_since)
            affordable = self._next_span_end(end, latent.frames, in_hand, seconds_per_frame, first)
            start, end = end, self._span_end(end, min(affordable, end + longest) - end, latent.frames)

    def _frames(self, seconds: float) -> int:
        return round(seconds * self.sample_rate / self.hop_length)

    def _span_end(self, start: int, length: int, total: int) -> int:
        """`start + length`, or the end of the piece when less than a context would be left."""
        end = start + length
        return total if end + self.context_frames >= total else end

    def _next_span_end(
        self, start: int, total: int, seconds_in_hand: float, seconds_per_frame: float, minimum: int
    ) -> int:
        """End of the next span: the rest of the piece when it can be decoded in time, else
        the longest span that can.

        "In time" keeps a margin of two: decoding slows down when another stream starts
        sharing the CPU meanwhile. Fewer spans mean fewer context frames decoded twice. When
        not even a span as long as the first can be decoded in time, the player will stall
        whatever is done: the rest is decoded whole, one stall at the least cost.
        """
        affordable = round(seconds_in_hand / (SPAN_TIME_MARGIN * seconds_per_frame)) - 2 * self.context_frames
        if affordable < minimum or start + affordable + self.context_frames >= total:
            return total
        return start + affordable
