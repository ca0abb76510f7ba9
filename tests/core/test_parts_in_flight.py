"""The parts-in-flight controller follows what the path delivers (issues 21 and 24).

Driven by a model of a path on a clock of the test's own (no sleeping): a
path whose throughput is ``min(parts x per connection, link)``. Parts in
flight rise at once to what is allowed and fall one per step (parts end,
none is stopped), as in the lane.
"""

from __future__ import annotations

from laion_fmri_tui.core.transfer.parts_in_flight import FLOOR, START, PartsInFlight

MB = 1_000_000
STEP = 0.02


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drive(ceiling: int, per_connection: float, link: float, seconds: float) -> list[int]:
    """Parts in flight at each step of ``seconds`` on the model path."""
    clock = Clock()
    pace = PartsInFlight(ceiling, clock)
    in_flight, seen = 0, []
    while clock.now < seconds:
        allowed = pace.allowed(in_flight)
        in_flight = allowed if allowed >= in_flight else in_flight - 1
        pace.arrived(int(min(in_flight * per_connection, link) * STEP))
        clock.now += STEP
        seen.append(in_flight)
    return seen


def test_a_fast_link_gets_every_part_it_rewards():
    """20 MB/s a connection, 2 GB/s in all: 96 parts pay, and it gets there within a second."""
    seen = drive(96, 20 * MB, 2000 * MB, 5.0)
    assert seen[0] == START
    assert 96 in seen[:int(1.0 / STEP)]
    assert min(seen[int(1.0 / STEP):]) >= 64, "it stays where the bytes are"


def test_a_slow_link_gets_few_parts():
    """A link of 5 MB/s in all that one connection nearly fills: fewer parts, as they end."""
    seen = drive(96, 4 * MB, 5 * MB, 30.0)
    assert seen[0] == START
    assert max(seen[-int(5.0 / STEP):]) <= 8
    assert min(seen) >= FLOOR


def test_a_ceiling_below_the_start_is_kept():
    assert max(drive(6, 1 * MB, 100 * MB, 3.0)) == 6
