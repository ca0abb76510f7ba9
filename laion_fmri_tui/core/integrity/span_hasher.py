"""MD5 of the parts of multipart uploads, from the bytes as they arrive.

A lane receives each ranged part in order on one connection, so a
part that holds whole upload parts can be hashed from the very bytes the lane
hands over: no second read of the ``.part``, no mapping, and the bytes are
still in the CPU's cache. One thread steps up to :data:`~.md5_steps.WIDTH`
spans together (see :mod:`~.md5_steps`), its C releasing the GIL while the
lanes receive. Pieces wait a few milliseconds for company, so a step is rarely
narrow; a span that ends hands its file back to the engine.

In a run of whole small files only (one lane), they are hashed ``inline``:
on the lane's own thread, by :meth:`SpanHasher.drain` whenever 16 are
queued and after each of its turns. Their bytes are few (0.04 CPU s for
2,000 files); it was the hand-offs that cost: a hasher thread woken per
batch, and the GIL passed back and forth at each of the lane's system calls,
about ten futex calls a file. (Drained only once a turn, a turn over hundreds
of ready sockets held a 512 KiB gather buffer per file: 242 MB at the peak
for the small scenario, against 47-51 MB now.)
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from laion_fmri_tui.core.integrity.md5_steps import WIDTH, Md5Stream, update_together
from laion_fmri_tui.core.integrity.span_gather import recycle
from laion_fmri_tui.core.integrity.content_checks import Span

LINGER = 0.01
"""Seconds pieces wait for company (every open span, up to :data:`WIDTH`) before a
narrower step: a step costs about the same at any width."""
HELD = 64 * 1024 * 1024
"""Bytes queued at most; :meth:`SpanHasher.put` waits beyond that (so do the lane
and TCP), on a core too busy or without the SIMD MD5 to hash at the link's pace."""
BEHIND = HELD // 4
"""Bytes queued beyond which a step does not wait for company. (Not any backlog
of one span: on large objects that sent a third of the bytes through steps of
eight spans or fewer.)"""
BLOCK = 64


@dataclass(eq=False)
class _SpanBytes:
    """One span's bytes received but not hashed yet, in order."""

    owner: object
    span: Span
    pieces: collections.deque[memoryview] = field(default_factory=collections.deque)
    carry: bytes = b""
    """The last bytes of a piece that ended inside a 64-byte block."""


class SpanHasher:
    """Hashes the spans that :meth:`put` feeds; ``done(owner, span)`` is called
    (on the hasher's thread) when a span's last byte is hashed, and ``dropped(owner)``
    says whether an owner failed, so its bytes need no hashing any more."""

    def __init__(self, done: Callable[[object, Span], None], dropped: Callable[[object], bool],
                 *, inline: bool = False) -> None:
        self._inline = inline
        """Hashed by :meth:`drain` on the feeder's thread; no thread of its own."""
        self._done = done
        self._dropped = dropped
        self._cond = threading.Condition()
        self._feeds: dict[Span, _SpanBytes] = {}
        """Every span fed and not finished (its carry lives here)."""
        self._queued: dict[Span, _SpanBytes] = {}
        """The feeds with pieces to hash, oldest first."""
        self._closing = False
        self._held = 0
        """Bytes queued and not hashed yet."""
        self._stale = False
        """A feed was queued (or a close asked) while the hasher was not looking."""
        self._thread: threading.Thread | None = None
        self._ready_since: float | None = None
        """When :meth:`drain` first left ready pieces waiting for company."""

    def put(self, owner: object, span: Span, view: memoryview) -> None:
        """Queue the span's next bytes; ``view`` must not change until hashed
        (a gather buffer is filled again only once :func:`recycle` has it)."""
        with self._cond:
            while self._held >= HELD and self._thread is not None:
                self._cond.wait()
            self._held += len(view)
            feed = self._feeds.get(span)
            if feed is None:
                feed = self._feeds[span] = _SpanBytes(owner, span)
            feed.pieces.append(view)
            if span not in self._queued:
                self._queued[span] = feed
                self._stale = True
                if len(self._queued) in (1, WIDTH):  # the hasher starts lingering, or may stop
                    self._cond.notify()
            if self._thread is None and not self._inline:
                self._thread = threading.Thread(target=self._run, name="span-hasher", daemon=True)
                self._thread.start()
            full = self._inline and len(self._queued) >= WIDTH
        if full:  # a step is full: hash it now, and its gather buffers go back to be filled again
            self.drain()

    def drain(self, force: bool = False) -> None:
        """Hash what is queued on this thread (an inline hasher's feeder calls it
        after each batch of puts). Pieces wait for company as on the hasher's
        thread, unless ``force``: a step of one span costs about what a step of
        sixteen does."""
        if not self._inline:
            return
        while True:
            with self._cond:
                ready = self._ready()
                now = time.monotonic()
                if not ready:
                    self._ready_since = None
                    return
                if not (force or self._company(ready)
                        or (self._ready_since is not None and now - self._ready_since >= LINGER)):
                    self._ready_since = self._ready_since or now
                    return
                self._ready_since = None
            self._step(ready[:WIDTH])

    def _company(self, ready: list[_SpanBytes]) -> bool:
        """Every span that could step is ready, or the queue is too long to wait."""
        return len(ready) >= min(WIDTH, len(self._feeds)) or self._held >= BEHIND

    def close(self) -> None:
        """Hash what is queued (the run's transfers have ended) and stop."""
        if self._inline:
            self.drain(force=True)
            return
        with self._cond:
            self._closing = True
            self._stale = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._wait_for_batch()
                if batch is None:
                    return
            self._step(batch)

    def _wait_for_batch(self) -> list[_SpanBytes] | None:
        """Up to WIDTH feeds with whole blocks to hash; None once closed and empty."""
        waiting_since: float | None = None
        while True:
            self._stale = False
            ready = self._ready()
            if self._stale and len(ready) < WIDTH:
                continue  # queued while done() ran with the lock released: look again
            if ready and (self._closing or self._company(ready)):
                return ready[:WIDTH]  # every span that could step is ready, or the hasher is behind
            if self._closing and not self._queued:
                return None
            now = time.monotonic()
            if ready and waiting_since is not None and now - waiting_since >= LINGER:
                return ready
            if ready:
                waiting_since = waiting_since or now
                self._cond.wait(max(0.0, LINGER - (now - waiting_since)))
            else:
                waiting_since = None
                self._cond.wait()

    def _ready(self) -> list[_SpanBytes]:
        """Queued feeds with a whole block at the front, after settling carries,
        tails and the spans that ended or whose file failed."""
        ready = []
        for span, feed in list(self._queued.items()):
            if self._dropped(feed.owner):
                self._forget(span)
                self._release(sum(len(piece) for piece in feed.pieces))
                continue
            self._release(_settle(feed))
            if span.pos == span.end:
                self._forget(span)
                self._cond.release()  # the engine may wrap the file up: not under our lock
                try:
                    self._done(feed.owner, span)
                except Exception:  # noqa: BLE001 - the engine fails that file; the others go on
                    pass
                finally:
                    self._cond.acquire()
            elif feed.pieces:
                ready.append(feed)
            else:
                self._queued.pop(span, None)  # a carry waits for the span's next piece
        return ready

    def _forget(self, span: Span) -> None:
        self._queued.pop(span, None)
        self._feeds.pop(span, None)

    def _release(self, nbytes: int) -> None:
        """``nbytes`` of the queue are hashed or dropped (the caller holds the lock)."""
        if nbytes:
            was = self._held
            self._held -= nbytes
            if was >= HELD > self._held:
                self._cond.notify_all()  # feeders waiting for room (and the hasher, which looks again)

    def _step(self, batch: list[_SpanBytes]) -> None:
        """Hash the same whole-block length from the front of each feed, together."""
        common = min(len(feed.pieces[0]) for feed in batch)
        common -= common % BLOCK
        views = [feed.pieces[0] for feed in batch]
        streams = [feed.span.digest for feed in batch]
        assert all(isinstance(s, Md5Stream) for s in streams)
        update_together(streams, views, common, [False] * len(batch))  # type: ignore[arg-type]
        with self._cond:
            self._release(common * len(batch))
            for feed in batch:
                feed.span.pos += common
                _replace_front(feed.pieces, feed.pieces[0][common:])
                if not feed.pieces and feed.span.pos != feed.span.end:  # an ended span stays: _ready reports it
                    self._queued.pop(feed.span, None)


def _settle(feed: _SpanBytes) -> int:
    """Make the front of a feed start on a block boundary of its span; return
    the queued bytes this took off the pieces.

    A piece that ends inside a block leaves its last bytes as a carry, which
    the next piece completes to one block, hashed alone; the span's own last
    partial block becomes the digest's tail."""
    span, pieces = feed.span, feed.pieces
    digest = span.digest
    assert isinstance(digest, Md5Stream)
    taken = 0
    while pieces:
        head = pieces[0]
        if feed.carry:
            need = BLOCK - len(feed.carry)
            feed.carry += bytes(head[:need])
            taken += min(need, len(head))
            _replace_front(pieces, head[need:])
            if len(feed.carry) == BLOCK or span.pos + len(feed.carry) == span.end:
                block, feed.carry = feed.carry, b""
                update_together([digest], [memoryview(block)], len(block), [span.pos + len(block) == span.end])
                span.pos += len(block)
            continue
        if len(head) >= BLOCK:
            return taken
        if span.pos + len(head) == span.end:  # the span's last bytes: its digest's tail
            update_together([digest], [head], len(head), [True])
            span.pos = span.end
        else:
            feed.carry = bytes(head)
        taken += len(head)
        recycle(pieces.popleft().obj)
    return taken


def _replace_front(pieces: collections.deque[memoryview], rest: memoryview) -> None:
    """The front piece is hashed up to ``rest``; a piece hashed to its end goes back to be filled again."""
    if rest:
        pieces[0] = rest
    else:
        recycle(pieces.popleft().obj)
