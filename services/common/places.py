"""Places an asyncio server gives its clients: a session or a connection each, up to a limit."""

from __future__ import annotations


class Places:
    """Counted only by the server's event loop thread, so no lock is needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def take(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def give_back(self) -> None:
        self.active -= 1
