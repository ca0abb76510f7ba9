"""The one retry policy: which failures are tried again, when, and for how long.

S3 asks clients to back off when it throttles (503 SlowDown, 429) and to
retry its 500/502/504 and dropped connections; aws-cli, s5cmd and rclone
all do so for minutes, with jittered waits. Listings, object GETs on the lane
and stimulus GETs all ask one :class:`RetryPolicy` what to do after a
failure, so the rule is written once:

- **Full-jitter exponential backoff** (AWS's "Exponential Backoff and
  Jitter"): attempt *n* waits a uniform random time in ``[0, min(cap,
  base * 2**n))``, so a thousand files throttled at once do not come back in
  lock-step and throttle each other again.
- **Retry-After** is honoured (capped): the next attempt is never sent before
  the time the server named.
- **A time budget, not a count**: a unit (a file, a ranged part, a listing
  page) keeps trying throttling, 5xx and dropped connections for
  ``RetrySettings.budget`` seconds (``--retry-for``; the settings live in
  :mod:`laion_fmri_tui.core.settings`) since its first failure
  without progress; bytes that arrive start the clock again. ``--retries N``
  adds a count as well, for those who want one. A host that cannot be reached
  at all (refused, not found) gets only a few quick attempts: minutes of
  retries there would only hide a wrong ``--endpoint-url``.
- **Adaptive concurrency** (:class:`AdaptiveLimit`, like aws-cli's adaptive
  mode): each throttled answer halves the requests allowed in flight (once per
  round of requests), each success adds one back, so tasks of a SLURM array
  that share one prefix's request rate settle at what the server grants
  instead of failing.
"""

from __future__ import annotations

import enum
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from laion_fmri_tui.core.settings import RetrySettings


class RetryKind(enum.Enum):
    """Why an attempt failed, as far as retrying is concerned."""

    THROTTLED = "throttled"
    """503 SlowDown or 429: back off, and send fewer requests at once."""
    SERVER = "server error"
    """500, 502, 504: the server's trouble; back off and try again."""
    DROPPED = "dropped"
    """The connection broke during a request or its answer (reset, closed early, timed out)."""
    UNREACHABLE = "unreachable"
    """No connection at all (refused, host not found, TLS refused): a few quick attempts."""
    EXPIRED = "expired"
    """A signed link expired and was renewed: again at once, a few times."""


RETRY_STATUSES = {429: RetryKind.THROTTLED, 503: RetryKind.THROTTLED,
                  500: RetryKind.SERVER, 502: RetryKind.SERVER, 504: RetryKind.SERVER}
"""The HTTP statuses that are tried again, and their kind."""


def kind_of_status(status: int) -> RetryKind | None:
    """The retry kind of an HTTP status; None: not retried (the answer stands)."""
    return RETRY_STATUSES.get(status)


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass
class RetryState:
    """One unit's retries so far (a file, a ranged part, a listing page)."""

    attempts: int = 0
    """Failed attempts in all."""
    since: float | None = None
    """When the current run of failures without progress began."""
    position: int = -1
    """Where the unit was at its last failure: a unit that has moved on since starts its budget again."""
    ticket: int = 0
    """The adaptive limit's round when its latest request was sent (see :meth:`AdaptiveLimit.ticket`)."""


@dataclass(frozen=True)
class Decision:
    """What to do after a failure: wait ``delay`` seconds, or give up (``delay`` None)."""

    delay: float | None
    attempt: int
    """The attempt that failed (1 for the first)."""
    why: str = ""
    """When giving up: the rule that ended it, for the user."""


class AdaptiveLimit:
    """The share of each sender's requests allowed in flight, cut while the server throttles.

    One per endpoint, shared by the lanes and the listing threads. Each sender
    caps itself at :meth:`cap` of its own maximum. A throttled answer halves
    the share, but only once per round: answers to requests sent before the
    last cut do not cut again (TCP's rule for losses of one window). Every
    success adds one request's worth back, so the share doubles per round
    trip once the throttling stops, and is back in full within a few.
    """

    FLOOR = 1.0 / 4096

    def __init__(self, ceiling: int = 1) -> None:
        self._lock = threading.Condition()
        self._share = 1.0
        self._ceiling = max(1, ceiling)
        self._round = 0
        self._in_flight = 0
        self._slot_max = 0
        """The blocking senders' maximum (see :meth:`slot`)."""
        self.cuts = 0
        """How many times the share was cut (for messages and tests)."""

    def raise_ceiling(self, requests: int) -> None:
        """Senders' maxima together: a success adds one request of this many back."""
        with self._lock:
            self._ceiling = max(self._ceiling, requests)

    @property
    def share(self) -> float:
        return self._share

    def cap(self, maximum: int) -> int:
        """How many of a sender's ``maximum`` requests may be in flight now (at least one)."""
        return max(1, min(maximum, int(maximum * self._share)))

    def ticket(self) -> int:
        """Taken when a request is sent: which round it belongs to."""
        return self._round

    def throttled(self, ticket: int, in_flight: int | None = None, maximum: int | None = None) -> None:
        """A request of round ``ticket`` was throttled; ``in_flight`` of the
        sender's ``maximum`` were out then (the cut halves what was really in
        flight, not a share a few files never used)."""
        with self._lock:
            if ticket != self._round:
                return
            self._round += 1
            self.cuts += 1
            share = self._share
            if in_flight is None and self._slot_max:  # a blocking sender's: the request has left its slot
                in_flight, maximum = self._in_flight + 1, self._slot_max
            if in_flight is not None and maximum:
                share = min(share, in_flight / maximum)
            self._share = max(self.FLOOR, share / 2)

    def succeeded(self) -> None:
        if self._share >= 1.0:
            return
        with self._lock:
            self._share = min(1.0, self._share + 1.0 / self._ceiling)
            self._lock.notify_all()

    @contextmanager
    def slot(self, maximum: int, cancelled: Callable[[], bool] = lambda: False) -> Iterator[int]:
        """For a blocking sender (the listing threads): wait until one more of
        its ``maximum`` requests fits, hold it while the request runs; yields the ticket."""
        with self._lock:
            self._slot_max = maximum
            while self._in_flight >= self.cap(maximum) and not cancelled():
                self._lock.wait(0.5)
            self._in_flight += 1
            ticket = self._round
        try:
            yield ticket
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()


@dataclass
class RetryPolicy:
    """The one owner of the retry decision, shared by every sender of a run."""

    settings: RetrySettings = field(default_factory=RetrySettings)
    limit: AdaptiveLimit = field(default_factory=AdaptiveLimit)
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random

    def decide(self, state: RetryState, kind: RetryKind, *, after: float | None = None,
               position: int = 0, counted: bool = True) -> Decision:
        """After a failed attempt of kind ``kind``: how long to wait, or give up.

        ``after``: the server's Retry-After in seconds; ``position``: how far the
        unit had got (progress since its last failure restarts the budget);
        ``counted`` False: a failure that is no attempt (a connection a long
        pause let the server close)."""
        now = self.clock()
        if kind is RetryKind.THROTTLED:
            self.limit.throttled(state.ticket)
        if position != state.position or state.since is None:
            state.since, state.position = now, position
        if counted:
            state.attempts += 1
        attempt = state.attempts
        settings = self.settings
        if settings.max_attempts is not None and attempt >= settings.max_attempts:
            return Decision(None, attempt, f"gave up after {attempt} attempts (--retries)")
        if kind in (RetryKind.UNREACHABLE, RetryKind.EXPIRED):
            if attempt >= settings.quick_attempts:
                return Decision(None, attempt, f"gave up after {attempt} attempts")
            if kind is RetryKind.EXPIRED:
                return Decision(0.0, attempt)
        spent = now - state.since
        left = settings.budget - spent
        if left <= 0:
            return Decision(None, attempt, f"gave up after {attempt} attempts in {spent:.0f} s (see --retry-for)")
        delay = self.jitter() * min(settings.cap, settings.base * 2 ** attempt)
        if after is not None:
            # Never before the time the server named; a little spread on top
            # keeps the files it throttled together from returning together.
            wait = min(after, settings.retry_after_cap)
            if wait > left:
                return Decision(None, attempt, f"gave up after {attempt} attempts: the server asked for "
                                               f"{wait:.0f} s more than --retry-for leaves")
            delay = wait + self.jitter() * min(settings.base, left - wait)
        delay = min(delay, left)  # the last attempt at the budget's end
        return Decision(delay, attempt)



_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1.5h`` -> seconds; raises ValueError for anything else."""
    text = text.strip().lower()
    if not text:
        raise ValueError("an empty time")
    number, unit = (text[:-1], text[-1]) if text[-1:] in "smh" else (text, "")
    seconds = float(number) * _UNITS[unit]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(text)
    return seconds
