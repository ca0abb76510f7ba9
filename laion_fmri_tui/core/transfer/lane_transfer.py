"""One GET on the multi lane: its byte range, the bytes libcurl gathered, its answer.

libcurl hands a transfer's bytes over 16 KiB at a time, from inside
``perform``. A Python write callback per piece (on the lane's only thread)
was most of that thread's time with a few hundred transfers in flight, so
the callback is ``deque.append`` (no Python runs per piece) and the lane
takes the gathered pieces after each ``perform``: about half a MiB per
write, which the :class:`~.part_writer.PartWriter` does on its own thread.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.transfer.part_writer import WriteState
from laion_fmri_tui.core.transfer.sources import SourceError, content_range_start

GATHER = 32
"""Pieces (16 KiB at most each) a transfer gathers before they are written as one."""


@dataclass(frozen=True)
class Request:
    """What the lane needs to GET one object: no credentials, no signatures."""

    url: str
    headers: tuple[str, ...]
    ca_file: str
    connect_timeout: float
    read_timeout: float


@dataclass(eq=False)
class LaneTransfer:
    """A whole small file (``part`` None) or one ranged part of a chunked file."""

    job: FileJob
    request: Request
    pos: int
    """The next object byte this transfer needs."""
    end: int
    """The last byte (inclusive) it needs."""
    part: int | None = None
    writes: WriteState = field(default_factory=WriteState)
    """How its queued writes went (read once they are all done)."""
    chunks: collections.deque[bytes] = field(default_factory=collections.deque)
    """Pieces received and not queued for writing yet (libcurl appends them)."""
    attempt: int = 0
    status: int = 0
    first: int | None = None
    """Object offset of the answer's first byte (Content-Range), None if whole."""
    checked: bool = False
    skip: int = 0
    """Bytes to drop first: a server that ignored a part's range answers from byte 0."""
    error: BaseException | None = None
    paused: bool = False
    resumed_at: int = -1
    """Pieces gathered when it was unpaused (-1: not since its last new bytes).
    Until a new piece comes, a failure (a server that closed the connection
    left idle by a long pause) is the pause's, not an attempt."""
    overran: bool = False
    """The answer went past :attr:`end` (it ignored the range): it can be ended early."""

    def begin(self) -> None:
        """A new attempt: a new answer is coming."""
        self.status, self.first, self.checked, self.error, self.skip = 0, None, False, None, 0
        self.overran = False
        self.chunks = collections.deque()

    def header(self, line: bytes) -> None:
        """libcurl's header callback: the status and where the answer starts."""
        if line.startswith(b"HTTP/"):
            parts = line.split(None, 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.first = None
        elif line[:14].lower() == b"content-range:":
            self.first = content_range_start(line[14:].strip().decode("latin-1"))

    @property
    def answered(self) -> bool:
        return self.status in (200, 206)

    def take(self) -> memoryview | None:
        """The gathered bytes that belong to the range, from :attr:`pos` on (the
        caller writes them and advances :attr:`pos`); None for an error body.

        An answer from byte 0 (the server ignored the range) skips to the
        byte the transfer needs (the bytes before it are in the ``.part``, and
        ``If-Match`` pins them to the same object); bytes past :attr:`end`
        are dropped."""
        chunks = self.chunks
        if not chunks or not self.answered:
            chunks.clear()  # an error body: classified by its status when it ends
            return None
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if not self.checked:
            self._check_start()
        view = memoryview(data)
        if self.skip:
            dropped = min(self.skip, len(view))
            self.skip -= dropped
            view = view[dropped:]
        keep = max(0, self.end + 1 - self.pos)
        if len(view) > keep:
            self.overran = True
            view = view[:keep]
        return view

    def _check_start(self) -> None:
        self.checked = True
        start = self.first if self.first is not None else 0
        if start == self.pos:
            return
        if start != 0:
            raise SourceError("transient", f"server answered from byte {start}, asked {self.pos}")
        self.skip = self.pos
