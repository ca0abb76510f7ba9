"""One GET on the lane: its byte range, where its answer is, what it has read.

The lane reads each answer's body into one shared buffer and writes it into
the ``.part`` at once, while the bytes are still in the CPU's cache; this
class keeps what it takes to do that for one transfer: the cursor, the
answer's head, the bytes to drop from a server that ignored the range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from laion_fmri_tui.core.events import FailKind
from laion_fmri_tui.core.http.connect import Connection
from laion_fmri_tui.core.http.retry import RetryState
from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.http.wire import MAX_HEAD, ChunkReader, Head, parse_head
from laion_fmri_tui.core.transfer.sources import Request
from laion_fmri_tui.core.http.answers import SourceError, wrong_start


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
    retries: RetryState = field(default_factory=RetryState)
    """Its failures so far, for the run's :class:`~laion_fmri_tui.core.http.retry.RetryPolicy`."""
    conn: Connection | None = None
    outgoing: memoryview | None = None
    """What is left to send of the request (empty once sent)."""
    head: bytearray | None = None
    """The answer's head so far (None once parsed)."""
    answer: Head | None = None
    left: int | None = None
    """Body bytes still to come (None: up to the connection's close)."""
    dechunker: ChunkReader | None = None
    """A chunked answer's decoder (None: the body has a length, or ends with its connection)."""
    skip: int = 0
    """Bytes to drop first: a server that ignored a part's range answers from byte 0."""
    error: BaseException | None = None
    paused: bool = False
    resumed: bool = False
    """Unpaused, and no new bytes since: a failure now (a server that closed the
    connection left idle by a long pause) is the pause's, not an attempt."""
    touched: float = 0.0
    """When its connection last made progress (for the timeouts)."""
    reused: bool = False
    """Its connection carried an earlier GET (the server may have closed it since)."""

    def begin(self, conn: Connection, request: bytes, now: float) -> None:
        """A new attempt on ``conn``: the request is to be sent, an answer to come."""
        self.conn, self.outgoing, self.head = conn, memoryview(request), bytearray()
        self.reused, conn.uses = conn.uses > 0, conn.uses + 1
        self.answer, self.left, self.skip, self.error, self.touched = None, None, 0, None, now
        self.dechunker = None

    @property
    def answered(self) -> bool:
        return self.answer is not None and self.answer.status in (200, 206)

    def read_head(self, data: memoryview) -> memoryview | None:
        """Add received bytes to the head; once it is whole, parse it and return
        the body bytes that came with it (None while the head is incomplete)."""
        assert self.head is not None
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_HEAD:
                raise SourceError(FailKind.TRANSIENT, "the server's answer has no end to its head")
            return None
        head, rest = bytes(self.head[:end]), memoryview(bytes(self.head[end + 4:]))
        answer = parse_head(head)
        if answer.status // 100 == 1:  # an interim answer (100 Continue): the real one follows
            self.head = bytearray()
            return self.read_head(rest) if rest else None
        self.head, self.answer, self.left = None, answer, answer.length
        self.dechunker = ChunkReader() if answer.chunked else None
        if self.answered:
            self._check_start()
        return rest

    def _check_start(self) -> None:
        assert self.answer is not None
        start = self.answer.first if self.answer.first is not None else 0
        if start == self.pos:
            return
        if start != 0:
            raise wrong_start(start, self.pos)
        self.skip = self.pos  # the prefix is in the .part, and If-Match pins it to the same object

    def wanted(self, data: memoryview) -> memoryview:
        """The part of received body bytes that belongs to the range, from
        :attr:`pos` on (the caller stores it and advances :attr:`pos`); bytes
        past :attr:`end` are dropped."""
        if self.skip:
            dropped = min(self.skip, len(data))
            self.skip -= dropped
            data = data[dropped:]
        keep = self.end + 1 - self.pos
        return data[:keep] if len(data) > keep else data

    @property
    def complete(self) -> bool:
        return self.pos == self.end + 1
