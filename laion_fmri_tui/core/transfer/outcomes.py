"""How each file of a run ends: the one owner of "verify, flush, rename, report".

Scheduling (which file opens next, which part goes to which lane) is the
engine's; everything after a unit has stopped is here: a unit ended (with
its failure, if any), a span hashed, a read-back that failed, and the end of
a file: verify its size and digests, flush it, rename the ``.part`` to its
final path, release its lock, and report :class:`~laion_fmri_tui.core.events.FileDone`,
:class:`~laion_fmri_tui.core.events.FileFailed` or a refusal's
:class:`~laion_fmri_tui.core.events.FileSkipped`, with the run's counts.

Threads. Units end on the lanes' threads (``transfer-lane-N``); spans are
hashed on the span hasher's thread (or inline on lane 0 in a run of small
files), parts read back on the hash pool's thread; after the lanes stop the
engine's own thread closes both hashers. Any of them may be the one to see
a file's last piece of work end, so any of them may finish it: handing the
last step to one more thread would cost a wake-up per file (the small-file
scenario counts them by the thousand). They all report here, through
:meth:`Outcomes.unit_ended`, :meth:`Outcomes.span_hashed`,
:meth:`Outcomes.fail_outside` (or :meth:`Outcomes.unexpected`) and
:meth:`Outcomes.units_over`; nothing else ends a file.

The locking rule. A job's own ``lock`` guards its ``outstanding`` units,
``failure``, ``spans_left`` and ``wrapped``; every read or write of them
takes it. A job is finished exactly once, by the one caller of
:meth:`FileJob.claim_wrap_up` that gets True; only :meth:`Outcomes._settle`
calls it, after every report above. The claim flips ``wrapped`` once no
unit is outstanding and either a failure is recorded or no span is left;
once ``wrapped``, no failure is recorded any more
(:meth:`FileJob.fail_if_first` refuses), so the claimer alone decides how
the file ends: verified and renamed (:meth:`Outcomes._finish`) or failed
(:meth:`Outcomes._end_failed`).

:attr:`FileJob.retired` (under :attr:`Outcomes.lock`) makes releasing a job
idempotent; the counts, the failures and the active jobs are guarded by
:attr:`Outcomes.lock`. No method here holds a job's lock while it takes
:attr:`Outcomes.lock` or calls the sink.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.disk import filelock, partfile, tempnames, verified
from laion_fmri_tui.core.events import FailKind, Failure
from laion_fmri_tui.core.models import PlanItem
from laion_fmri_tui.core.integrity.content_checks import Span, VerificationError, judge, not_checked
from laion_fmri_tui.core.transfer.filejob import RESTART_BELOW, FileJob
from laion_fmri_tui.core.transfer.gate import Cancelled
from laion_fmri_tui.core.transfer.progress import ProgressTracker
from laion_fmri_tui.core.transfer.sources import unexpected_failure
from laion_fmri_tui.core.http.answers import SourceError

class Outcomes:
    """The ends of a run's files, and its counts."""

    def __init__(self, sink: ev.EventSink, *, fsync: bool, cancel: Callable[[str], None]) -> None:
        self._sink = sink
        self._fsync = fsync
        self._cancel = cancel
        """Stops the run with a reason (a full disk)."""
        self.lock = threading.Lock()
        self.active: dict[str, FileJob] = {}
        """Files opened and not ended yet, by key (the progress ticker reads them)."""
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.failures: list[tuple[str, str]] = []
        """(key, message) of every failed file, for the run's summary."""
        self.progress: ProgressTracker | None = None
        self.data_dir: Path | None = None
        """Where sha256-checked files are remembered (see :mod:`laion_fmri_tui.core.disk.verified`)."""
        self.poke: Callable[[], None] = lambda: None
        """Wakes the pass's hash pool: a part of a file it checks has ended."""
        self.part_size_of: Callable[[PlanItem], int | None] = lambda item: None
        """The part size of an item's multipart upload as its source tells it
        (see :func:`~laion_fmri_tui.core.integrity.content_checks.recheck`)."""

    # files opened, and files that never open -------------------------------
    def opened(self, job: FileJob) -> None:
        with self.lock:
            self.active[job.item.key] = job
        assert self.progress is not None
        self.progress.started(job.item.key)
        self._sink(ev.FileStarted(job.item.key, job.item.size, job.resume_from))

    def skipped(self, key: str, kind: ev.SkipKind, reason: str, size: int = 0) -> None:
        with self.lock:
            self.counts["skipped"] += 1
        self._sink(ev.FileSkipped(key, kind, reason, size))

    def blocked(self, key: str, failure: Failure) -> None:
        """A planned file that is not fetched at all (its path is unsafe)."""
        with self.lock:
            self.counts["failed"] += 1
            self.failures.append((key, failure.message))
        self._sink(ev.FileFailed(key, failure.message, failure.kind))

    def settled_elsewhere(self, item: PlanItem, who: str) -> None:
        assert self.progress is not None
        self.progress.settled_elsewhere(item)
        self.skipped(item.key, ev.SkipKind.ELSEWHERE, f"fetched by {who}", item.size)

    # units and spans ---------------------------------------------------------
    def failure_of(self, error: BaseException, job: FileJob) -> Failure:
        """What a unit's error means for its file; a full disk cancels the run."""
        if isinstance(error, Cancelled):
            return ev.CANCELLED
        if isinstance(error, SourceError):
            return error.failure
        if isinstance(error, OSError):
            if error.errno == errno.ENOSPC:
                self._cancel(f"disk full in {job.item.dest.parent}: free space and rerun to resume")
            return Failure(FailKind.DISK, disk_message(error, job.item))
        raise error

    def unit_ended(self, job: FileJob, failure: Failure | None, part: int | None = None) -> None:
        """A unit has stopped (``failure`` None: all its bytes are in the ``.part``);
        ``part``: its part's index, for a file fetched as ranged parts."""
        with job.lock:  # read together: the hash pool may fail the job in between (fail_if_first)
            job.outstanding -= 1
            if failure and job.failure is None:
                job.failure = failure
            failed = job.failure is not None
        if not failed and job.has_spans and part is not None:
            job.part_ready(part)
        if job.has_spans:
            self.poke()  # its part may be hashed, or spans that waited for it may go on without it
        self._settle(job)

    def span_hashed(self, job: FileJob, span: Span) -> None:
        """A hasher's word (the span hasher's or the hash pool's, on its
        thread) that ``span`` of ``job`` is hashed."""
        try:
            job.span_hashed(span)
            self._settle(job)
        except Exception as error:  # noqa: BLE001 - this file fails, the hasher goes on
            self.unexpected(job, error)

    def fail_outside(self, job: FileJob, failure: Failure) -> None:
        """A failure found off the units' path (reading a part back): the
        file fails, unless its end was already claimed."""
        job.fail_if_first(failure)
        self._settle(job)

    def unexpected(self, job: FileJob, error: BaseException) -> None:
        """An error nothing expected, off the units' path: the file fails, the run goes on."""
        self.fail_outside(job, unexpected_failure(error))

    def units_over(self, job: FileJob) -> None:
        """``job`` was opened with no unit to run (every part kept, or nothing to fetch)."""
        self._settle(job)

    def _settle(self, job: FileJob) -> None:
        """End ``job`` if its work is over and nobody has claimed its end yet."""
        if not job.claim_wrap_up():
            return
        with job.lock:
            failure = job.failure  # settled: nobody records one after the claim
        if failure is not None:
            self._end_failed(job, failure)
            return
        try:
            self._finish(job)
        except Exception as error:  # noqa: BLE001 - e.g. the sink broke: this file fails, the run goes on
            job.close()
            with self.lock:
                retired = job.retired
            if not retired:
                self._end_failed(job, unexpected_failure(error))

    def _end_failed(self, job: FileJob, failure: Failure) -> None:
        """Every unit of ``job`` has ended and one failed (or reading it back did)."""
        job.close()
        self._retire(job)
        if failure.kind is FailKind.CANCELLED:
            return
        if failure.kind.discards_part:
            try:
                partfile.discard(job.base)
                partfile.discard(job.dest)  # the shared names it was parked under when it retired
            except OSError:
                pass  # the next plan finds the stale .part and asks the bucket again
        if failure.kind.skips:
            self.skipped(job.item.key, ev.SkipKind.REFUSED, failure.message, job.item.size)
            return
        self.failed(job, failure)

    # the end of a file -------------------------------------------------------
    def _finish(self, job: FileJob) -> None:
        """Verify, flush, rename, report: the bytes are all in the ``.part``."""
        try:
            kind = self._verdict(job)
            if os.fstat(job.fd).st_size != job.item.size:
                raise VerificationError("size on disk differs from the listing")
            if self._fsync and (job.part_size or job.item.size > RESTART_BELOW):
                os.fdatasync(job.fd)  # a node crash must not leave a right-sized file with holes
            tempnames.mark_fetched(job.fd, job.item.etag)
        except OSError as error:
            job.close()
            self.failed(job, Failure(FailKind.DISK, disk_message(error, job.item)))
            return
        except VerificationError as error:
            job.close()
            partfile.discard(job.base)
            self.failed(job, Failure(FailKind.VERIFY,
                                     f"{error}; the partial file was removed, rerun to fetch it again"))
            return
        job.close()
        try:
            os.replace(job.part_file, job.dest)
        except OSError as error:  # the checked bytes stay in the .part
            self.failed(job, Failure(FailKind.DISK, disk_message(error, job.item)))
            return
        try:
            if job.recorded:
                partfile.discard(job.base, part=False, updated=job.record_updated)
            # Always: a run stopped before a small file's first record write
            # parks a bare X.part that no plan adopts (3 unlinks, ~5 us a file).
            tempnames.clear_parked(job.dest)
        except OSError:
            pass  # a stale record beside a complete file is ignored by the next plan
        if kind == "sha256" and job.item.sha256 and self.data_dir is not None:
            verified.remember(self.data_dir, job.dest, job.item.sha256)
        self._retire(job, ok=True)
        with self.lock:
            self.counts["done"] += 1
        self._sink(ev.FileDone(job.item.key, job.item.size, job.fetched, kind))

    def _verdict(self, job: FileJob) -> str:
        """The check's name for ``job``'s bytes (or VerificationError): the
        verdict its open reached on a ``.part`` kept whole, else its
        checker's, settled by :func:`judge` (when no guessed part size matched
        a multipart ETag, the source is asked for the upload's, a HEAD on this
        thread: rare); a file kept on its size alone gets a line that says so."""
        item = job.item
        verdict = job.verdict or judge(job.verifier.finish, item.size, item.etag,
                                       lambda: self.part_size_of(item),
                                       lambda offset, n: os.pread(job.fd, n, offset))
        if verdict.unchecked is not None:
            self._sink(ev.Notice(not_checked(item.key, verdict.unchecked)))
        return verdict.kind

    def _retire(self, job: FileJob, ok: bool = False) -> None:
        with self.lock:
            if job.retired:
                return
            job.retired = True
            self.active.pop(job.item.key, None)
        if job.locked:
            job.locked = False
            try:
                if not ok:
                    tempnames.park(job.dest, job.base)  # for the next holder of the lock
                filelock.release(job.dest)
            except OSError:
                pass  # a lock left behind is stale once this process ends
        if self.progress is not None:
            self.progress.retire(job, ok)

    def failed(self, job: FileJob, failure: Failure) -> None:
        """``job`` has failed for good: released, counted, reported."""
        self._retire(job)
        with self.lock:
            self.counts["failed"] += 1
            self.failures.append((job.item.key, failure.message))
        self._sink(ev.FileFailed(job.item.key, failure.message, failure.kind))


def disk_message(error: OSError, item: PlanItem) -> str:
    if error.errno == errno.ENOSPC:
        return f"disk full while writing {item.dest.name}"
    return f"cannot write {item.dest}: {error.strerror or error}"
