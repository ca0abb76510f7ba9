"""Run-wide progress: bytes on disk, throughput over a sliding window, ETA.

The lanes only add byte counts (cheap, under one lock); the engine's ticker
thread turns them into at most one :class:`~laion_fmri_tui.core.events.Progress`
per interval, and only when something changed. Front ends never see a
per-read event.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterable

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.models import LocalState, Plan

WINDOW_SECONDS = 5.0
MIN_SPAN = 1.0
"""Seconds the rate is averaged over at least. Over a shorter span it measured
the size of the last reads, not the throughput: a run capped at 200k showed
about 700 kB/s in its first second. The first second's rate now ramps up."""


class ProgressTracker:
    """Counts for one run of one plan."""

    def __init__(self, plan: Plan, active: Callable[[], Iterable], paused: Callable[[], bool]) -> None:
        self._lock = threading.Lock()
        self._active = active
        self._paused = paused
        self.total = plan.bytes_total
        self.files_total = plan.files
        self._settled = sum(i.size for i in plan.items if i.state is LocalState.COMPLETE)
        self._files_settled = sum(1 for i in plan.items if i.state is LocalState.COMPLETE)
        self._unstarted_present = {i.key: i.present for i in plan.items
                                   if i.state is not LocalState.COMPLETE and i.present}
        self.fetched = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._last: tuple | None = None

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.fetched += nbytes

    def started(self, key: str) -> None:
        with self._lock:
            self._unstarted_present.pop(key, None)

    def retire(self, job, ok: bool) -> None:
        """A job left the active set: count its bytes as settled on disk."""
        with self._lock:
            self._settled += job.item.size if ok else job.on_disk
            self._files_settled += 1

    def settled_elsewhere(self, item) -> None:
        """Another process finished ``item`` while this run waited for it."""
        with self._lock:
            self._unstarted_present.pop(item.key, None)
            self._settled += item.size
            self._files_settled += 1

    def snapshot(self) -> ev.Progress:
        now = time.monotonic()
        active = list(self._active())
        with self._lock:
            fetched = self.fetched
            done = self._settled + sum(self._unstarted_present.values())
            files = self._files_settled
            self._samples.append((now, fetched))
            while len(self._samples) > 2 and now - self._samples[0][0] > WINDOW_SECONDS:
                self._samples.popleft()
            first_t, first_b = self._samples[0]
        done += sum(job.on_disk for job in active)
        span = now - first_t
        rate = (fetched - first_b) / max(span, MIN_SPAN) if span > 0.05 else 0.0
        remaining = max(0, self.total - done)
        eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 else None)
        return ev.Progress(
            bytes_done=min(done, self.total), bytes_total=self.total, bytes_fetched=fetched,
            rate=rate, eta_seconds=eta, files_done=files, files_total=self.files_total,
            active=tuple(ev.ActiveFile(j.item.key, j.on_disk, j.item.size) for j in active),
            paused=self._paused(),
        )

    def snapshot_if_changed(self) -> ev.Progress | None:
        snap = self.snapshot()
        key = (snap.bytes_done, snap.files_done, snap.paused, len(snap.active))
        if key == self._last:
            return None
        self._last = key
        return snap
