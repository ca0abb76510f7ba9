"""How many ranged parts a lane keeps in flight: as many as the path rewards.

A fixed 96 parts (``--n-jobs``) fills a fast link whose server gives each
connection tens of MB/s, but it is wrong twice on a slow one. At 10 MB/s, 96
parts of 8 MiB each get about 100 KB/s and none finishes for over a minute,
so a run stopped by a job's time limit (or killed) has finished no part; and
a saturated server or proxy serves fewer connections better (s5cmd gets more
from one with fewer). So the count is tuned from the throughput the lane
measures (issues 21 and 24):

* It starts at :data:`START` (or the ceiling, if lower) and doubles while a
  doubling pays: the level above must deliver :data:`GAIN` times the level
  below, else the lane steps back.
* It halves while the level below delivers :data:`KEEP` of the level above:
  fewer connections for the same bytes.
* A level's figure is measured only while that many parts are in flight
  (less the few that ended since the lane last started some; a level cut
  below what is in flight takes effect as parts end, none is stopped), after :data:`SETTLE` for new GETs to get going, over a
  window of :data:`WINDOW` seconds that also holds enough bytes to mean
  something (:data:`WINDOW_BYTES` a part). Figures older than :data:`STALE`
  are forgotten, so the count follows a path that changes.

The lane asks :meth:`PartsInFlight.allowed` before it starts a part and tells
:meth:`PartsInFlight.arrived` each part's bytes; nothing else. It never goes
below :data:`FLOOR` or above the ceiling the user set.
"""

from __future__ import annotations

import time

START = 32
"""Parts in flight at first. The bench's lab link (20 MB/s a connection)
holds about 500 MB/s with 32 and needs about 96 for its fastest runs: the
doublings take a fraction of a second there."""
FLOOR = 4
"""Fewest parts in flight: one slow connection must not hold a run back."""
GAIN = 1.15
"""A doubling is kept only if it brings this much more throughput."""
KEEP = 0.9
"""A halving is kept if it keeps this share of the throughput."""
SETTLE = 0.15
"""Seconds after a level is reached before it is measured (new GETs' first round trips)."""
WINDOW = 0.3
"""Shortest measurement of a level, in seconds."""
WINDOW_BYTES = 64 * 1024
"""Bytes a part in flight must bring, on average, before a window ends."""
STALE = 10.0
"""Seconds after which a level's figure is measured again."""


class PartsInFlight:
    """Chooses the number of ranged parts in flight from measured throughput; one lane's, one thread."""

    def __init__(self, ceiling: int, clock=time.monotonic) -> None:
        self._ceiling = max(1, ceiling)
        self._clock = clock
        self._levels = _levels(self._ceiling)
        self._at = self._levels.index(min(self._levels, key=lambda n: abs(n - min(START, self._ceiling))))
        self._rates: dict[int, tuple[float, float]] = {}
        """Level index: (bytes per second measured there, when)."""
        self._bytes = 0
        self._since: float | None = None
        """When the current window began (None: not measuring: the count in flight is not the level)."""
        self._going_up = True

    @property
    def level(self) -> int:
        return self._levels[self._at]

    def arrived(self, nbytes: int) -> None:
        """``nbytes`` of ranged parts have come in."""
        self._bytes += nbytes

    def allowed(self, in_flight: int) -> int:
        """How many parts may be in flight now, given how many are."""
        now = self._clock()
        level = self.level
        if not level - level // 4 <= in_flight <= level or len(self._levels) == 1:
            self._since = None  # not this level's figure (parts still ending, or too few left to start)
            return level
        if self._since is None:
            self._since, self._bytes = now + SETTLE, 0
            return level
        if now < self._since:
            self._bytes = 0
            return level
        took = now - self._since
        if took < WINDOW or self._bytes < WINDOW_BYTES * level:
            return level
        self._rates[self._at] = (self._bytes / took, now)
        self._since = None
        self._at = self._next(now)
        return self.level

    def _next(self, now: float) -> int:
        """The level to measure next, from the figures of this one and its neighbours."""
        at = self._at
        rate = self._rates[at][0]
        below, above = self._fresh(at - 1, now), self._fresh(at + 1, now)
        if below is not None and below >= KEEP * rate:
            self._going_up = False
            return at - 1  # as much with fewer
        if above is not None and rate >= GAIN * above:
            self._going_up = False
        if above is not None and above >= GAIN * rate:
            return at + 1
        if below is not None and rate < GAIN * below:
            return at - 1  # the doubling did not pay
        if at + 1 < len(self._levels) and above is None and (self._going_up or below is None):
            return at + 1
        if at > 0 and below is None:
            return at - 1
        self._going_up = True  # both neighbours measured and worse: stay, and look again once they are stale
        return at

    def _fresh(self, at: int, now: float) -> float | None:
        if not 0 <= at < len(self._levels):
            return None
        rate, when = self._rates.get(at, (None, 0.0))
        return rate if rate is not None and now - when <= STALE else None


def _levels(ceiling: int) -> list[int]:
    """Counts the controller may choose: powers of two from :data:`FLOOR`, and the ceiling."""
    levels, n = [], min(FLOOR, ceiling)
    while n < ceiling:
        levels.append(n)
        n *= 2
    return levels + [ceiling]
