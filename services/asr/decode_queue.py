"""The decodes of one process, run by a few threads, the ones someone waits for first.

Whisper decodes in live streams are of two kinds: an ended utterance, whose text a client
waits for, and a partial hypothesis of the utterance still open, which only makes captions
livelier. With the CPU busy, the first kind goes first; a partial that waited too long is
worth little and its stream simply asks again later.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

URGENT, PARTIAL = 0, 1
"""Priorities: an ended utterance (someone waits for it), a partial hypothesis."""


class DecodeQueue:
    def __init__(self, threads: int) -> None:
        self._jobs: queue.PriorityQueue[tuple[int, int, Future[Any], Callable[[], Any]]] = queue.PriorityQueue()
        self._order = itertools.count()  # first come, first served within a priority
        self._urgent = 0
        """Urgent decodes queued or at work."""
        self._lock = threading.Lock()
        for number in range(threads):
            threading.Thread(target=self._work, name=f"decode-{number}", daemon=True).start()

    def submit(self, priority: int, job: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        if priority == URGENT:
            with self._lock:
                self._urgent += 1
            future.add_done_callback(self._urgent_done)  # done, failed or cancelled
        self._jobs.put((priority, next(self._order), future, job))
        return future

    def has_urgent_work(self) -> bool:
        """Whether a decode someone waits for is queued or at work (partials do not count)."""
        with self._lock:
            return self._urgent > 0

    def _urgent_done(self, _: Future[Any]) -> None:
        with self._lock:
            self._urgent -= 1

    def _work(self) -> None:
        while True:
            _, _, future, job = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue  # its stream is gone
            try:
                future.set_result(job())
            except BaseException as error:  # noqa: BLE001  # given to whoever waits for it
                future.set_exception(error)
