"""The synthesis scheduler on its own: CPU turns by deadline, admission by measured load."""

from __future__ import annotations

import os
import threading
import time

import pytest

from services.common.cpu import available_cores
from services.tts.scheduling import Overloaded, StreamPlace, SynthesisScheduler


def scheduler(slots: int = 1, max_streams: int = 24, max_waiting: int = 0, wait_seconds: float = 1.0):
    return SynthesisScheduler(
        slots, 1, slots, max_streams, max_waiting, wait_seconds, utilization=0.9, first_audio_seconds=0.5
    )


def stream(work: SynthesisScheduler, seconds_sent: float | None = None) -> StreamPlace:
    """A stream's place, new or (with `seconds_sent`) playing since just now with that much sent."""
    place = StreamPlace("voice", work.rate("voice"), 100, 1.0, first_audio_seconds=0.5)
    if seconds_sent is not None:
        work.sent(place, seconds_sent)
    return place


def measured(work: SynthesisScheduler, real_time_factor: float) -> None:
    """As if the voice had synthesized a long while at `real_time_factor`."""
    work.rate("voice").add_step(real_time_factor * 10_000, 10_000)
    assert work.rate("voice").real_time_factor == pytest.approx(real_time_factor, rel=0.01)


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)


def test_turns_go_to_the_earliest_deadline_not_the_first_to_ask() -> None:
    work = scheduler(slots=1)
    holder = stream(work)
    release = threading.Event()
    granted: list[str] = []

    def hold() -> None:
        with work.turn(holder):
            release.wait()

    def step(name: str, place: StreamPlace) -> None:
        with work.turn(place):
            granted.append(name)

    holding = threading.Thread(target=hold)
    holding.start()
    wait_for(lambda: work.waiting_steps == 0 and work.busy_slots == 1)
    # Asked in this order: a stream 30 s ahead of its listener, one 2 s ahead, a new stream
    # (its first audio is due within the allowance), and one whose listener runs dry now.
    places = {
        "far ahead": stream(work, 30.0),
        "ahead": stream(work, 2.0),
        "new": stream(work),
        "running dry": stream(work, 0.0),
    }
    threads = []
    for name, place in places.items():
        threads.append(threading.Thread(target=step, args=(name, place)))
        threads[-1].start()
        wait_for(lambda count=len(threads): work.waiting_steps == count)
    release.set()
    for thread in [holding, *threads]:
        thread.join(timeout=5)
    assert granted == ["running dry", "new", "ahead", "far ahead"]


def test_two_slots_run_two_steps_at_once() -> None:
    work = scheduler(slots=2)
    inside = threading.Barrier(2, timeout=5)

    def step() -> None:
        with work.turn(stream(work)):
            inside.wait()  # both steps must be inside at once, or this times out

    threads = [threading.Thread(target=step) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not inside.broken


def test_streams_are_admitted_while_the_slots_keep_up_with_their_playback() -> None:
    work = scheduler(slots=2)
    measured(work, 0.3)  # each stream needs 0.3 of a slot to keep up
    admitted = []
    for _ in range(6):  # 6 x 0.3 = 1.8 <= 0.9 x 2 cores
        admitted.append(work.admit("voice", 1000))
        work.sent(admitted[-1], 10.0)  # playing, 10 s ahead of its listener
    with pytest.raises(Overloaded) as refused:
        work.admit("voice", 1000)
    assert refused.value.retry_after >= 1
    # A stream that has synthesized all its text needs no CPU: its place counts no more.
    work.synthesis_done(admitted[0])
    work.admit("voice", 1000)


def test_retry_after_follows_how_long_the_streams_ahead_still_have() -> None:
    work = scheduler(slots=1, max_streams=1)
    long_stream = work.admit("voice", 4000)  # about 4 minutes of audio
    with pytest.raises(Overloaded) as long_wait:
        work.admit("voice", 100)
    work.leave(long_stream)
    short_stream = work.admit("voice", 200)
    with pytest.raises(Overloaded) as short_wait:
        work.admit("voice", 100)
    work.leave(short_stream)
    assert long_wait.value.retry_after > short_wait.value.retry_after >= 1


def test_a_request_waits_for_a_place_due_within_the_wait_and_gets_it() -> None:
    work = scheduler(slots=1, max_streams=1, max_waiting=1, wait_seconds=5.0)
    first = work.admit("voice", 10)  # a short text: its place is due to free up soon
    threading.Timer(0.3, work.leave, args=(first,)).start()
    second = work.admit("voice", 10)
    assert work.admitted == 1 and second is not first


def test_a_burst_starts_a_few_streams_per_slot_and_the_next_when_one_is_ahead() -> None:
    work = scheduler(slots=1, max_waiting=1, wait_seconds=5.0)
    starting = [work.admit("voice", 100) for _ in range(4)]
    # None of the four has audio in hand yet: the fifth waits until one is a second ahead.
    threading.Timer(0.3, work.sent, args=(starting[0], 5.0)).start()
    began = time.monotonic()
    work.admit("voice", 100)
    assert time.monotonic() - began >= 0.25 and work.admitted == 5


def test_a_short_text_borrows_the_lead_of_streams_ahead_of_their_listeners() -> None:
    work = scheduler(slots=2)
    measured(work, 0.45)
    for _ in range(4):  # 4 x 0.45 = 1.8: the cores are taken
        work.sent(work.admit("voice", 4000), 6.0)
    with pytest.raises(Overloaded):
        work.admit("voice", 4000)  # a long text would keep needing its share
    work.admit("voice", 40)  # a sentence fits in the 6 s every stream can wait


def test_one_stream_is_always_admitted_however_slow_the_voice() -> None:
    work = scheduler(slots=1)
    measured(work, 5.0)  # slower than real time
    work.admit("voice", 100)
    with pytest.raises(Overloaded):
        work.admit("voice", 100)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("100000 100000\n", 1), ("150000 100000\n", 2), ("10000 100000\n", 1)],
)
def test_the_cores_counted_are_capped_by_a_container_quota(tmp_path, cpu_max: str, expected: int | None) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    cores = len(os.sched_getaffinity(0))
    assert available_cores(path) == (cores if expected is None else min(cores, expected))
    assert available_cores(tmp_path / "absent") == cores
