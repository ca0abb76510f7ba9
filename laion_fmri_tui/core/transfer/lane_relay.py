"""The end of a run shared between lanes: a lane that ran dry takes over
transfers in flight from a lane that still has many.

Each lane keeps to the files it opened, so when the last parts have started,
one lane may still hold dozens of answers (and megabytes of them already in
its sockets' buffers) while the other has none. Measured on the subject
scenario: the last 0.3-0.6 s of a run were one lane alone at a full core,
the other core idle. Here the dry lane asks; a lane with at least two
transfers in flight hands over about half of their bytes still to come,
connections and all, and both finish together.

A handover is a claim then a delivery: the giver claims the asker (so it
cannot leave meanwhile), detaches the transfers from its own ``epoll`` and
delivers them, even none. The asker adopts what it is given on its own
thread. A lane that asked leaves only by withdrawing, which fails once it is
claimed: nothing delivered is ever stranded. An asker sleeps in :meth:`LaneRelay.wait`
until a delivery or a change among the lanes wakes it (polling every 5 ms
cost a run of 2,000 small files hundreds of wake-ups and GIL hand-offs), or
until no other lane is busy (then it leaves).
"""

from __future__ import annotations

import collections
import threading
import time


class LaneRelay:
    """Shared by a run's lanes (one per lane index)."""

    def __init__(self, lanes: int) -> None:
        self._lock = threading.Condition()
        """Notified whenever a lane asks, is delivered to or leaves."""
        self._asking: list[int] = []
        """Dry lanes waiting for transfers, oldest first."""
        self._claimed: set[int] = set()
        self._left: set[int] = set()
        self._lanes = lanes
        self._inboxes: list[collections.deque] = [collections.deque() for _ in range(lanes)]

    def ask(self, lane: int) -> None:
        with self._lock:
            if lane not in self._asking and lane not in self._claimed and lane not in self._left:
                self._asking.append(lane)
                self._lock.notify_all()  # a lane waiting on this one may now be the last busy one

    def asker(self, lane: int) -> int | None:
        """A lane other than ``lane`` waiting for transfers (read without the lock:
        a stale answer costs one turn)."""
        return next((other for other in list(self._asking) if other != lane), None)

    def claim(self, lane: int) -> bool:
        """Take the asker ``lane`` for a delivery; False if it has gone or is taken."""
        with self._lock:
            if lane not in self._asking:
                return False
            self._asking.remove(lane)
            self._claimed.add(lane)
            return True

    def deliver(self, lane: int, transfers: list) -> bool:
        """Hand the claimed ``lane`` its transfers (maybe none); False, and the
        giver keeps them, if it left meanwhile (the run was cancelled)."""
        with self._lock:
            self._claimed.discard(lane)
            if lane in self._left:
                return False
            self._inboxes[lane].extend(transfers)
            self._lock.notify_all()
            return True

    def wait(self, lane: int, timeout: float) -> bool:
        """Sleep until something is delivered to ``lane``, or no other lane is
        busy any more (each has asked too, or left: this one may leave), or
        ``timeout`` passes (the caller looks at the run again then). False
        when it was the timeout. Either is seen even if it happened before the
        call: no wake-up is lost between a lane's look and its sleep."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._inboxes[lane] and self._busy_besides(lane):
                left = deadline - time.monotonic()
                if left <= 0 or not self._lock.wait(left):
                    return False
            return True

    def take(self, lane: int) -> list:
        """What has been delivered to ``lane`` (only its own thread takes)."""
        inbox = self._inboxes[lane]
        taken = []
        while inbox:
            taken.append(inbox.popleft())
        return taken

    def withdraw(self, lane: int) -> bool:
        """Leave the run if nothing is on its way to ``lane``; False while a
        delivery is under way or waiting to be taken."""
        with self._lock:
            if lane in self._claimed or self._inboxes[lane]:
                return False
            self._leave(lane)
            return True

    def leave(self, lane: int) -> list:
        """Leave the run now (cancelled, or failed); return what was delivered and not taken."""
        with self._lock:
            self._leave(lane)
            taken = list(self._inboxes[lane])
            self._inboxes[lane].clear()
            return taken

    def others_busy(self, lane: int) -> bool:
        """Whether a lane besides ``lane`` still runs and is not dry itself (one that may give)."""
        with self._lock:
            return self._busy_besides(lane)

    def _busy_besides(self, lane: int) -> bool:
        return any(other != lane and other not in self._left and other not in self._asking
                   for other in range(self._lanes))

    def _leave(self, lane: int) -> None:
        self._left.add(lane)
        if lane in self._asking:
            self._asking.remove(lane)
        self._lock.notify_all()
