"""One file in flight: its ``.part``, resume record, verifier and part bookkeeping.

A job is either *sequential* (one stream, front to back, hashed as it
arrives) or *in parts* (parallel ranged GETs written at their offsets). A
parted job's checks are spans
(:class:`~laion_fmri_tui.core.integrity.content_checks.SpanCheck`). A span
that lies inside one part fetched by a lane is *streamed*: its bytes go to
the run's :class:`~laion_fmri_tui.core.integrity.span_hasher.SpanHasher` as
they arrive. The others (parts
kept from an earlier run, a whole-file MD5, a sha256, spans across parts)
are hashed from the page cache by the run's :class:`~.hash_pool.HashPool`.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from laion_fmri_tui.core.events import Failure
from laion_fmri_tui.core.models import LocalState, PlanItem
from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.core.disk.filelock import Holder, UnsafePathError
from laion_fmri_tui.core.transfer.part_window import feed
from laion_fmri_tui.core.disk.partfile import PartRecord
from laion_fmri_tui.core.integrity.span_gather import SpanGather
from laion_fmri_tui.core.integrity.span_hasher import SpanHasher
from laion_fmri_tui.core.integrity.content_checks import Span, SpanCheck, VerificationError, Verdict, Verifier, \
    judge


RESTART_BELOW = 1024 * 1024
"""A file this small is fetched again from its first byte by a later run, so
no resume record is written for it: two fewer files made and removed per
small file (most of a dataset's files are sidecars of a few KiB)."""


def part_size_to_resume(item: PlanItem, part_size: int) -> int:
    """The part size to fetch ``item`` in: ``part_size`` (the run's), unless an
    earlier run kept bytes of it in parts of another size, which a resume keeps
    (its record's extents are per part: another size would discard them)."""
    if item.state is LocalState.ABSENT:
        return part_size
    try:
        record = partfile.read_record(tempnames.current(item.dest, item.size, item.etag))
    except (partfile.BadRecord, UnsafePathError, OSError):
        return part_size  # the job's open says why
    if record is None or not record.matches(item.size, item.etag) or not any(record.extents):
        return part_size
    return record.chunk_size


class FileJob:
    """Mutable state of one planned file while it is being fetched."""

    def __init__(self, item: PlanItem, part_size: int, previous: Holder | None = None) -> None:
        self.item = item
        self.dest: Path = item.dest
        self.base = tempnames.own_base(item.dest)
        """``dest`` with this process's token: the :mod:`.partfile` functions'
        argument, so the temp files are this process's own (see :mod:`.tempnames`)."""
        self.part_file = partfile.part_path(self.base)
        self.previous = previous
        """The stale holder of ``dest``'s lock this run took over (its temp files are adopted)."""
        self.locked = False
        """Whether this process holds ``dest``'s lock (released when the job retires)."""
        self.adopted = False
        """Whether temp files of an earlier run were renamed to this process's names."""
        self.part_size = part_size if 0 < part_size < item.size else 0
        self.lock = threading.Lock()
        self.verifier: Verifier | SpanCheck = (SpanCheck(item.size, item.etag, item.sha256) if self.part_size
                                               else Verifier(item.size, item.etag, item.sha256))
        self.spans_left: list[Span] = list(self.verifier.spans) if self.part_size else []
        """Spans not hashed yet (jobs in parts), under :attr:`lock`."""
        self.streamed: dict[int, Span] = {}
        """Spans hashed as they arrive, by index (see :meth:`stream_to`)."""
        self._gather: SpanGather | None = None
        self.wrapped = False
        """Whether its end was claimed (:meth:`claim_wrap_up`), under :attr:`lock`."""
        self.ready: set[int] = set()
        """Parts whose bytes are all in the ``.part`` and may be hashed."""
        self.failure: Failure | None = None
        """The first failure of any of its units (or of reading it back), under :attr:`lock`."""
        self.fetched = 0
        self.on_disk = 0
        self.resume_from = 0
        self.fd = -1
        self._record: PartRecord | None = None
        self._done: set[int] = set()
        self.outstanding = 0
        self.retired = False
        self.recorded = True
        """Whether a resume record was written (or kept) beside the ``.part``."""
        self.todo: list[int] | None = None
        """Part indexes this run fetches; None until :meth:`open`."""
        self.dropped: str | None = None
        """Why the bytes an earlier run kept in the ``.part`` were discarded
        (the run says so in one line): a record that cannot be right, a
        ``.part`` that lacks bytes its record claims, an object changed since."""
        self._extents: partfile.ExtentWriter | None = None
        self.verdict: Verdict | None = None
        """The check of a ``.part`` whose record claimed every byte, made when
        it was opened (see :meth:`_unproven`): the file's end uses it, and
        hashes nothing again."""
        self._part_size_of: Callable[[PlanItem], int | None] = lambda item: None

    @property
    def part_count(self) -> int:
        return -(-self.item.size // self.part_size) if self.part_size else 1

    def part_range(self, index: int) -> tuple[int, int]:
        """Inclusive byte range of part ``index``."""
        start = index * self.part_size
        return start, min(self.item.size, start + self.part_size) - 1

    def open(self, part_size_of: Callable[[PlanItem], int | None] | None = None) -> list[int]:
        """Open or resume the ``.part``; return the part indexes still to fetch
        (a part kept in part is fetched from its extent on: :meth:`todo_range`).
        ``part_size_of``: the upload's part size as the source tells it, for
        the check of a ``.part`` kept whole (see
        :func:`~laion_fmri_tui.core.integrity.content_checks.judge`)."""
        if part_size_of is not None:
            self._part_size_of = part_size_of
        record, found, on_disk = None, False, 0
        if self.item.state is not LocalState.ABSENT or self.previous is not None:
            self.adopted = tempnames.adopt(self.dest, self.base, self.previous, self.item.size, self.item.etag,
                                           bool(self.item.sha256))
            if self.adopted and (linked := tempnames.linked_elsewhere(self.base)):
                partfile.discard(self.base)  # unlinks these names only: the other file stays as it was
                self.adopted, self.dropped = False, linked
            try:
                on_disk = self.part_file.stat().st_size
            except OSError:
                on_disk = 0
            try:
                record = partfile.read_record(self.base)
            except partfile.BadRecord as bad:
                self.dropped = f"its resume record was unusable ({bad})"  # never trusted: the .part goes with it
            found = record is not None
            if record is not None:
                record = self._fit(record, on_disk)
        keep = record is not None
        checked_whole = bool(self.item.sha256) or partfile.checked_whole(self.item.etag)
        trusted_prefix = not found and self.dropped is None and checked_whole and not self.part_size
        if trusted_prefix and on_disk:  # its bytes are its claim, checked whole at the end
            self.dropped = partfile.missing_bytes(self.base, PartRecord(self.item.size, self.item.etag), on_disk)
            trusted_prefix = self.dropped is None
        if not keep and not trusted_prefix:
            if self.adopted:
                partfile.discard(self.base)
            on_disk, record = 0, None
        self.fd = self._open_part(fresh=not (self.adopted and (keep or trusted_prefix)))
        offset, record_fd = 0, -1
        if not keep:
            self._record = PartRecord(self.item.size, self.item.etag, self.part_size)
            if self._writes_record:  # any old one was discarded
                record_fd, offset = partfile.begin_record(self.base, self._record, fresh=True)
            else:
                self.recorded = False  # a rerun finds a .part with no record: it starts over
        else:
            assert record is not None
            self._record = record
            if self.part_size:  # laid out afresh, so its extents can be updated in place
                record_fd, offset = partfile.begin_record(self.base, record)
        if self.verdict is not None:
            self.spans_left = []  # every byte was checked just now
        if not self.part_size and record_fd >= 0:
            os.close(record_fd)  # a sequential file's record is never updated
        if self.part_size:
            self._extents = partfile.ExtentWriter(record_fd, self._record, offset)
            os.ftruncate(self.fd, self.item.size)
            self._done = set(self._record.chunks_done)
            self.ready = set(self._done)
            self.resume_from = self._record.resumable_bytes(on_disk)
            todo = [i for i in range(self.part_count) if i not in self._done]
        else:
            self.resume_from = min(on_disk, self.item.size)
            os.ftruncate(self.fd, self.resume_from)
            todo = [0]
        self.on_disk = self.resume_from
        self.outstanding = len(todo)
        return todo

    def _fit(self, record: PartRecord, on_disk: int) -> PartRecord | None:
        """``record`` as this job resumes it, or None (then :attr:`dropped`
        says why, if it kept any bytes). Its object must be the listed one and
        every byte it claims in the ``.part``; a record of other parts than
        this run's is followed (the engine routed the file by it, see
        :func:`part_size_to_resume`), a sequential one becomes extents."""
        why = (partfile.dropped_because(record, self.item.size, self.item.etag)
               or partfile.missing_bytes(self.base, record, on_disk) or self._unproven(record, on_disk))
        if why is None and record.chunk_size != self.part_size:
            if not record.chunk_size:
                record = record.in_parts(self.part_size, on_disk)
            elif self.part_size:
                self.part_size = record.chunk_size  # its checks are the ETag's spans, whatever the parts
            else:
                why = f"they were kept in parts of {record.chunk_size} bytes and this run fetches the file whole"
        if why is None:
            return record
        self.verdict = None
        if record.claims(on_disk):
            self.dropped = why
        return None

    def _unproven(self, record: PartRecord, on_disk: int) -> str | None:
        """Why a record that claims every byte of the file is wrong, or None.

        Such a ``.part`` (its run was stopped between its last byte and the
        rename, or the record was edited) is checked now, whole, as the
        finished file would be: kept bytes that fail it are discarded here,
        so the file is fetched again in this run instead of failing at its
        end. Its verdict is the one the file's end would reach
        (:func:`~laion_fmri_tui.core.integrity.content_checks.judge`: a
        multipart ETag of an odd part size asks the bucket), and it is kept in :attr:`verdict`. A record that
        claims less is checked with the bytes fetched."""
        if sum(end - start for start, end, _ in record.claims(on_disk)) < self.item.size:
            return None
        item = self.item
        verifier = Verifier(item.size, item.etag, item.sha256)
        fd = os.open(self.part_file, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            feed(fd, verifier, 0, item.size)
            self.verdict = judge(verifier.finish, item.size, item.etag, lambda: self._part_size_of(item),
                                 lambda offset, n: os.pread(fd, n, offset))
        except (VerificationError, OSError) as error:
            return f"the .part holds every byte its record claims, and they fail the check ({error})"
        finally:
            os.close(fd)
        return None

    @property
    def _writes_record(self) -> bool:
        """Whether this job keeps a resume record (not for a small file: see :data:`RESTART_BELOW`)."""
        return bool(self.part_size or self.item.sha256 or self.item.size > RESTART_BELOW)

    def todo_range(self, index: int) -> tuple[int, int]:
        """Inclusive byte range of part ``index`` still to fetch: past its extent on disk."""
        start, end = self.part_range(index)
        assert self._record is not None
        return start + self._record.extents[index], end

    def _open_part(self, fresh: bool) -> int:
        """The ``.part``'s descriptor, never through a symbolic link
        (O_NOFOLLOW: ELOOP): made new (O_EXCL) when no kept byte is used
        (``fresh``; a file already at this process's name was not made by
        it, and is refused), else the adopted one, which must be a regular
        file with no other hard link (checked again on the open file: one
        could have been made since :func:`.tempnames.linked_elsewhere` looked)."""
        flags = os.O_RDWR | os.O_NOFOLLOW
        try:
            return os.open(self.part_file, flags | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if fresh:
                raise UnsafePathError(f"refusing {self.part_file}: this run did not make it; "
                                      "remove it and rerun") from None
        fd = os.open(self.part_file, flags)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            raise UnsafePathError(f"refusing {self.part_file}: it is not a regular file of one link "
                                  f"({info.st_nlink} hard links); remove it and rerun")
        return fd

    @property
    def has_spans(self) -> bool:
        """Checked as spans: done when every span is hashed, not at its last unit."""
        return isinstance(self.verifier, SpanCheck) and bool(self.verifier.spans) and self.verdict is None

    def stream_to(self, hasher: SpanHasher) -> None:
        """Hash each MD5 span that lies inside one part fetched now as its bytes
        arrive (see :mod:`~laion_fmri_tui.core.integrity.span_gather`). A whole small
        file fetched from its first byte is one such span when its ETag is its
        MD5: hashed 16 files at a time instead of one by one."""
        if not self.part_size:
            self._stream_whole(hasher)
            return
        spans = self.spans_left
        if len(spans) < 2 or not spans[0].batchable or self.todo is None:
            return
        assert self._record is not None
        fetched = {i for i in self.todo if not self._record.extents[i]}  # a part kept in part: the pool's
        for index, span in enumerate(spans):
            part = span.start // self.part_size
            if part in fetched and (span.end - 1) // self.part_size == part:
                self.streamed[index] = span
        if self.streamed:
            self._gather = SpanGather(self, hasher, self.streamed, spans[0].end - spans[0].start)

    def _stream_whole(self, hasher: SpanHasher) -> None:
        if self.resume_from or self.item.sha256 or self.item.size <= 0:
            return
        check = SpanCheck(self.item.size, self.item.etag)
        if check.kind != "md5":
            return
        self.verifier = check
        self.spans_left = list(check.spans)
        self.streamed = {0: check.spans[0]}
        self._gather = SpanGather(self, hasher, self.streamed, self.item.size)

    @property
    def pool_spans(self) -> list[Span]:
        """The spans the hash pool reads back from the ``.part``."""
        streamed = set(self.streamed.values())
        return [span for span in self.spans_left if span not in streamed]

    def span_hashed(self, span: Span) -> None:
        with self.lock:
            self.spans_left.remove(span)

    def claim_wrap_up(self) -> bool:
        """True once, for the first caller to see the job over: every unit
        ended, and either a failure recorded or every span hashed. Only
        :class:`~.outcomes.Outcomes` calls it (see its locking rule)."""
        with self.lock:
            if self.wrapped or self.outstanding or (self.failure is None and self.spans_left):
                return False
            self.wrapped = True
            return True

    @property
    def record_updated(self) -> bool:
        """Whether the resume record may have been rewritten (it then had a ``.tmp``)."""
        return bool(self.part_size) or self.item.state is not LocalState.ABSENT

    def hash_existing_prefix(self) -> None:
        """Sequential resume: hash the kept bytes once before appending."""
        feed(self.fd, self.verifier, 0, self.resume_from)

    def store(self, data: bytes | memoryview, pos: int) -> None:
        """Write arriving bytes at ``pos``; a sequential job hashes them as they pass."""
        self._write(data, pos)
        if self._gather is not None:
            self._gather.copy_in(memoryview(data), pos)
        elif not self.part_size:
            self.verifier.update(data)
        self._count(len(data), pos)

    def _write(self, data: bytes | memoryview, pos: int) -> None:
        written = os.pwrite(self.fd, data, pos)
        while written < len(data):  # a short write (a signal, a nearly full disk): the rest
            written += os.pwrite(self.fd, memoryview(data)[written:], pos + written)

    def landing(self, pos: int) -> memoryview | None:
        """Where the lane may read the bytes from ``pos`` on straight into the
        hasher's buffer (then it calls :meth:`landed`); None: use its own."""
        return self._gather.room(pos) if self._gather is not None else None

    def landed(self, view: memoryview, pos: int) -> None:
        """``view`` (read into :meth:`landing`) is the bytes from ``pos``: write them."""
        self._write(view, pos)
        assert self._gather is not None
        self._gather.landed(pos, len(view))
        self._count(len(view), pos)

    def _count(self, nbytes: int, pos: int) -> None:
        """``nbytes`` from ``pos`` are in the ``.part``: counted, and their part's extent recorded."""
        if self._extents is not None:
            index = pos // self.part_size
            self._extents.advance(index, pos + nbytes - index * self.part_size)
        with self.lock:
            self.fetched += nbytes
            self.on_disk += nbytes

    def part_written(self, index: int) -> None:
        """Part ``index`` is all on disk: its extent says so in the record (it
        survives SIGKILL; a pwrite, no fsync, like every extent update)."""
        with self.lock:
            self._done.add(index)
        assert self._record is not None and self._extents is not None
        self._record.extents[index] = self._record.part_length(index)
        self._extents.flush(index)

    def fail_if_first(self, failure: Failure) -> bool:
        """Record ``failure`` unless one is recorded already (or the job's end
        was claimed: it is being finished); True when it was recorded."""
        with self.lock:
            if self.failure is not None or self.wrapped:
                return False
            self.failure = failure
            return True

    def part_ready(self, index: int) -> None:
        """Part ``index`` has ended and its unit is accounted: the pool may hash it."""
        with self.lock:
            self.ready.add(index)

    def ready_end(self, pos: int, end: int) -> int:
        """How far from ``pos`` (towards ``end``) the bytes are ready to hash."""
        index = pos // self.part_size
        while index < self.part_count and index in self.ready and index * self.part_size < end:
            index += 1
        return max(pos, min(end, index * self.part_size))

    def close(self) -> None:
        if self._extents is not None:
            self._extents.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
