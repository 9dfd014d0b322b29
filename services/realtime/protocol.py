"""vosk-server's WebSocket protocol: what a client sends, and the replies it reads.

A client sends, in vosk-server's words (its websocket/asr_server.py and sample clients):

- optionally first, a text frame `{"config": {"sample_rate": 16000.0, "words": 1,
  "max_alternatives": 0, "phrase_list": [...]}}`; any of the keys may be left out, later
  configs override earlier ones, and a config gets no reply. `"language"` is this service's
  own addition (a code the model knows); other keys are ignored, as vosk-server ignores them.
  A config after the first audio frame is refused (`config_after_audio`): vosk-server sets its
  recognizer up with the first audio and silently keeps those settings.
- binary frames of audio: signed 16-bit little-endian mono samples at the configured rate.
  Each gets exactly one reply: `{"partial": "..."}`, or `{"text": ..., "result": [...]}` when
  an utterance has ended.
- `{"eof" : 1}`: the last result, then the server closes the connection;
  `{"reset" : 1}`: the same result, and the stream goes on.

Only the messages live here; the session decides when to send which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from services.asr.engines.base import Alternative, Utterance, Word
from services.asr.live import HIGHEST_SAMPLE_RATE, LOWEST_SAMPLE_RATE
from services.common.errors import native_error_body

MAX_ALTERNATIVES = 50
"""vosk-server's sample client asks for 20; far more only costs the decoder time."""


class ProtocolError(ValueError):
    """A text frame that is not a message of the protocol, or a config with a bad value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Config:
    """What a config message sets; None where it leaves the setting as it was."""

    sample_rate: float | None = None
    words: bool | None = None
    max_alternatives: int | None = None
    phrases: tuple[str, ...] | None = None
    language: str | None = None


@dataclass(frozen=True)
class Eof:
    """The client has sent all its audio: the last result, then the end."""


@dataclass(frozen=True)
class Reset:
    """End the utterance now: its result, and the stream goes on."""


Command = Config | Eof | Reset


@dataclass(frozen=True)
class StreamOptions:
    """A session's settings: the defaults, then each config the client sent."""

    sample_rate: float
    words: bool = True
    max_alternatives: int = 0
    phrases: tuple[str, ...] = ()
    language: str | None = None

    def updated(self, config: Config) -> StreamOptions:
        changes = {name: value for name, value in vars(config).items() if value is not None}
        return replace(self, **changes)


def parse_text(text: str) -> Command:
    """The message in a text frame; ProtocolError for anything else."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("invalid_frame", "a text frame must be a JSON message: config, eof or reset") from None
    if not isinstance(message, dict):
        raise ProtocolError("invalid_frame", "a text frame must be a JSON object: config, eof or reset")
    if "config" in message:
        return _config(message["config"])
    # vosk-server compares the exact texts '{"eof" : 1}' and '{"reset" : 1}'; any spacing of
    # them is the same message here.
    if message.get("eof") == 1:
        return Eof()
    if message.get("reset") == 1:
        return Reset()
    raise ProtocolError("invalid_frame", "unknown message: expected config, eof or reset")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _config(body: Any) -> Config:
    if not isinstance(body, dict):
        raise ProtocolError("invalid_config", '"config" must be a JSON object')
    sample_rate = body.get("sample_rate")
    if sample_rate is not None:
        if not _is_number(sample_rate) or not LOWEST_SAMPLE_RATE <= sample_rate <= HIGHEST_SAMPLE_RATE:
            message = f"sample_rate must be a number from {LOWEST_SAMPLE_RATE:g} to {HIGHEST_SAMPLE_RATE:g}"
            raise ProtocolError("invalid_config", message)
        sample_rate = float(sample_rate)
    words = body.get("words")
    if words is not None:
        if not isinstance(words, bool | int | float):
            raise ProtocolError("invalid_config", "words must be 0 or 1")
        words = bool(words)
    alternatives = body.get("max_alternatives")
    if alternatives is not None:
        whole = isinstance(alternatives, int) or (isinstance(alternatives, float) and alternatives.is_integer())
        if not _is_number(alternatives) or not whole or not 0 <= alternatives <= MAX_ALTERNATIVES:
            raise ProtocolError(
                "invalid_config", f"max_alternatives must be a whole number from 0 to {MAX_ALTERNATIVES}"
            )
        alternatives = int(alternatives)
    phrases = body.get("phrase_list")
    if phrases is not None:
        if not isinstance(phrases, list) or not all(isinstance(phrase, str) for phrase in phrases):
            raise ProtocolError("invalid_config", "phrase_list must be a list of strings")
        phrases = tuple(phrase for phrase in phrases if phrase.strip())
    language = body.get("language")
    if language is not None and not isinstance(language, str):
        raise ProtocolError("invalid_config", "language must be a language code such as 'en'")
    return Config(sample_rate, words, alternatives, phrases, language)


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def partial(text: str) -> str:
    return _dumps({"partial": text})


def _word_items(words: list[Word], confidences: bool) -> list[dict[str, Any]]:
    # vosk-server's keys, and its order; times in seconds from the start of the stream.
    items = []
    for word in words:
        item: dict[str, Any] = {}
        if confidences and word.confidence is not None:
            item["conf"] = round(word.confidence, 6)
        item.update(end=word.end_ms / 1000, start=word.start_ms / 1000, word=word.text)
        items.append(item)
    return items


def _readings(utterance: Utterance) -> list[Alternative]:
    if utterance.alternatives:
        return utterance.alternatives
    known = [word.confidence for word in utterance.words if word.confidence is not None]
    return [Alternative(utterance.text, sum(known) / len(known) if known else 0.0, utterance.words)]


def _joined(readings: list[Alternative]) -> Alternative:
    return Alternative(
        " ".join(reading.text for reading in readings if reading.text),
        sum(reading.confidence for reading in readings),
        [word for reading in readings for word in reading.words],
    )


def result(utterances: list[Utterance], words: bool, alternatives: int) -> str:
    """One result message for what was said, in as many utterances as the engine ended.

    With alternatives the message is vosk's `{"alternatives": [{"text", "confidence",
    "result"}]}`; several utterances are joined reading by reading (the n-th reading of the
    whole is each utterance's n-th, or its last when it has fewer), and their confidences,
    Kaldi's log-domain scores, add up.
    """
    spoken = [utterance for utterance in utterances if utterance.words or utterance.text]
    if alternatives > 0:
        readings = [_readings(utterance) for utterance in spoken]
        count = max((len(each) for each in readings), default=0)
        joined = [_joined([each[min(rank, len(each) - 1)] for each in readings]) for rank in range(count)]
        items = []
        for reading in joined or [Alternative("", 0.0)]:
            item: dict[str, Any] = {"confidence": round(reading.confidence, 6)}
            if words and reading.words:
                item["result"] = _word_items(reading.words, confidences=False)
            item["text"] = reading.text
            items.append(item)
        return _dumps({"alternatives": items})
    message: dict[str, Any] = {}
    all_words = [word for utterance in spoken for word in utterance.words]
    if words and all_words:
        message["result"] = _word_items(all_words, confidences=True)
    message["text"] = " ".join(utterance.text for utterance in spoken if utterance.text)
    return _dumps(message)


def error(code: str, message: str) -> str:
    """An error, in the shape every service of the project answers with."""
    return _dumps(native_error_body(code, message))
