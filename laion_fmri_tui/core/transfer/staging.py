"""A ranged part's bytes gathered into large writes.

libcurl hands a transfer's bytes over 16 KiB at a time. Written as they come,
a 2 GB download was 130,000 ``pwrite`` calls, and hashing such small pieces
together on SIMD lanes left the steps a few hundred bytes wide. Gathered
here, each write (and each piece the span hasher gets) is half a MiB, for
one extra copy in memory that costs less than the system calls it saves.
"""

from __future__ import annotations

from laion_fmri_tui.core.transfer.filejob import FileJob

SIZE = 512 * 1024


class Staging:
    """Bytes received for one part and not written yet; a fresh buffer after each
    write, since the span hasher may still be reading the last one."""

    __slots__ = ("_view", "_fill", "_start")

    def __init__(self) -> None:
        self._view: memoryview | None = None
        self._fill = 0
        self._start = 0

    def add(self, job: FileJob, data: bytes, pos: int) -> None:
        """Gather ``data`` (object offset ``pos``), writing each buffer that fills."""
        fill = self._fill
        if self._view is not None and fill + len(data) < SIZE:  # the usual case: room in this buffer
            self._view[fill:fill + len(data)] = data
            self._fill = fill + len(data)
            return
        view = memoryview(data)
        while view:
            if self._view is None:
                self._view = memoryview(bytearray(SIZE))
                self._fill, self._start = 0, pos
            take = min(len(view), SIZE - self._fill)
            self._view[self._fill:self._fill + take] = view[:take]
            self._fill += take
            pos += take
            view = view[take:]
            if self._fill == SIZE:
                self.flush(job)

    def flush(self, job: FileJob) -> None:
        """Write what is gathered into the ``.part`` at its offset."""
        if self._view is None:
            return
        view, fill, self._view = self._view, self._fill, None
        if fill:
            job.store(view[:fill], self._start)
