"""Hashing the finished parts of files fetched in parts, from the page cache, many spans at a time.

The spans that cannot be hashed as they arrive (see
:mod:`~laion_fmri_tui.core.integrity.span_hasher`): parts kept from an earlier run, a whole-file MD5 or sha256, spans across
parts. A part's bytes are checked
once they are on disk, read back through a mapping of the ``.part`` (still
in the page cache), so verification overlaps the transfer instead of a
second pass at the end. The pool sees the spans of
every file in flight: it steps up to
:data:`~laion_fmri_tui.core.integrity.md5_steps.WIDTH` MD5 spans together (the parts of a multipart upload, or several files' prefixes), which
is where most of a large download's CPU went. The pool hashes on its own
thread, woken by :meth:`HashPool.poke` whenever a part ends, so the lanes
never stop receiving while it hashes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from laion_fmri_tui.core.events import FailKind, Failure
from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.integrity.md5_steps import WIDTH, update_together
from laion_fmri_tui.core.transfer.part_window import PartWindow, feed
from laion_fmri_tui.core.integrity.content_checks import MIB, Span, Verifier

WINDOW = 2 * MIB
"""Bytes of each span mapped per step: 16 spans map 32 MiB at most."""


class HashPool:
    """The spans of the files in parts of one run that are not hashed yet.

    The pool reads each file through its own duplicate of the ``.part``'s
    descriptor, so a job that fails and closes its file while a span is being
    hashed never leaves a mapping on a reused descriptor number.
    """

    def __init__(self, hashed: Callable[[FileJob, Span], None],
                 broken: Callable[[FileJob, Failure], None]) -> None:
        self._hashed = hashed
        """Called with each span the pool hashed (:meth:`.Outcomes.span_hashed`: it may end the file)."""
        self._broken = broken
        """Called with each file the pool could not read back (:meth:`.Outcomes.fail_outside`)."""
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open: list[tuple[FileJob, Span]] = []
        self._fds: dict[FileJob, list[int]] = {}
        """Per job with pool spans left: [the duplicate descriptor the pool reads
        it through, how many of its spans the pool still has]."""

    def add(self, job: FileJob) -> None:
        """Start tracking the spans of a job in parts that are not streamed (it has been opened)."""
        spans = job.pool_spans
        if not spans:
            return
        fd = os.dup(job.fd)
        with self._lock:
            self._fds[job] = [fd, len(spans)]
            self._open.extend((job, span) for span in spans)

    def poke(self) -> None:
        """Parts have ended: hash what is ready, on the pool's thread."""
        if not self._open:
            return
        with self._lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="hash-pool", daemon=True)
                self._thread.start()
        self._wake.set()

    def finish(self, flush: bool) -> None:
        """No part is in flight any more: stop the thread, then hash everything
        ready (``flush``: without waiting for company) here."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()
        if flush:
            self.drive(flush=True)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            self.drive()

    def close(self) -> None:
        """The run is over: let go of what failed or cancelled jobs left."""
        with self._lock:
            for fd, _ in self._fds.values():
                os.close(fd)
            self._fds.clear()
            self._open.clear()

    def drive(self, flush: bool = False) -> None:
        """Hash the spans whose bytes are ready (all of them when ``flush``: no
        part is in flight any more), and report each hashed span and each file
        that could not be read back to the outcomes, which alone end files
        (outside the pool's lock: ending a file writes and calls the sink)."""
        while True:
            with self._lock:
                batch = self._claim(flush)
            if not batch:
                return
            fds = [self._fds[job][0] for job, _, _ in batch]
            if len(batch) == 1 and not batch[0][1].batchable:
                unread = _hash_ordered(fds[0], *batch[0])
            else:
                unread = _hash_batch(fds, batch)
            for job, error in unread:  # only the files that could not be read back: their spans drop out
                self._broken(job, Failure(FailKind.DISK, f"cannot read {job.part_file.name} back to verify it: "
                                                         f"{getattr(error, 'strerror', None) or error}"))
            hashed: list[tuple[FileJob, Span]] = []
            with self._lock:
                for job, span, _ in batch:
                    span.claimed = False
                    if span.pos == span.end:
                        self._forget(job, span)
                        hashed.append((job, span))
            for job, span in hashed:
                self._hashed(job, span)

    def _forget(self, job: FileJob, span: Span) -> None:
        self._open.remove((job, span))
        held = self._fds[job]
        held[1] -= 1
        if not held[1]:
            os.close(self._fds.pop(job)[0])

    def _claim(self, flush: bool) -> list[tuple[FileJob, Span, int]]:
        """Up to WIDTH batchable spans with whole blocks ready, or one span alone (an
        ordered digest, or a last partial block); oldest files first.

        A step costs the same for one lane as for sixteen, so while at least
        WIDTH batchable spans are still to come, fewer ready ones wait for company:
        each unit that ends brings more, and a failed job's spans drop out."""
        batchable: list[tuple[FileJob, Span, int]] = []
        alone: tuple[FileJob, Span, int] | None = None
        unfinished = 0
        for job, span in list(self._open):
            if span.claimed:
                continue
            if job.failure is not None:
                self._forget(job, span)
                continue
            unfinished += span.batchable
            ready = job.ready_end(span.pos, span.end) - span.pos
            if span.batchable and span.pos + ready < span.end:
                ready -= ready % 64  # MD5 takes whole blocks until the span's last one
            if ready <= 0:
                continue
            if not span.batchable or ready < 64:
                alone = alone or (job, span, ready)
            else:
                batchable.append((job, span, ready))
                if len(batchable) == WIDTH:
                    break
        if batchable and (len(batchable) == WIDTH or unfinished < WIDTH or flush):
            batch = batchable
        elif alone is not None:
            batch = [alone]
        else:
            return []
        for _, span, _ in batch:
            span.claimed = True
        return batch


def _hash_batch(fds: list[int], batch: list[tuple[FileJob, Span, int]]) -> list[tuple[FileJob, OSError]]:
    """Step the batch's MD5 spans together over their common ready length;
    return the spans' files that could not be read back."""
    common = min(WINDOW, *(ready for _, _, ready in batch))
    if len(batch) > 1:
        common -= common % 64  # a span's last partial block is hashed alone, later
    windows: list[tuple[Span, PartWindow]] = []
    unread: list[tuple[FileJob, OSError]] = []
    try:
        for fd, (job, span, _) in zip(fds, batch):
            try:
                windows.append((span, PartWindow(fd, span.pos, common)))
            except OSError as error:
                unread.append((job, error))
        if windows:
            update_together([span.digest for span, _ in windows], [w.view for _, w in windows], common,
                            [span.pos + common == span.end for span, _ in windows])
    finally:
        for _, window in windows:
            window.close()
    for span, _ in windows:
        span.pos += common
    return unread


def _hash_ordered(fd: int, job: FileJob, span: Span, ready: int) -> list[tuple[FileJob, OSError]]:
    assert isinstance(span.digest, Verifier)
    try:
        feed(fd, span.digest, span.pos, span.pos + ready)
    except OSError as error:
        return [(job, error)]
    span.pos += ready
    return []
