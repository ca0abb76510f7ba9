"""The handover between lanes at a run's end: nothing delivered is stranded,
and lanes that are all dry leave instead of waiting on each other."""

from __future__ import annotations

import threading

from laion_fmri_tui.core.transfer.lane_relay import LaneRelay


def test_a_claimed_lane_cannot_leave_until_it_has_taken_its_delivery():
    relay = LaneRelay(2)
    relay.ask(1)
    assert relay.asker(0) == 1 and relay.asker(1) is None  # a lane never gives to itself
    assert relay.claim(1)
    assert not relay.withdraw(1), "left while a delivery was on its way"
    assert relay.deliver(1, ["part"])
    assert not relay.withdraw(1), "left with a delivery not taken"
    assert relay.take(1) == ["part"]
    assert relay.withdraw(1)


def test_a_delivery_to_a_lane_that_left_stays_with_the_giver():
    relay = LaneRelay(2)
    relay.ask(1)
    assert relay.claim(1)
    assert relay.leave(1) == []  # the run was cancelled meanwhile
    assert not relay.deliver(1, ["part"])
    assert relay.take(1) == []
    assert not relay.claim(1)


def test_what_a_leaving_lane_was_given_and_had_not_taken_comes_back_to_it():
    relay = LaneRelay(2)
    relay.ask(1)
    relay.claim(1)
    relay.deliver(1, ["a", "b"])
    assert relay.leave(1) == ["a", "b"]  # it ends them itself (as failed or cancelled)


def test_lanes_that_are_all_dry_see_no_one_to_wait_for():
    relay = LaneRelay(3)
    assert relay.others_busy(0)
    relay.ask(1)
    assert relay.others_busy(0)  # lane 2 still runs
    relay.ask(2)
    assert not relay.others_busy(0)
    relay.withdraw(2)
    relay.ask(0)
    assert not relay.others_busy(1)
    assert relay.asker(1) == 0


def _waiting(relay: LaneRelay, lane: int) -> tuple[threading.Thread, list[bool]]:
    """A thread of lane ``lane`` in :meth:`LaneRelay.wait`, with a timeout it
    should never reach (a failure bound); its result lands in the list."""
    woke: list[bool] = []
    about_to_wait = threading.Event()

    def waiter() -> None:
        about_to_wait.set()
        woke.append(relay.wait(lane, 20.0))

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    assert about_to_wait.wait(30)
    return thread, woke


def test_a_waiting_lane_wakes_at_a_delivery_not_at_its_timeout() -> None:
    relay = LaneRelay(2)
    relay.ask(1)
    thread, woke = _waiting(relay, 1)
    assert relay.claim(1)
    assert relay.deliver(1, ["part"])
    thread.join(60)
    assert woke == [True], "the delivery woke the waiting lane (False: its timeout did)"
    assert relay.take(1) == ["part"]


def test_a_waiting_lane_wakes_when_the_last_busy_lane_asks_too() -> None:
    relay = LaneRelay(2)
    relay.ask(1)
    thread, woke = _waiting(relay, 1)
    relay.ask(0)  # lane 0 ran dry as well: lane 1 may now leave
    thread.join(60)
    assert woke == [True], "lane 0's asking woke the waiting lane (False: its timeout did)"
    assert not relay.others_busy(1) and relay.withdraw(1)


def test_a_lane_with_nothing_coming_sleeps_until_its_timeout() -> None:
    relay = LaneRelay(2)
    relay.ask(1)
    assert relay.wait(1, 0.1) is False, "nothing woke it: its timeout ended the sleep"
