"""`GET /healthz/deep`: a health check that listens.

`/healthz` says a service is up and has a model; it cannot tell a voice that speaks from one that
makes silence or noise. This check has the TTS service say a fixed sentence and the ASR service
recognize it, and passes only when the words come back (word error rate at most
`DEEP_HEALTH_MAX_WER`) within `DEEP_HEALTH_TIMEOUT` seconds. One check costs a second of both
services' CPU, so its verdict is kept for `DEEP_HEALTH_CACHE_SECONDS`: probes asking more often,
or many at once, share it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import jiwer
import requests

from services.common.api_keys import api_keys_from_env

# Plain words a voice says one way only (no numbers, names or abbreviations to read out).
PROBE_SENTENCE = "The quick brown fox jumps over the lazy dog."
PROBE_SAMPLE_RATE = 16000
CONNECT_TIMEOUT_SECONDS = 3

StepResult = TypeVar("StepResult")


@dataclass(frozen=True)
class DeepHealthOptions:
    cache_seconds: float
    timeout_seconds: float
    max_word_error_rate: float


@dataclass(frozen=True)
class Verdict:
    """What one check found."""

    ok: bool
    reason: str | None
    heard: str | None
    word_error_rate: float | None
    steps_ms: dict[str, int]
    checked_at: datetime
    checked_monotonic: float = field(repr=False)

    def report(self, options: DeepHealthOptions, now_monotonic: float) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "failing",
            "reason": self.reason,
            "sentence": PROBE_SENTENCE,
            "heard": self.heard,
            "word_error_rate": self.word_error_rate,
            "max_word_error_rate": options.max_word_error_rate,
            "steps_ms": self.steps_ms,
            "checked_at": self.checked_at.isoformat(timespec="seconds"),
            "age_seconds": round(now_monotonic - self.checked_monotonic, 1),
        }


class StepFailed(Exception):
    """A step of the check could not be done; the message says which and why."""


class DeepHealth:
    """Runs the listening check, at most once per cache period; callers that arrive while one
    runs wait for its verdict instead of starting another."""

    def __init__(self, tts_url: str, asr_url: str, options: DeepHealthOptions) -> None:
        self._tts_url = tts_url
        self._asr_url = asr_url
        self._options = options
        self._lock = threading.Lock()
        self._last: Verdict | None = None
        # With API_KEYS set, the services ask this check for a key like anyone else.
        keys = sorted(api_keys_from_env())
        self._headers = {"Authorization": f"Bearer {keys[0]}"} if keys else {}

    @property
    def options(self) -> DeepHealthOptions:
        return self._options

    def verdict(self) -> Verdict:
        with self._lock:
            last = self._last
            if last is None or time.monotonic() - last.checked_monotonic >= self._options.cache_seconds:
                self._last = last = self._check()
            return last

    def _check(self) -> Verdict:
        started = time.monotonic()
        deadline = started + self._options.timeout_seconds
        steps: dict[str, int] = {}
        heard = None
        error_rate = None
        try:
            pcm = self._timed(steps, "tts", deadline, self._synthesize)
            heard = self._timed(steps, "asr", deadline, lambda remaining: self._recognize(pcm, remaining))
            error_rate = round(float(jiwer.wer(_words(PROBE_SENTENCE), _words(heard) or "<nothing>")), 3)
            reason = None
            if error_rate > self._options.max_word_error_rate:
                reason = f"the words did not come back: heard {heard!r}"
        except StepFailed as failure:
            reason = str(failure)
        steps["total"] = round((time.monotonic() - started) * 1000)
        return Verdict(
            ok=reason is None,
            reason=reason,
            heard=heard,
            word_error_rate=error_rate,
            steps_ms=steps,
            checked_at=datetime.now(UTC),
            checked_monotonic=time.monotonic(),
        )

    def _timed(
        self, steps: dict[str, int], name: str, deadline: float, step: Callable[[float], StepResult]
    ) -> StepResult:
        """Runs a step with the time left, recording how long it took; StepFailed otherwise."""
        started = time.monotonic()
        remaining = deadline - started
        if remaining <= 0:
            raise StepFailed(f"the check took longer than {self._options.timeout_seconds:g} s before {name}")
        try:
            result = step(remaining)
        except requests.Timeout:
            raise StepFailed(f"{name} did not answer within {self._options.timeout_seconds:g} s") from None
        except requests.RequestException as error:
            raise StepFailed(f"{name} could not be reached ({type(error).__name__})") from None
        steps[name] = round((time.monotonic() - started) * 1000)
        if time.monotonic() > deadline:
            raise StepFailed(f"the check took longer than {self._options.timeout_seconds:g} s ({name})")
        return result

    def _synthesize(self, remaining: float) -> bytes:
        answer = requests.post(
            f"{self._tts_url}/api/tts",
            json={"text": PROBE_SENTENCE, "sample_rate": PROBE_SAMPLE_RATE},
            headers=self._headers,
            timeout=(CONNECT_TIMEOUT_SECONDS, remaining),
        )
        if answer.status_code != 200:
            raise StepFailed(f"tts answered {answer.status_code}: {_message(answer)}")
        return answer.content

    def _recognize(self, pcm: bytes, remaining: float) -> str:
        answer = requests.post(
            f"{self._asr_url}/api/stt/bytes",
            params={"sr": PROBE_SAMPLE_RATE, "ch": 1, "fmt": "s16le"},
            data=pcm,
            headers={**self._headers, "Content-Type": "application/octet-stream"},
            timeout=(CONNECT_TIMEOUT_SECONDS, remaining),
        )
        if answer.status_code != 200:
            raise StepFailed(f"asr answered {answer.status_code}: {_message(answer)}")
        return str(answer.json().get("text", ""))


def _words(text: str) -> str:
    """Lower case words without punctuation: how a sentence and a transcript are compared."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def _message(answer: requests.Response) -> str:
    try:
        return str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return answer.reason or "no message"
