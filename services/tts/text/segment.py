"""Split normalized text into the pieces that are synthesized one at a time.

Streaming latency is the cost of the first piece, and the gap a listener could hear is the
cost of each next piece, so pieces are sentences; a sentence longer than `max_chars` is cut at
clause boundaries (then, if it must, between words). The first piece is additionally cut at
its first clause boundary (or, lacking one, at the start of a phrase), so the first audio
costs a short clause whatever the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? or … (plus closing quotes/brackets) followed by whitespace, unless
# the period closes a single-letter initial ("J. R. Tolkien", "U.S.A. is") or the next word
# starts in lower case ('"Really?" she asked').
_SENTENCE_END_RE = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"')\]]))(?<!\b[A-Za-z]\.)\s+(?![a-z])")
_CLAUSE_END_RE = re.compile(r"(?<=[,;:—–])\s+")
# Where a sentence with no punctuation can still be cut with little harm to prosody: before a
# preposition, conjunction or relative word, which starts a new phrase ("The museum opens |
# at nine in the morning.").
_PHRASE_START_RE = re.compile(
    r"\s+(?=(?:at|in|on|to|for|from|with|of|by|about|after|before|and|but|or|so|because|"
    r"when|while|which|who|that|where|if)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SegmentOptions:
    max_chars: int = 200
    """Sentences longer than this are cut at clause boundaries."""

    first_piece_min_chars: int = 12
    """The first piece is cut at its first clause or phrase boundary at or after this many
    characters..."""

    first_piece_max_chars: int = 90
    """...and before this many; a sentence with no such boundary is kept whole."""


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END_RE.split(text) if s.strip()]


def _split_words(text: str, max_chars: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def _split_long_sentence(sentence: str, max_chars: int) -> list[str]:
    """Greedily pack clauses into pieces of at most `max_chars`."""
    pieces: list[str] = []
    current = ""
    for clause in _CLAUSE_END_RE.split(sentence):
        for part in _split_words(clause, max_chars) if len(clause) > max_chars else [clause]:
            if current and len(current) + 1 + len(part) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = f"{current} {part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _cut_first_piece(sentence: str, options: SegmentOptions) -> list[str]:
    """Cut at the first clause boundary in range, else at the first phrase start in range."""
    for pattern in (_CLAUSE_END_RE, _PHRASE_START_RE):
        for match in pattern.finditer(sentence):
            if match.start() < options.first_piece_min_chars:
                continue
            if match.start() >= options.first_piece_max_chars or match.end() == len(sentence):
                break
            return [sentence[: match.start()], sentence[match.end() :]]
    return [sentence]


def split_into_pieces(text: str, options: SegmentOptions = SegmentOptions()) -> list[str]:
    """Pieces of `text` in reading order, each short enough to synthesize quickly."""
    pieces: list[str] = []
    for sentence in split_sentences(text):
        if len(sentence) > options.max_chars:
            pieces.extend(_split_long_sentence(sentence, options.max_chars))
        else:
            pieces.append(sentence)
    if pieces:
        pieces[:1] = _cut_first_piece(pieces[0], options)
    return [piece for piece in pieces if piece]
