"""Split normalized text into the pieces that are synthesized one at a time.

Pieces are sentences, which keeps the prosody of each sentence whole; a sentence longer than
`max_chars` is cut at clause boundaries (then, if it must, between words), so no piece keeps
a listener waiting long. (How soon the first audio comes does not depend on the piece length:
the engine decodes the start of the first piece ahead of its rest.)
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


def _split_words(text: str, max_chars: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    # A "word" longer than a piece (a run of letters with no spaces) is cut into piece-sized bits.
    words = [word[start : start + max_chars] for word in text.split() for start in range(0, len(word), max_chars)]
    for word in words:
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


def split_into_pieces(text: str, max_chars: int = 200) -> list[str]:
    """Pieces of `text` in reading order: sentences, cut when longer than `max_chars`."""
    pieces: list[str] = []
    for sentence in split_sentences(text):
        if len(sentence) > max_chars:
            pieces.extend(_split_long_sentence(sentence, max_chars))
        else:
            pieces.append(sentence)
    return pieces
