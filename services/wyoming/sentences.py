"""Sentences as they become complete in text that arrives in pieces.

A sentence is complete once the text after it has begun (the TTS service's own rule,
`split_sentences`: an end mark, then a space, then no lower-case letter), so the last one
waits for more text or for the end of the stream.
"""

from __future__ import annotations

from services.tts.text.segment import split_sentences


class SentenceBuffer:
    def __init__(self) -> None:
        self._text = ""

    def add(self, text: str) -> list[str]:
        """The sentences `text` completes, in order."""
        self._text += text
        sentences = split_sentences(self._text)
        if len(sentences) < 2:
            return []
        # The last one may go on: keep it, and the space after it, for the next piece.
        self._text = self._text[self._text.rindex(sentences[-1]) :]
        return sentences[:-1]

    def finish(self) -> str:
        """What is left, the last sentence; the buffer is empty after."""
        rest, self._text = self._text.strip(), ""
        return rest
