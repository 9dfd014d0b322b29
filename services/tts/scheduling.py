"""Synthesis scheduling for one TTS worker: which stream gets the CPU next, and which get in.

A stream only needs CPU in time for its listener. Every step of synthesis (a text model run,
or the decode of a span of audio) carries a deadline: for its first audio, the moment it was
admitted plus a small allowance (`first_audio_seconds`); afterwards, the moment its listener
runs out of the audio already sent, counting playback from the first chunk. The allowance
lets a stream that has started to play, and is about to run dry, go before new streams' first
audio: a stall in the middle is worse than a first chunk a little later. Steps run earliest
deadline first on a few CPU slots,
so a new request's first audio goes ahead of a long text that is already far ahead of its
listener, and that text synthesizes only with what the earlier deadlines leave.

Admission follows the same accounting. Each voice's real-time factor (slot-seconds of
synthesis per second of audio) is measured on every step; a stream that still has text to
synthesize needs that much slot time per second of playback. A stream is admitted while the
streams synthesizing, with it, need at most `utilization` of the cores, counting the CPU
the worker spends around each step too (see `CpuMeter`). Past that it waits,
briefly and only when a place is expected to free up within the wait, or is refused at once
with the expected wait, so clients back off for as long as it is worth it.

Every TTS front door (the native API, OpenAI's, Wyoming) goes through one scheduler per worker.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# What the sums behind a rate keep of their past at each new measurement: the last few dozen
# steps count, one outlier does not.
_DECAY = 0.95
# Weight of each new interval in the CPU meter's average.
_CPU_SMOOTHING = 0.2
# Before a voice's first measurement (the warm-up makes one at start).
_INITIAL_REAL_TIME_FACTOR = 0.1
_INITIAL_SECONDS_PER_CHARACTER = 0.065
# A stream's remaining synthesis is never estimated below this, as estimates from text err.
_MIN_REMAINING_SECONDS = 1.0
# Streams that may start at once per slot: the rest wait until those have a lead (`_fits`).
_STARTING_PER_SLOT = 4
# A stream whose listener holds less audio than this has no lead to lend (see `_fits_in_lead`).
_MIN_LEAD_SECONDS = 1.0


class Overloaded(Exception):
    """No place for another stream: `retry_after` is the expected wait, in whole seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(f"{reason}; retry in {retry_after} s")
        self.retry_after = retry_after


class VoiceRate:
    """How fast one voice synthesizes here, and how long its audio runs per character.

    Both are ratios of decaying sums, so a step or a text weighs by its length: the text
    model's cost, heavy on a short first step, counts once per piece as it does in a stream.
    """

    def __init__(self) -> None:
        self._slot_seconds = _INITIAL_REAL_TIME_FACTOR
        self._audio_seconds = 1.0
        self._text_audio_seconds = _INITIAL_SECONDS_PER_CHARACTER * 100
        self._characters = 100.0

    @property
    def real_time_factor(self) -> float:
        """Slot-seconds of synthesis per second of audio."""
        return self._slot_seconds / self._audio_seconds

    @property
    def seconds_per_character(self) -> float:
        return self._text_audio_seconds / self._characters

    def add_step(self, slot_seconds: float, audio_seconds: float) -> None:
        self._slot_seconds = _DECAY * self._slot_seconds + slot_seconds
        self._audio_seconds = _DECAY * self._audio_seconds + audio_seconds

    def add_text(self, characters: int, audio_seconds: float) -> None:
        if characters > 0 and audio_seconds > 0:
            self._characters = _DECAY * self._characters + characters
            self._text_audio_seconds = _DECAY * self._text_audio_seconds + audio_seconds


class CpuMeter:
    """Process CPU time per slot-second of synthesis: what a step really costs this worker.

    A slot's time counts only the model runs. Around them the worker resamples, encodes and
    writes each stream's audio, in threads that share the same cores, and a model run may use
    several threads (TTS_ORT_THREADS). Admission counts in CPU time, so all of it is measured:
    the process's CPU time over the slot time of the same interval.
    """

    _INTERVAL_SLOT_SECONDS = 2.0

    def __init__(self, threads_per_slot: int) -> None:
        self.cpu_per_slot_second = float(threads_per_slot)  # until measured
        self._since_cpu = time.process_time()
        self._since_slot_seconds = 0.0

    def add(self, slot_seconds: float) -> None:
        self._since_slot_seconds += slot_seconds
        if self._since_slot_seconds < self._INTERVAL_SLOT_SECONDS:
            return
        cpu = time.process_time()
        measured = (cpu - self._since_cpu) / self._since_slot_seconds
        self.cpu_per_slot_second += _CPU_SMOOTHING * (measured - self.cpu_per_slot_second)
        self._since_cpu, self._since_slot_seconds = cpu, 0.0


@dataclass(eq=False)
class StreamPlace:
    """One admitted stream, as the scheduler accounts for it."""

    voice_id: str
    rate: VoiceRate
    characters: int
    speed: float
    """The pace the voice speaks at (1.0: its own)."""
    first_audio_seconds: float = 0.0
    """Allowance for the first audio after admission (see the module's docstring)."""
    admitted_at: float = field(default_factory=time.monotonic)
    audio_seconds: float = 0.0
    """Audio the voice has synthesized so far."""
    sent_seconds: float = 0.0
    """Audio handed to the client so far, as it plays (after any time-stretch)."""
    playing_since: float | None = None
    """When the first chunk left: a listener's playback starts there."""
    synthesizing: bool = True

    @property
    def expected_audio_seconds(self) -> float:
        return self.characters * self.rate.seconds_per_character / self.speed

    @property
    def deadline(self) -> float:
        """When this stream's next audio is due."""
        if self.playing_since is None:
            return self.admitted_at + self.first_audio_seconds
        return self.playing_since + self.sent_seconds

    def seconds_to_synthesize(self, now: float) -> float:
        """When this stream will have synthesized its text, at the pace it has kept so far.

        A client that reads at playback pace holds its stream to that pace; one that reads as
        fast as it can lets it run ahead. Until a stream has a pace of its own, playback pace
        is assumed, as most streaming clients play what they receive.
        """
        remaining = max(_MIN_REMAINING_SECONDS, self.expected_audio_seconds - self.audio_seconds)
        running = now - self.admitted_at
        if running > _MIN_REMAINING_SECONDS and self.audio_seconds > running:
            return remaining * running / self.audio_seconds
        return remaining

    def remaining_work(self) -> float:
        """Slot-seconds of synthesis this stream still needs."""
        return max(0.0, self.expected_audio_seconds - self.audio_seconds) * self.rate.real_time_factor

    def seconds_to_play(self, now: float) -> float:
        """When a listener at playback pace will have played all the audio sent."""
        return max(0.0, self.deadline - now)


class SynthesisScheduler:
    def __init__(
        self,
        slots: int,
        threads_per_slot: int,
        cores: int,
        max_streams: int,
        max_waiting: int,
        wait_seconds: float,
        utilization: float = 0.9,
        first_audio_seconds: float = 1.0,
    ) -> None:
        self.slots = slots
        self._cores = cores
        self._cpu = CpuMeter(threads_per_slot)
        self._first_audio_seconds = first_audio_seconds
        self._max_streams = max_streams
        self._max_waiting = max_waiting
        self._wait_seconds = wait_seconds
        self._utilization = utilization
        self._rates: dict[str, VoiceRate] = {}
        self._places: set[StreamPlace] = set()
        self._waiting_places = 0
        self._condition = threading.Condition()
        # Steps waiting for a slot: (deadline, arrival order), earliest first.
        self._steps: list[tuple[float, int]] = []
        self._order = itertools.count()
        self._busy_slots = 0

    # Measurements

    def rate(self, voice_id: str) -> VoiceRate:
        with self._condition:
            return self._rates.setdefault(voice_id, VoiceRate())

    @property
    def synthesizing(self) -> int:
        """Admitted streams that still have text to synthesize."""
        with self._condition:
            return sum(place.synthesizing for place in self._places)

    @property
    def waiting_steps(self) -> int:
        """Steps waiting for a CPU slot."""
        with self._condition:
            return len(self._steps)

    @property
    def busy_slots(self) -> int:
        with self._condition:
            return self._busy_slots

    @property
    def admitted(self) -> int:
        with self._condition:
            return len(self._places)

    def _load(self) -> float:
        """CPU-seconds per second the synthesizing streams need to keep up with playback."""
        return sum(self._demand(place) for place in self._places if place.synthesizing)

    def _demand(self, place: StreamPlace) -> float:
        """CPU-seconds per second `place` needs to keep up with playback."""
        return place.rate.real_time_factor * self._cpu.cpu_per_slot_second

    # Admission

    def admit(self, voice_id: str, characters: int, speed: float = 1.0) -> StreamPlace:
        """A place for a new stream, after a short wait when one is due soon; Overloaded if not."""
        place = StreamPlace(voice_id, self.rate(voice_id), characters, speed, self._first_audio_seconds)
        with self._condition:
            if self._fits(place) and not self._waiting_places:
                self._places.add(place)
                return place
            expected_wait = self._expected_wait(place)
            if self._waiting_places >= self._max_waiting or expected_wait > self._wait_seconds:
                raise Overloaded("the service is synthesizing all it can keep up with", _whole(expected_wait))
            self._waiting_places += 1
            give_up_at = time.monotonic() + self._wait_seconds
            try:
                while not self._fits(place):
                    remaining = give_up_at - time.monotonic()
                    if remaining <= 0:
                        raise Overloaded(
                            f"no place freed up within {self._wait_seconds:g} s", _whole(self._expected_wait(place))
                        )
                    self._condition.wait(remaining)
            finally:
                self._waiting_places -= 1
            place.admitted_at = time.monotonic()
            self._places.add(place)
            return place

    def _fits(self, place: StreamPlace) -> bool:
        if len(self._places) >= self._max_streams:
            return False
        # One stream always gets in: alone, it is as fast as this machine can be.
        synthesizing = [other for other in self._places if other.synthesizing]
        if not synthesizing:
            return True
        now = time.monotonic()
        starting = sum(other.seconds_to_play(now) < _MIN_LEAD_SECONDS for other in synthesizing)
        # Without a queue (a single-threaded server) a stream cannot wait to start: none is held.
        may_start = starting < _STARTING_PER_SLOT * self.slots or not self._max_waiting
        if self._load() + self._demand(place) <= self._cores * self._utilization and may_start:
            return True
        return self._fits_in_lead(place, synthesizing)

    def _fits_in_lead(self, place: StreamPlace, synthesizing: list[StreamPlace]) -> bool:
        """Whether `place` is short enough to make while the streams ahead of their listeners wait.

        Streams start a few at a time (four per slot): one that has just started
        has no audio in hand yet, and a burst of them started at once would all run dry
        together. The others wait, a moment each, until those ahead have a lead.

        A stream whose listener holds several seconds of audio can pause that long without a
        stall. So beyond the load limit, a short text (a sentence, an answer) is still taken
        when its synthesis, with that of the other streams not yet ahead, fits in half the
        time the least-ahead stream can wait, on every slot. A long text is not: it would eat
        the lead and then keep needing its share.
        """
        now = time.monotonic()
        leads = [other.seconds_to_play(now) for other in synthesizing if other.playing_since is not None]
        ahead = [lead for lead in leads if lead >= _MIN_LEAD_SECONDS]
        if not ahead:
            return False
        not_ahead = [
            other
            for other in synthesizing
            if other.playing_since is None or other.seconds_to_play(now) < _MIN_LEAD_SECONDS
        ]
        work = sum(other.remaining_work() for other in [*not_ahead, place]) * self._cpu.cpu_per_slot_second
        return work <= self._cores * min(ahead) / 2

    def _expected_wait(self, place: StreamPlace) -> float:
        """Seconds until enough streams finish for `place` to fit; waiting ones go first."""
        now = time.monotonic()
        synthesizing = [other for other in self._places if other.synthesizing]
        needed = self._load() + self._demand(place) * (1 + self._waiting_places) - self._cores * self._utilization
        elapsed = 0.0
        for other in sorted(synthesizing, key=lambda other: other.seconds_to_synthesize(now)):
            if needed <= 0:
                break
            needed -= self._demand(other)
            elapsed = other.seconds_to_synthesize(now)
        if len(self._places) >= self._max_streams:
            # The hard bound counts streams still sending audio they have finished synthesizing.
            leaving = sorted(
                other.seconds_to_synthesize(now) if other.synthesizing else other.seconds_to_play(now)
                for other in self._places
            )
            elapsed = max(elapsed, leaving[min(self._waiting_places, len(leaving) - 1)])
        return elapsed

    def sent(self, place: StreamPlace, seconds: float) -> None:
        """`place` has handed its client `seconds` of audio in all (playback starts with the first)."""
        with self._condition:
            if place.playing_since is None:
                place.playing_since = time.monotonic()
            place.sent_seconds = seconds
            if self._waiting_places:
                self._condition.notify_all()  # a stream that gained a lead may let one start

    def synthesis_done(self, place: StreamPlace) -> None:
        """The stream has synthesized all its text: it no longer needs the CPU."""
        with self._condition:
            place.synthesizing = False
            place.rate.add_text(place.characters, place.audio_seconds * place.speed)
            self._condition.notify_all()

    def leave(self, place: StreamPlace) -> None:
        with self._condition:
            self._places.discard(place)
            self._condition.notify_all()

    # CPU slots

    @contextmanager
    def turn(self, place: StreamPlace) -> Iterator[None]:
        """Hold a CPU slot for one step of `place`'s synthesis, earliest deadline first."""
        entry = (place.deadline, next(self._order))
        with self._condition:
            heapq.heappush(self._steps, entry)
            while self._busy_slots >= self.slots or self._steps[0] != entry:
                self._condition.wait()
            heapq.heappop(self._steps)
            self._busy_slots += 1
            # The next earliest step may take another free slot.
            self._condition.notify_all()
        try:
            yield
        finally:
            with self._condition:
                self._busy_slots -= 1
                self._condition.notify_all()

    def record_measure(self, voice_id: str, characters: int, audio_seconds: float, slot_seconds: float) -> float:
        """A synthesis outside any stream (the warm-up): `characters` made `audio_seconds` of
        audio in `slot_seconds`. Returns the voice's real-time factor."""
        rate = self.rate(voice_id)
        with self._condition:
            rate.add_text(characters, audio_seconds)
            rate.add_step(slot_seconds, audio_seconds)
            return rate.real_time_factor

    def record_step(self, place: StreamPlace, slot_seconds: float, audio_seconds: float) -> None:
        with self._condition:
            place.rate.add_step(slot_seconds, audio_seconds)
            place.audio_seconds += audio_seconds
            self._cpu.add(slot_seconds)


def _whole(seconds: float) -> int:
    return max(1, math.ceil(seconds))
