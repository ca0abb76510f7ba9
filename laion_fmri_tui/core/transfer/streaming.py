"""Copy one HTTP response into a ``.part`` at its offset, byte-exactly.

Kept apart from the scheduler so the one loop that touches bytes stays small
and the same for every source (S3 GETs, presigned URLs). The cursor advances
with every write, so a connection that drops half-way is resumed from the
exact byte it reached, never from the start of the range.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.transfer.sources import Source, SourceError, wrong_start
from laion_fmri_tui.core.transfer.content_checks import MIB

READ_SIZE = MIB // 2


_scratch = threading.local()


def _read_buffer() -> memoryview:
    """This thread's reusable read buffer: reads fill it, ``pwrite`` empties it."""
    view = getattr(_scratch, "view", None)
    if view is None:
        view = _scratch.view = memoryview(bytearray(READ_SIZE))
    return view


class Paused(Exception):
    """The run was paused while the lane waited for the bandwidth cap: it
    returns to its loop, which holds every transfer (it never blocks on the gate)."""


class Cancelled(Exception):
    """The run was cancelled while this unit was working."""


class Cursor:
    """The next byte a unit needs; survives a dropped connection."""

    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


def stream_range(source: Source, job: FileJob, cursor: Cursor, end: int,
                 gate: Callable[[], None], arrived: Callable[[int], None],
                 sink: ev.EventSink, throttle: Callable[[int], None] | None = None) -> None:
    """Fetch ``cursor.pos..end`` of ``job`` into its ``.part``.

    A sequential job (no parts) asks for an open-ended range, hashes as it
    writes, and starts over when the server ignores the range; a part asks
    for exactly its bytes and skips what a range-ignoring server sends first.
    ``gate`` raises :class:`Cancelled` or blocks while paused; ``throttle``
    is charged every read (the shared bandwidth cap) and blocks as needed.
    """
    sequential = not job.chunk_size
    opened = source.open(job.item, cursor.pos, None if sequential else end)
    body = opened.body
    try:
        if opened.start != cursor.pos:
            if opened.start == 0 and not sequential:
                _skip(body, cursor.pos)
            else:
                cursor.pos = restart_if_range_ignored(job, opened.start, cursor.pos, sink)
        readinto = getattr(body, "readinto", None)
        buffer = _read_buffer() if readinto is not None else None
        while cursor.pos <= end:
            gate()
            want = min(READ_SIZE, end + 1 - cursor.pos)
            try:
                if buffer is not None:
                    data = buffer[:readinto(buffer[:want])]
                else:
                    data = body.read(want)
            except Exception as error:  # http.client's and httpx's read errors vary by version
                raise _dropped(error) from None
            got = len(data)
            if not got:
                raise SourceError("transient", f"connection closed at byte {cursor.pos} of {end + 1}")
            job.store(data, cursor.pos)
            cursor.pos += got
            arrived(got)
            if throttle is not None:
                throttle(got)
    finally:
        body.close()


def restart_if_range_ignored(job: FileJob, answered: int, asked: int, sink: ev.EventSink) -> int:
    """Where a sequential job writes an answer that starts at ``answered``
    instead of ``asked``: from 0, over again, when the server ignored the
    range; any other start is a transient failure."""
    if answered != 0:
        raise wrong_start(answered, asked)
    sink(ev.Notice(f"{job.item.key}: the server ignored the range; starting over", "info"))
    job.restart()
    return 0


def _skip(body, count: int) -> None:
    while count > 0:
        try:
            data = body.read(min(READ_SIZE, count))
        except Exception as error:  # as in the read loop: a dropped connection, not the disk
            raise _dropped(error) from None
        if not data:
            raise SourceError("transient", "connection closed while skipping an ignored range")
        count -= len(data)


def _dropped(error: Exception) -> SourceError:
    """A read that failed: the connection, retried from the byte reached."""
    return SourceError("transient", f"connection dropped: {type(error).__name__}")
