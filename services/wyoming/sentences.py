"""Sentences as they become complete in text that arrives in pieces.

A sentence is complete once the text after it has begun (the TTS service's own rule,
`split_sentences`: an end mark, then a space, then no lower-case letter), so the last one
waits for more text or for the end of the stream. Text that runs on without an end mark is
not held forever: past `max_chars`, what came so far is given up to its last space.
"""

from __future__ import annotations

from services.tts.text.segment import split_sentences

MAX_PENDING_CHARS = 1000


class SentenceBuffer:
    def __init__(self, max_chars: int = MAX_PENDING_CHARS) -> None:
        self._text = ""
        self._max_chars = max_chars

    def add(self, text: str) -> list[str]:
        """The sentences `text` completes, in order."""
        self._text += text
        sentences = split_sentences(self._text)
        complete = sentences[:-1]
        if complete:
            # The last one may go on: keep it, and the space after it, for the next piece.
            self._text = self._text[self._text.rindex(sentences[-1]) :]
        while len(self._text) > self._max_chars:
            cut = self._text.rfind(" ", 0, self._max_chars)
            cut = cut if cut > 0 else self._max_chars
            complete.append(self._text[:cut].strip())
            self._text = self._text[cut:]
        return [sentence for sentence in complete if sentence]

    def finish(self) -> str:
        """What is left, the last sentence; the buffer is empty after."""
        rest, self._text = self._text.strip(), ""
        return rest
