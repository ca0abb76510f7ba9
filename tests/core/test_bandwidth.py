"""The shared token bucket: exact long-run rate, many workers, live rate changes."""

from __future__ import annotations

import threading
import time

import pytest

from laion_fmri_tui.core.transfer.bandwidth import TokenBucket
from laion_fmri_tui.core.transfer.engine import EngineSettings, TransferEngine


def pump(bucket: TokenBucket, workers: int, chunk: int, seconds: float) -> int:
    """Bytes that ``workers`` threads get through ``bucket`` in ``seconds``."""
    total = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work() -> None:
        while time.monotonic() < stop:
            bucket.consume(chunk)
            with lock:
                total[0] += chunk

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total[0]


def test_no_cap_never_blocks():
    bucket = TokenBucket(None)
    start = time.monotonic()
    for _ in range(1000):
        bucket.consume(10**9)
    assert time.monotonic() - start < 0.5


def test_one_cap_over_all_workers():
    rate = 2_000_000
    bucket = TokenBucket(rate)
    start = time.monotonic()
    got = pump(bucket, workers=8, chunk=50_000, seconds=1.0)
    elapsed = time.monotonic() - start
    # every charged chunk was allowed: at most rate * elapsed (+ burst + one chunk per worker)
    assert got <= rate * elapsed + rate * 0.1 + 8 * 50_000
    assert got >= rate * 0.8


def test_charge_larger_than_burst_waits_its_full_time():
    bucket = TokenBucket(1_000_000)
    start = time.monotonic()
    bucket.consume(500_000)
    assert 0.45 <= time.monotonic() - start < 0.8


def test_rate_change_while_running_wakes_waiters():
    bucket = TokenBucket(100_000)
    done = threading.Event()

    def waiter() -> None:
        bucket.consume(1_000_000)  # 10 s at the first rate
        done.set()

    threading.Thread(target=waiter, daemon=True).start()
    time.sleep(0.2)
    start = time.monotonic()
    bucket.set_rate(None)
    assert done.wait(1.0)
    assert time.monotonic() - start < 0.5

    bucket.set_rate(1_000_000)
    start = time.monotonic()
    got = pump(bucket, workers=4, chunk=20_000, seconds=0.5)
    bucket.set_rate(4_000_000)
    got_fast = pump(bucket, workers=4, chunk=20_000, seconds=0.5)
    assert got < 0.5 * 1_000_000 * 1.5
    assert got_fast > got * 2


def test_gate_is_consulted_while_waiting():
    bucket = TokenBucket(10_000)

    class Stop(Exception):
        pass

    def gate() -> None:
        raise Stop

    start = time.monotonic()
    with pytest.raises(Stop):
        bucket.consume(1_000_000, gate)
    assert time.monotonic() - start < 0.5


def test_bad_rate_refused_and_engine_exposes_it():
    with pytest.raises(ValueError):
        TokenBucket(0)
    engine = TransferEngine({}, lambda e: None, EngineSettings(max_bandwidth=1234))
    assert engine.bandwidth == 1234
    engine.set_bandwidth(None)
    assert engine.bandwidth is None
    engine.set_bandwidth(50 * 1024 * 1024)
    assert engine.bandwidth == 50 * 1024 * 1024
