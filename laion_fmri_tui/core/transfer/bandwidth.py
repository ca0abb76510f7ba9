"""One bandwidth cap shared by every lane (``--max-bandwidth``).

A token bucket that may run into debt: a lane charges the bytes it just
read and then waits until the debt is paid at the current rate. Charging
after the read keeps the copy loop's read size unchanged, and the debt makes
the long-run rate exact however many lanes share the bucket. The rate can
change (or the cap go away) while lanes wait; they wake within 0.1 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_SLICE = 0.1
"""Longest single wait, so pause/cancel and rate changes are noticed promptly."""
_BURST = 0.1
"""Seconds of idle credit the bucket may bank (keeps bursts short)."""
MIN_GRAIN = 4096
"""Smallest read a capped transfer makes (a page; smaller reads only cost calls)."""


class TokenBucket:
    """Thread-safe limiter; ``rate`` None means no cap."""

    def __init__(self, rate: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._cond = threading.Condition()
        self._clock = clock
        self._rate: int | None = None
        self._tokens = 0.0
        self._last = clock()
        self.set_rate(rate)

    @property
    def rate(self) -> int | None:
        return self._rate

    @property
    def grain(self) -> int | None:
        """The largest read a capped reader should make (None: no cap).

        The bucket is charged after a read, so one read may overshoot the cap
        by its own size: a lane's 256 KiB read under a 200k cap was more than
        a second's worth, and the rate shown in the first seconds was several
        times the cap. Reads of at most a slice's worth keep every window close
        to the cap."""
        rate = self._rate
        return None if rate is None else max(MIN_GRAIN, int(rate * _SLICE))

    def set_rate(self, rate: int | None) -> None:
        """Change the cap now; None lifts it. Waiting lanes re-plan their wait."""
        if rate is not None and rate <= 0:
            raise ValueError(f"bandwidth must be positive or None (got {rate})")
        with self._cond:
            self._refill()
            if self._rate is None or rate is None:
                self._tokens = 0.0  # no credit carried across an uncapped period
            self._rate = rate
            self._cond.notify_all()

    def consume(self, nbytes: int, gate: Callable[[], None] | None = None) -> None:
        """Charge ``nbytes`` and block until the cap allows them.

        ``gate`` is called before every wait; it may block (pause) or raise
        (cancel). Before, not after: a lane serves every socket that has bytes
        in one turn, each read charged here, so a cancel that each charge
        noticed only after its wait took a tenth of a second per socket, and
        a capped run with 40 parts in flight went on for 4 s after the cancel.
        """
        with self._cond:
            if self._rate is None:
                return
            self._refill()
            self._tokens -= nbytes
            if self._tokens >= 0:
                return
        while True:
            if gate is not None:
                gate()
            with self._cond:
                if self._rate is None:
                    return
                self._refill()
                if self._tokens >= 0:
                    return
                self._cond.wait(min(_SLICE, -self._tokens / self._rate))

    def _refill(self) -> None:
        now = self._clock()
        if self._rate is not None:
            self._tokens = min(self._rate * _BURST, self._tokens + (now - self._last) * self._rate)
        self._last = now
