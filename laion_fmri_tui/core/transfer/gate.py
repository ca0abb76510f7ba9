"""The run's gate and throttle: running, paused or cancelled, and the bandwidth cap.

One :class:`RunGate` per engine. The engine's ``pause``/``resume``/``cancel``/
``set_bandwidth`` (any thread, also the app's engine child's ``commands``
thread) flip it; the lanes only read it: :meth:`RunGate.state` once a turn,
:meth:`RunGate.check` and :meth:`RunGate.read_limit` before a transfer's reads, and :meth:`RunGate.charge` after
each read. ``charge`` counts the bytes for the progress line and holds the
lane back while the cap is in debt; while it holds, it looks at the gate and
raises :class:`Paused` or :class:`Cancelled` so that the lane returns to its
loop instead of blocking its thread (the loop then holds or drops every
transfer it has).

The gate decides nothing about files: what to fetch next is the engine's
(the lanes' :class:`~laion_fmri_tui.core.transfer.lane.WorkSupply`), whether
to try again is the :class:`~laion_fmri_tui.core.transfer.retrier.Retrier`'s,
how a file ends is :class:`~laion_fmri_tui.core.transfer.outcomes.Outcomes`'.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable

from laion_fmri_tui.core.transfer.bandwidth import TokenBucket


class GateState(enum.Enum):
    """What the lanes do this turn."""

    RUN = "run"
    """Admit, send and read."""
    PAUSE = "pause"
    """Hold every transfer (stop reading: TCP holds the server); admit nothing."""
    CANCEL = "cancel"
    """Close every connection; every unit ends as cancelled, every ``.part`` stays."""


class Supply(enum.Enum):
    """Why a lane was handed no part (instead of a part to fetch)."""

    OPENING = "opening"
    """Another lane is opening a file whose parts may be shared: ask again soon."""
    EXHAUSTED = "exhausted"
    """No file is left to open and no part to take: this lane's parts are done."""


class Paused(Exception):
    """The run was paused while the lane waited for the bandwidth cap."""


class Cancelled(Exception):
    """The run was cancelled while the lane waited for the bandwidth cap."""


class RunGate:
    """Running, paused or cancelled, the bandwidth cap and the byte count; thread-safe."""

    def __init__(self, max_bandwidth: int | None = None) -> None:
        self._running = threading.Event()
        self._running.set()
        self._cancel = threading.Event()
        self._bandwidth = TokenBucket(max_bandwidth)
        self._count: Callable[[int], None] = lambda nbytes: None

    # the controls (any thread) ---------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        """Stop for good (a paused run is released, to stop)."""
        self._cancel.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait_cancelled(self, timeout: float) -> bool:
        """Sleep until a cancel or for ``timeout`` seconds; True if cancelled."""
        return self._cancel.wait(timeout)

    def set_bandwidth(self, bytes_per_second: int | None) -> None:
        """Cap all lanes together at this many bytes per second (None: no cap), now."""
        self._bandwidth.set_rate(bytes_per_second)

    @property
    def bandwidth(self) -> int | None:
        return self._bandwidth.rate

    def count_with(self, count: Callable[[int], None]) -> None:
        """Where :meth:`charge` counts arrived bytes (the run's progress tracker)."""
        self._count = count

    # the lanes' side --------------------------------------------------------
    def state(self) -> GateState:
        if self._cancel.is_set():
            return GateState.CANCEL
        return GateState.RUN if self._running.is_set() else GateState.PAUSE

    def read_limit(self) -> int | None:
        """The largest read while a bandwidth cap is set (see :attr:`TokenBucket.grain`)."""
        return self._bandwidth.grain

    def check(self) -> None:
        """Raise :class:`Paused` or :class:`Cancelled` unless the run is running.

        A lane calls it before it reads a transfer's socket: a turn serves
        every socket that has bytes, and without it each of them was read once
        more after a pause or a cancel (a capped run with 40 files in flight
        took about 200 kB past its cap that way, after the user's ``c``). The
        cap's wait calls it too, before each of its waits."""
        if self._cancel.is_set():
            raise Cancelled
        if not self._running.is_set():
            raise Paused

    def charge(self, nbytes: int) -> None:
        """Bytes a lane just wrote: counted, then held back under the cap; a
        pause or cancel meanwhile raises :class:`Paused`/:class:`Cancelled`."""
        self._count(nbytes)
        self._bandwidth.consume(nbytes, self.check)
