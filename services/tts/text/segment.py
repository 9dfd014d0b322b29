"""Split normalized text into the pieces that are synthesized one at a time.

Pieces are sentences, which keeps the prosody of each sentence whole; a sentence longer than
`max_chars` is cut at clause boundaries (then, if it must, between words), so no piece keeps
a listener waiting long. (How soon the first audio comes does not depend on the piece length:
the engine decodes the start of the first piece ahead of its rest, or, when that would cost
other streams, the first sentence is cut at its first clause boundary.)
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? or … (plus closing quotes/brackets) followed by whitespace, unless
# the period closes a single-letter initial ("J. R. Tolkien", "U.S.A. is") or the next word
# starts in lower case ('"Really?" she asked').
_SENTENCE_END_RE = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"')\]]))(?<!\b[A-Za-z]\.)\s+(?![a-z])")
_CLAUSE_END_RE = re.compile(r"(?<=[,;:—–])\s+")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END_RE.split(text) if s.strip()]


def _pack(parts: list[str], max_chars: int) -> list[str]:
    """Greedily join consecutive parts with spaces into pieces of at most `max_chars`."""
    pieces: list[str] = []
    current = ""
    for part in parts:
        if current and len(current) + 1 + len(part) > max_chars:
            pieces.append(current)
            current = part
        else:
            current = f"{current} {part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _word_bits(text: str, max_chars: int) -> list[str]:
    """Words of `text`; a "word" longer than a piece (letters with no spaces) is cut up."""
    return [word[start : start + max_chars] for word in text.split() for start in range(0, len(word), max_chars)]


def _split_long_sentence(sentence: str, max_chars: int) -> list[str]:
    """Cut at clause boundaries; a clause that is still too long is cut between words."""
    parts: list[str] = []
    for clause in _CLAUSE_END_RE.split(sentence):
        parts.extend(_pack(_word_bits(clause, max_chars), max_chars) if len(clause) > max_chars else [clause])
    return _pack(parts, max_chars)


def split_into_pieces(text: str, max_chars: int = 200) -> list[str]:
    """Pieces of `text` in reading order: sentences, cut when longer than `max_chars`."""
    pieces: list[str] = []
    for sentence in split_sentences(text):
        if len(sentence) > max_chars:
            pieces.extend(_split_long_sentence(sentence, max_chars))
        else:
            pieces.append(sentence)
    return pieces


def cut_first_clause(pieces: list[str]) -> list[str]:
    """The pieces with the first one cut after its first clause ("Hello world," + the rest),
    so that a short first piece is synthesized, and heard, before the rest of the sentence."""
    if not pieces:
        return pieces
    clause, *rest = _CLAUSE_END_RE.split(pieces[0], maxsplit=1)
    return [clause, *rest, *pieces[1:]]
