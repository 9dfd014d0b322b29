"""Admission control: a bounded number of requests at work, a bounded queue, then 503.

Past capacity, taking more work only makes every request slower until all of them time out.
A gate lets `max_active` requests work, lets up to `max_waiting` more wait up to
`wait_seconds` for a place, and turns the rest away at once with 503 and Retry-After, so
clients back off and the service keeps answering.

Waiting needs a threaded worker (gunicorn gthread): a waiting request holds a thread, so a
service's thread count must exceed `max_active + max_waiting`. Under a single-threaded worker
(meinheld) waiting would stall the process: there `max_waiting` is 0.
"""

from __future__ import annotations

import threading
import time

import falcon

from services.common.errors import api_error


class AdmissionGate:
    def __init__(self, max_active: int, max_waiting: int, wait_seconds: float, retry_after_seconds: int = 1) -> None:
        self._max_active = max_active
        self._max_waiting = max_waiting
        self._wait_seconds = wait_seconds
        self._retry_after = retry_after_seconds
        self._condition = threading.Condition()
        self.active = 0
        self.waiting = 0

    def enter(self) -> None:
        """Take a place, waiting within the limits for one; raise 503 with Retry-After otherwise."""
        with self._condition:
            if self.active < self._max_active and not self.waiting:
                self.active += 1
                return
            if self.waiting >= self._max_waiting:
                raise self._overloaded("the service is at capacity and its queue is full")
            self.waiting += 1
            deadline = time.monotonic() + self._wait_seconds
            try:
                while self.active >= self._max_active:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise self._overloaded(f"no place freed up within {self._wait_seconds:g} s")
                    self._condition.wait(remaining)
                self.active += 1
            finally:
                self.waiting -= 1

    def leave(self) -> None:
        with self._condition:
            self.active -= 1
            self._condition.notify()

    def _overloaded(self, reason: str) -> falcon.HTTPError:
        message = f"{reason}; retry in {self._retry_after} s"
        return api_error(falcon.HTTP_503, "overloaded", message, headers={"Retry-After": str(self._retry_after)})
