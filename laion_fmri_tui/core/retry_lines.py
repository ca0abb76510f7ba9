"""Retries summed up in a few lines, for ``--batch``'s stderr and the app's log.

A throttling server (S3's SlowDown) makes the engine retry hundreds of
requests a second, and each retry is an event (the JSON output keeps one
object per retry). People need to know that it is being ridden out, for
which files, and for how long it goes on, in a line every few seconds: a
job log got 327 lines in seconds, and the app's log, which keeps its last
2,000 lines, lost the held-out files' warning under them. Pure text, no
clock of its own: the caller passes ``now``, so tests drive it with
numbers.
"""

from __future__ import annotations

from collections import Counter

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.units import count, duration

RETRY_EVERY = 5.0
"""Seconds between two lines that sum up retries (a job log of a throttled
run got 327 lines in seconds, one per request)."""
STUCK_AFTER = 30.0
"""Seconds of retries after which a file is named in a line of its own (or a
quarter of ``--retry-for``, when that is shorter)."""
NAMED_PER_LINE = 3
"""Files named as stuck at most per retries' line; the line counts the others."""


class RetryLines:
    """Retries summed up for people: a line at most every :data:`RETRY_EVERY` s.

    The caller feeds it every :class:`~laion_fmri_tui.core.events.Retrying`
    (:meth:`add`) and asks now and then for what is due (:meth:`due`; with
    ``force`` at the run's end); the lines it returns carry no level, which
    each front end adds its own way (``--batch``: "warning: " on stderr, the
    app: the log's warning colour).

    The first retry after a quiet spell is said at once; the retries that
    follow are counted and said in one line once the interval is over, by
    reason (``throttled by the server (HTTP 503)``), with how many files they
    were for. A file retried for long (:data:`STUCK_AFTER`) gets a line that
    names it, says why, and how long it keeps trying. ``--json`` keeps one
    object per retry instead (it never uses this)."""

    def __init__(self, every: float = RETRY_EVERY, stuck_after: float = STUCK_AFTER) -> None:
        self._every, self._stuck_after = every, stuck_after
        self._reasons: Counter[str] = Counter()
        self._keys: set[str] = set()
        self._stuck: set[str] = set()
        self._since = 0.0
        """When the first retry not yet said came."""
        self._last: float | None = None
        """When the latest retries' line was written."""
        self._named: dict[str, float] = {}
        """Stuck files, and when each was last named."""
        self._named_now = 0
        self._budget = 0.0

    def add(self, retry: ev.Retrying, now: float) -> list[str]:
        """Count ``retry``; the lines due now (a stuck file's, the sum's)."""
        if not self._reasons:
            self._since = now
        self._reasons[retry.reason] += 1
        self._keys.add(retry.key)
        self._budget = retry.retried_for + retry.gives_up_in
        lines = []
        if retry.retried_for >= self._stuck_threshold():
            named = self._named.get(retry.key)
            if named is not None and now - named < self._stuck_after:
                pass  # named a moment ago: its next line comes later
            elif self._named_now < NAMED_PER_LINE:
                self._named[retry.key] = now
                self._named_now += 1
                lines.append(f"still retrying {retry.key} after {duration(retry.retried_for)} "
                             f"(attempt {retry.attempt}): {retry.reason}; it keeps trying for "
                             f"{duration(retry.gives_up_in)} more (--retry-for)")
            else:
                self._stuck.add(retry.key)
        return lines + self.due(now)

    def _stuck_threshold(self) -> float:
        """Seconds of retries after which a file is named: :data:`STUCK_AFTER`, or a
        quarter of ``--retry-for`` when that is shorter."""
        return min(self._stuck_after, self._budget / 4)

    def due(self, now: float, force: bool = False) -> list[str]:
        """The sum of the retries not yet said, if its time has come (``force``: at the end)."""
        if not self._reasons or not (force or self._last is None or now - self._last >= self._every):
            return []
        span = now - (self._since if self._last is None or now - self._last > 2 * self._every else self._last)
        requests = sum(self._reasons.values())
        reasons = ", ".join(f"{n} {reason}" for reason, n in self._reasons.most_common(3))
        if len(self._reasons) > 3:
            reasons += f", {requests - sum(n for _, n in self._reasons.most_common(3))} other"
        when = f" in the last {span:.0f} s" if span >= 1 else ""
        stuck = (f"; {count(len(self._stuck), 'more file')} retried for {duration(self._stuck_threshold())} or more"
                 if self._stuck else "")
        line = (f"retrying {count(requests, 'request')} for {count(len(self._keys), 'file')}{when}: "
                f"{reasons}{stuck}; each file keeps trying for up to {duration(self._budget)} "
                "without progress (--retry-for)")
        self._reasons.clear()
        self._keys.clear()
        self._stuck.clear()
        self._named_now = 0
        self._last = now
        return [line]
