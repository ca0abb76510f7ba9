"""The one retry rule (core/http/retry.py), with its clock and its jitter
given, so each rule is checked exactly: full jitter, Retry-After, the time
budget, progress restarting it, quick attempts, and the adaptive limit's cut
and recovery."""

from __future__ import annotations

import pytest

from laion_fmri_tui.core.http.retry import (
    AdaptiveLimit,
    RetryKind,
    RetryPolicy,
    RetryState,
    parse_duration,
    retry_after,
)
from laion_fmri_tui.core.settings import RetrySettings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def policy(jitter: float = 1.0, **settings) -> tuple[RetryPolicy, Clock]:
    clock = Clock()
    return RetryPolicy(RetrySettings(**settings), AdaptiveLimit(), clock, lambda: jitter), clock


def test_backoff_is_full_jitter_under_a_growing_cap():
    for jitter in (0.0, 0.5, 0.999):
        rule, _ = policy(jitter, base=0.5, cap=20.0)
        state = RetryState()
        delays = [rule.decide(state, RetryKind.SERVER).delay for _ in range(8)]
        assert delays == [jitter * min(20.0, 0.5 * 2 ** n) for n in range(1, 9)]


def test_retry_after_is_never_cut_short_and_is_capped():
    rule, _ = policy(0.0, retry_after_cap=60.0)
    assert rule.decide(RetryState(), RetryKind.THROTTLED, after=7.0).delay == 7.0
    assert rule.decide(RetryState(), RetryKind.THROTTLED, after=3600.0).delay == 60.0


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after("5") == 5.0
    assert retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=lambda: 1445412480.0) == 10.0
    assert retry_after("soon") is None and retry_after(None) is None and retry_after("-3") == 0.0


def test_the_budget_is_time_without_progress_not_a_count():
    rule, clock = policy(1.0, budget=60.0, cap=10.0)
    state = RetryState()
    while (decision := rule.decide(state, RetryKind.THROTTLED, position=0)).delay is not None:
        clock.now += decision.delay
    assert clock.now == 60.0 and "--retry-for" in decision.why
    assert state.attempts > 5  # far more than the old five
    clock.now += 1.0
    assert rule.decide(state, RetryKind.THROTTLED, position=4096).delay is not None  # bytes came: a new budget


def test_retries_adds_a_count_and_unreachable_hosts_get_few_attempts():
    rule, _ = policy(0.1, max_attempts=3)
    state = RetryState()
    assert [rule.decide(state, RetryKind.SERVER).delay is None for _ in range(3)] == [False, False, True]
    rule, _ = policy(0.1, quick_attempts=4)
    state = RetryState()
    assert [rule.decide(state, RetryKind.UNREACHABLE).delay is None for _ in range(4)] == [False] * 3 + [True]


def test_a_pauses_failure_is_no_attempt():
    rule, _ = policy(0.0)
    state = RetryState()
    rule.decide(state, RetryKind.DROPPED, counted=False)
    assert state.attempts == 0


def test_the_limit_halves_once_per_round_and_grows_back_with_successes():
    limit = AdaptiveLimit(ceiling=64)
    ticket = limit.ticket()
    limit.throttled(ticket, in_flight=40, maximum=64)
    limit.throttled(ticket, in_flight=40, maximum=64)  # the same round: no second cut
    assert limit.cap(64) == 20 and limit.cuts == 1
    limit.throttled(limit.ticket())
    assert limit.cap(64) == 10
    for _ in range(10):
        limit.succeeded()
    assert limit.cap(64) == 20  # one more per success: doubled after a round of them
    for _ in range(100):
        limit.succeeded()
    assert limit.cap(64) == 64 and limit.share == 1.0


def test_a_throttled_answer_through_the_policy_cuts_the_limit():
    rule, _ = policy(0.0)
    state = RetryState(ticket=rule.limit.ticket())
    rule.decide(state, RetryKind.THROTTLED)
    rule.decide(RetryState(), RetryKind.SERVER)
    assert rule.limit.cuts == 1


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0)])
def test_retry_for_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "ten", "-5s", "inf"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_blocking_senders_wait_for_a_slot_within_the_cut_limit():
    limit = AdaptiveLimit(ceiling=16)
    with limit.slot(16), limit.slot(16), limit.slot(16):
        with limit.slot(16) as ticket:
            pass
        limit.throttled(ticket)  # 3 others still out, and this one: halved from 4
    assert limit.cap(16) == 2
    waited: list[bool] = []
    with limit.slot(16), limit.slot(16):
        with limit.slot(16, cancelled=lambda: waited.append(True) or True):
            pass
    assert waited  # a third had to wait (here: until cancelled)
