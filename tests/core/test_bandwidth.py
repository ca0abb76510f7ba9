"""The shared token bucket: exact long-run rate, many workers, live rate changes.

The bucket reads time from a clock the test moves (:class:`StepClock`), so what
it grants is counted against time that passed on that clock, never against how
fast a loaded machine ran the workers. Real time is only a failure bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from laion_fmri_tui.core.transfer.bandwidth import TokenBucket
from laion_fmri_tui.core.settings import EngineSettings
from engines import engine_at

STEP = 0.05
"""Seconds the clock moves at a time: less than the bucket's burst (0.1 s), so
no credit is lost to the cap on idle credit while the workers catch up."""


class StepClock:
    """Time that passes only when the test says so; counts how often it is read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        with self._lock:
            self.reads += 1
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


class Workers:
    """``count`` threads that charge ``chunk`` bytes at a time until stopped; ``granted``
    counts the bytes whose charge the bucket let through."""

    def __init__(self, bucket: TokenBucket, count: int, chunk: int) -> None:
        self.bucket, self.count, self.chunk = bucket, count, chunk
        self._lock = threading.Lock()
        self.granted = 0
        self._stop = False
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(count)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while not self._stop:
            self.bucket.consume(self.chunk)
            with self._lock:
                self.granted += self.chunk

    def run_for(self, clock: StepClock, seconds: float, rate: int) -> int:
        """Move the clock by ``seconds`` in steps; after each, wait until the workers have
        taken what the rate allows (all but one chunk each, the charge each one waits on).
        The bytes granted over the whole time."""
        start = self.granted
        for step in range(1, round(seconds / STEP) + 1):
            clock.advance(STEP)
            owed = rate * STEP * step - self.count * self.chunk
            wait_until(lambda owed=owed: self.granted - start >= owed, f"{owed} bytes granted")
        return self.granted - start

    def stop(self) -> None:
        self._stop = True
        self.bucket.set_rate(None)  # frees every waiting worker
        for thread in self._threads:
            thread.join(10)
            assert not thread.is_alive()


def in_thread(call: Callable[[], object]) -> tuple[threading.Event, list[BaseException]]:
    """Run ``call`` in a thread; the event is set when it returns or raises."""
    done, raised = threading.Event(), []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # noqa: B036 - handed to the test
            raised.append(error)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done, raised


def test_no_cap_never_blocks():
    clock = StepClock()  # never moves: a wait for credit would never end
    bucket = TokenBucket(None, clock)
    done, raised = in_thread(lambda: [bucket.consume(10**9) for _ in range(1000)])
    assert done.wait(10) and not raised


def test_one_cap_over_all_workers():
    """Eight workers together get the rate, never more: every byte granted was paid
    for on the clock, and what the clock allows is taken but one chunk per worker."""
    rate, clock = 2_000_000, StepClock()
    bucket = TokenBucket(rate, clock)
    workers = Workers(bucket, count=8, chunk=50_000)
    try:
        got = workers.run_for(clock, 1.0, rate)
        assert rate * 1.0 - 8 * 50_000 <= got <= rate * clock.now
    finally:
        workers.stop()


def test_charge_larger_than_burst_waits_its_full_time():
    clock = StepClock()
    bucket = TokenBucket(1_000_000, clock)
    done, _ = in_thread(lambda: bucket.consume(500_000))
    clock.advance(0.49)
    reads = clock.reads
    # Two reads after the clock moved: the first saw 0.49 s and did not let the charge go.
    wait_until(lambda: done.is_set() or clock.reads >= reads + 2, "the waiter to look at the clock twice")
    assert not done.is_set(), "500 kB at 1 MB/s went through after 0.49 s"
    clock.advance(0.01)
    assert done.wait(10), "500 kB at 1 MB/s did not go through after 0.5 s"


def test_rate_change_while_running_wakes_waiters():
    clock = StepClock()
    bucket = TokenBucket(100_000, clock)
    done, _ = in_thread(lambda: bucket.consume(1_000_000))  # 10 s at the first rate; the clock stands still
    reads = clock.reads
    wait_until(lambda: clock.reads > reads, "the waiter to charge")
    bucket.set_rate(None)
    assert done.wait(10), "lifting the cap did not free the waiter"

    bucket.set_rate(1_000_000)
    workers = Workers(bucket, count=4, chunk=20_000)
    try:
        slow = workers.run_for(clock, 0.5, 1_000_000)
        bucket.set_rate(4_000_000)
        fast = workers.run_for(clock, 0.5, 4_000_000)
    finally:
        workers.stop()
    assert slow <= 0.5 * 1_000_000 + 4 * 20_000, "more than the first rate allows"
    assert fast >= 0.5 * 4_000_000 - 4 * 20_000 > 2 * slow


def test_gate_is_consulted_while_waiting():
    bucket = TokenBucket(10_000, StepClock())  # the clock never moves: only the gate ends the wait

    class Stop(Exception):
        pass

    def gate() -> None:
        raise Stop

    done, raised = in_thread(lambda: bucket.consume(1_000_000, gate))
    assert done.wait(10), "the gate was not consulted"
    assert len(raised) == 1 and isinstance(raised[0], Stop)


def test_a_closed_gate_ends_a_charge_before_it_waits():
    """A lane charges every socket it serves in one turn: a cancel must end each
    charge at once, not after a wait of its own (a tenth of a second each, 4 s
    for 40 parts in flight). The gate is consulted right after the charge, before
    the bucket reads the clock again to plan a wait."""
    clock = StepClock()
    bucket = TokenBucket(10_000, clock)
    seen: list[int] = []

    class Stop(Exception):
        pass

    def gate() -> None:
        seen.append(clock.reads)
        raise Stop

    before = clock.reads
    with pytest.raises(Stop):
        bucket.consume(1_000_000, gate)
    assert seen == [before + 1], "the bucket read the clock to wait before it consulted the gate"


def test_bad_rate_refused_and_engine_exposes_it(tmp_path):
    with pytest.raises(ValueError):
        TokenBucket(0)
    engine = engine_at(None, tmp_path, lambda e: None, EngineSettings(max_bandwidth=1234))
    assert engine.bandwidth == 1234
    engine.set_bandwidth(None)
    assert engine.bandwidth is None
    engine.set_bandwidth(50 * 1024 * 1024)
    assert engine.bandwidth == 50 * 1024 * 1024
