"""Admission control (unit, real threads): places, a bounded queue, then 503 with Retry-After."""

from __future__ import annotations

import threading
import time

import falcon
import pytest

from services.common.admission import AdmissionGate


def test_requests_within_capacity_are_admitted_at_once() -> None:
    gate = AdmissionGate(max_active=2, max_waiting=0, wait_seconds=1)
    gate.enter()
    gate.enter()
    assert gate.active == 2


def test_beyond_capacity_without_a_queue_is_503_with_retry_after() -> None:
    gate = AdmissionGate(max_active=1, max_waiting=0, wait_seconds=1, retry_after_seconds=3)
    gate.enter()
    with pytest.raises(falcon.HTTPError) as refused:
        gate.enter()
    assert refused.value.status == falcon.HTTP_503
    assert refused.value.code == "overloaded"
    assert refused.value.headers["Retry-After"] == "3"


def test_a_waiting_request_gets_the_place_that_frees_up() -> None:
    gate = AdmissionGate(max_active=1, max_waiting=1, wait_seconds=5)
    gate.enter()
    admitted = threading.Event()

    def second() -> None:
        gate.enter()
        admitted.set()

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.1)
    assert not admitted.is_set() and gate.waiting == 1
    gate.leave()
    assert admitted.wait(2)
    thread.join()
    assert (gate.active, gate.waiting) == (1, 0)


def test_waiting_ends_in_503_after_the_timeout_and_a_full_queue_is_refused_at_once() -> None:
    gate = AdmissionGate(max_active=1, max_waiting=1, wait_seconds=0.3)
    gate.enter()
    outcomes: list[str] = []

    def waiter() -> None:
        try:
            gate.enter()
            outcomes.append("admitted")
        except falcon.HTTPError:
            outcomes.append("timed out")

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    with pytest.raises(falcon.HTTPError, match=""):
        gate.enter()  # the one waiting place is taken
    assert time.monotonic() - started < 0.1
    thread.join()
    assert outcomes == ["timed out"] and (gate.active, gate.waiting) == (1, 0)
