"""The ranged parts' writes, on a thread of their own.

libcurl hands a transfer's bytes over 16 KiB at a time. Written as they came,
a 2 GB download was 130,000 ``pwrite`` calls, and hashing pieces that small
together on SIMD lanes left the steps a few hundred bytes wide; so the lane
gathers about half a MiB of a part before it queues a write here. Copying
into the page cache is most of a download's CPU, and on the lane's thread it
capped a run at one core. A part's outcome is queued behind its writes, so a
part is recorded and a file closed only after every byte of it is in the
``.part``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from laion_fmri_tui.core.transfer.filejob import FileJob

QUEUED = 64
"""Writes waiting per thread at most (about 32 MiB); the lane waits beyond that."""
THREADS = 2
"""Writer threads; a file's writes and outcomes all go to the same one, in order."""


class WriteState:
    """What a transfer's writes came to: the first error, read by its outcome."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: OSError | None = None


class PartWriter:
    """Writes queued buffers into their files, and runs queued calls, each
    file's in the order queued. Threads start on first use."""

    def __init__(self, threads: int = THREADS) -> None:
        self._queues: list[queue.Queue] = [queue.Queue(QUEUED) for _ in range(threads)]
        self._threads: list[threading.Thread | None] = [None] * threads
        self._shard: dict[FileJob, int] = {}
        """Which thread each file's writes go to: the files in turn."""

    def write(self, job: FileJob, view: memoryview, pos: int, state: WriteState) -> None:
        """Queue ``view`` for ``job``'s ``.part`` at ``pos`` (it must not change afterwards)."""
        self._put(job, (job, view, pos, state))

    def then(self, job: FileJob, call: Callable[[], None]) -> None:
        """Run ``call`` once every write queued for ``job`` before it is done."""
        self._put(job, call)

    def close(self) -> None:
        """Finish what is queued and stop."""
        for index, thread in enumerate(self._threads):
            if thread is not None:
                self._queues[index].put(None)
                thread.join()
                self._threads[index] = None

    def _put(self, job: FileJob, entry) -> None:
        index = self._shard.get(job)
        if index is None:
            index = self._shard[job] = len(self._shard) % len(self._queues)
        if self._threads[index] is None:
            thread = threading.Thread(target=self._run, args=(self._queues[index],), name="part-writer", daemon=True)
            thread.start()
            self._threads[index] = thread
        self._queues[index].put(entry)

    @staticmethod
    def _run(entries: queue.Queue) -> None:
        while (entry := entries.get()) is not None:
            if callable(entry):
                entry()
                continue
            job, view, pos, state = entry
            if state.error is None and job.failure is None:  # a failed file's bytes are not wanted
                try:
                    job.store(view, pos)
                except OSError as error:
                    state.error = error
