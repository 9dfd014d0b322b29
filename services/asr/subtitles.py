"""Segments as subtitles: SubRip (.srt) and WebVTT (.vtt)."""

from __future__ import annotations

from collections.abc import Iterable

from services.asr.engines.base import Segment


def _timestamp(seconds: float, decimal_mark: str) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    seconds_part, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds_part:02d}{decimal_mark}{milliseconds:03d}"


def _cues(segments: Iterable[Segment], decimal_mark: str) -> list[str]:
    return [
        f"{_timestamp(segment.start, decimal_mark)} --> {_timestamp(segment.end, decimal_mark)}\n{segment.text.strip()}\n"
        for segment in segments
        if segment.text.strip()
    ]


def to_srt(segments: Iterable[Segment]) -> str:
    return "\n".join(f"{number}\n{cue}" for number, cue in enumerate(_cues(segments, ","), start=1))


def to_vtt(segments: Iterable[Segment]) -> str:
    return "\n".join(["WEBVTT\n", *_cues(segments, ".")])
