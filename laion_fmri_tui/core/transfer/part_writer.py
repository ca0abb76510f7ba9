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


class WriteState:
    """What a transfer's writes came to, read by its outcome: the first error,
    and whether any write was dropped because its file had failed."""

    __slots__ = ("error", "skipped")

    def __init__(self) -> None:
        self.error: OSError | None = None
        self.skipped = False


class PartWriter:
    """Writes queued buffers into their files and runs queued calls; each
    file's in the order queued (a unit's outcome after its writes), so a file
    is closed, when its last unit's outcome runs, under no write. A queued call that raises is handed to ``failed`` with its file,
    so a thread never dies. Threads start on first use."""

    def __init__(self, failed: Callable[[FileJob, BaseException], None], threads: int = THREADS) -> None:
        self._failed = failed
        self._queues: list[queue.Queue] = [queue.Queue(QUEUED) for _ in range(threads)]
        self._threads: list[threading.Thread | None] = [None] * threads
        self._turn = 0

    def write(self, job: FileJob, view: memoryview, pos: int, state: WriteState) -> None:
        """Queue ``view`` for ``job``'s ``.part`` at ``pos`` (it must not change afterwards)."""
        self._put(job, (job, view, pos, state))

    def then(self, job: FileJob, call: Callable[[], None]) -> None:
        """Run ``call`` once every write queued for ``job`` before it is done."""
        self._put(job, (job, call))

    def close(self) -> None:
        """Finish what is queued and stop."""
        for index, thread in enumerate(self._threads):
            if thread is not None:
                self._queues[index].put(None)
                thread.join()
                self._threads[index] = None

    def _put(self, job: FileJob, entry) -> None:
        if job.writer < 0:  # the files take the threads in turn; a file's parts stay on one
            job.writer = self._turn  # (two threads writing one file queue on its inode lock)
            self._turn = (self._turn + 1) % len(self._queues)
        index = job.writer
        if self._threads[index] is None:
            thread = threading.Thread(target=self._run, args=(self._queues[index],), name="part-writer", daemon=True)
            thread.start()
            self._threads[index] = thread
        self._queues[index].put(entry)

    def _run(self, entries: queue.Queue) -> None:
        while (entry := entries.get()) is not None:
            job = entry[0]
            try:
                if len(entry) == 2:
                    entry[1]()
                else:
                    _store(*entry)
            except Exception as error:  # noqa: BLE001 - that file fails, the writer goes on
                self._failed(job, error)


def _store(job: FileJob, view: memoryview, pos: int, state: WriteState) -> None:
    if state.error is not None or job.failure is not None:
        state.skipped = True  # a failed file's bytes are not wanted: its part must not count as done
        return
    try:
        job.store(view, pos)
    except OSError as error:
        state.error = error
