"""A streamed span's bytes, gathered where the socket put them.

The lane reads a streamed span's bytes straight into that span's gather
buffer, writes them into the ``.part`` from there, and a full buffer goes to
the span hasher as it is: no copy between the socket and the MD5 (copying
each read into a buffer for the hasher was a fifth of the lane thread's CPU
on large objects). Bytes that arrive another way (with an answer's head, or
from a server that ignored a range) are copied in. The hasher gives a buffer
back with :func:`recycle` once it has hashed it, so buffers are not
allocated (and zeroed) again for every half MiB.
"""

from __future__ import annotations

import collections
from typing import Protocol

from laion_fmri_tui.core.integrity.content_checks import Span

HAND_OVER = 512 * 1024
"""Bytes of a span gathered before the hasher gets them (its Python runs per piece)."""
_SPARE = 256
_spare: collections.deque[bytearray] = collections.deque()
"""Buffers the hasher is done with (``deque`` appends and pops are atomic)."""


def recycle(buffer: object) -> None:
    """A gather buffer the hasher no longer reads: it may be filled again."""
    if isinstance(buffer, bytearray) and len(buffer) == HAND_OVER and len(_spare) < _SPARE:
        _spare.append(buffer)


class Hasher(Protocol):
    def put(self, owner: object, span: Span, view: memoryview) -> None: ...


class SpanGather:
    """The gather buffers of one file's streamed spans (their bytes come in order)."""

    def __init__(self, owner: object, hasher: Hasher, streamed: dict[int, Span], span_size: int) -> None:
        self._owner = owner
        self._hasher = hasher
        self._streamed = streamed
        self._span_size = span_size
        self._open: dict[int, list] = {}
        """Span index -> [buffer, bytes in it]."""

    def room(self, pos: int) -> memoryview | None:
        """Where the bytes from object offset ``pos`` on may be read to (up to its
        span's end), or None when ``pos`` is in no streamed span."""
        index = pos // self._span_size
        span = self._streamed.get(index)
        if span is None:
            return None
        entry = self._open.get(index)
        if entry is None:
            try:
                buffer = _spare.pop()
            except IndexError:
                buffer = bytearray(HAND_OVER)
            entry = self._open[index] = [buffer, 0]
        buffer, fill = entry
        return memoryview(buffer)[fill:fill + min(HAND_OVER - fill, span.end - pos)]

    def landed(self, pos: int, nbytes: int) -> None:
        """``nbytes`` were put into :meth:`room` for ``pos``: hand a full buffer (or a span's end) over."""
        index = pos // self._span_size
        entry = self._open[index]
        entry[1] += nbytes
        span = self._streamed[index]
        if entry[1] == HAND_OVER or pos + nbytes == span.end:
            del self._open[index]
            self._hasher.put(self._owner, span, memoryview(entry[0])[:entry[1]])

    def copy_in(self, view: memoryview, pos: int) -> None:
        """Bytes from object offset ``pos`` that arrived elsewhere (only their streamed spans' are kept)."""
        while view:
            room = self.room(pos)
            if room is None:
                take = min(len(view), (pos // self._span_size + 1) * self._span_size - pos)
            else:
                take = min(len(view), len(room))
                room[:take] = view[:take]
                self.landed(pos, take)
            view = view[take:]
            pos += take
