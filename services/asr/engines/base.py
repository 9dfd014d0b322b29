"""What every recognition engine offers the service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Word:
    start_ms: int
    end_ms: int
    text: str
    confidence: float | None = None

    def as_segment(self) -> dict[str, Any]:
        segment: dict[str, Any] = {"start_ms": self.start_ms, "end_ms": self.end_ms, "text": self.text}
        if self.confidence is not None:
            segment["confidence"] = round(self.confidence, 3)
        return segment


@dataclass(frozen=True)
class Transcript:
    words: list[Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


class RecognitionSession(Protocol):
    """One utterance: audio is fed in blocks as it arrives, the transcript comes at the end."""

    def accept(self, audio: np.ndarray) -> None:
        """Feed 16 kHz mono int16 samples."""
        ...

    def finish(self) -> Transcript: ...


class Engine(Protocol):
    name: str
    model: str
    languages: frozenset[str] | None
    """Language codes the model recognizes; None when it detects any language."""

    def start(self, language: str) -> RecognitionSession: ...

    def describe(self) -> dict[str, Any]: ...
