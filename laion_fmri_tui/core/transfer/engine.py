"""The transfer engine: one pool of workers over one connection pool.

Files are taken in plan order. A file above the threshold is split into
ranged parts that go to the front of the workers' queue, so free workers help
finish a started file before opening new ones. A smaller file is one streamed
GET, hashed as it arrives: from a source that can (S3) it goes to the
:class:`~laion_fmri_tui.core.transfer.multi_lane.MultiLane`, which keeps many
in flight on one thread; otherwise to a worker. Every unit retries transient
failures from the byte it had reached. Pausing holds transfers between reads;
cancelling stops them and keeps every ``.part`` for the next run.
"""

from __future__ import annotations

import collections
import errno
import os
import threading
import time
from collections.abc import Mapping

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core import verified
from laion_fmri_tui.core.plan import LocalState, Plan, PlanItem
from laion_fmri_tui.core.transfer import partfile
from laion_fmri_tui.core.transfer.bandwidth import TokenBucket
from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.transfer.hash_pool import HashPool
from laion_fmri_tui.core.transfer.multi_lane import MultiLane, Request
from laion_fmri_tui.core.transfer.progress import ProgressTracker
from laion_fmri_tui.core.transfer.settings import EngineSettings
from laion_fmri_tui.core.transfer.sources import Source, SourceError
from laion_fmri_tui.core.transfer.streaming import Cancelled, Cursor, stream_range
from laion_fmri_tui.core.transfer.verify import VerificationError

__all__ = ["EngineSettings", "TransferEngine"]


class TransferEngine:
    """Runs one plan; usable once. Control methods are thread-safe."""

    def __init__(self, sources: Mapping[str, Source], sink: ev.EventSink,
                 settings: EngineSettings | None = None) -> None:
        self._sources = sources
        self._sink = sink
        self.settings = settings or EngineSettings()
        self._running = threading.Event()
        self._running.set()
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._queue: collections.deque = collections.deque()
        self._items: collections.deque[PlanItem] = collections.deque()
        self._small: collections.deque[PlanItem] = collections.deque()
        """Whole-file GETs for the multi lane, in plan order."""
        self._active: dict[str, FileJob] = {}
        self._stop_reason: str | None = None
        self._plan: Plan | None = None
        self._counts = {"done": 0, "skipped": 0, "failed": 0}
        self._failures: list[tuple[str, str]] = []
        self.progress: ProgressTracker | None = None
        self._bandwidth = TokenBucket(self.settings.max_bandwidth)
        self._hashes = HashPool()

    # control ---------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def cancel(self, reason: str | None = None) -> None:
        self._stop_reason = self._stop_reason or reason
        self._cancel.set()
        self._running.set()

    def set_bandwidth(self, bytes_per_second: int | None) -> None:
        """Cap all workers together at this many bytes per second (None: no cap), now."""
        self._bandwidth.set_rate(bytes_per_second)

    @property
    def bandwidth(self) -> int | None:
        return self._bandwidth.rate

    # run -------------------------------------------------------------------
    def run(self, plan: Plan) -> ev.RunFinished:
        """Fetch every pending item; blocks until done or cancelled."""
        started = time.monotonic()
        self._plan = plan
        self.progress = ProgressTracker(plan, lambda: tuple(self._active.values()), self.paused_flag)
        self._sink(ev.PlanReady(plan))
        for key, reason in plan.refused:
            self._counts["skipped"] += 1
            self._sink(ev.FileSkipped(key, reason))
        for item in plan.items:
            if item.state is LocalState.COMPLETE:
                self._counts["skipped"] += 1
                self._sink(ev.FileSkipped(item.key, "complete", item.size))
            elif self._lane_takes(item):
                self._small.append(item)
            else:
                self._items.append(item)
        ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        ticker.start()
        workers = [threading.Thread(target=self._work, name=f"transfer-{n}", daemon=True)
                   for n in range(max(1, min(self.settings.jobs, 1024)) if self._items else 0)]
        if self._small:
            lane = MultiLane(self, self.settings.lane_transfers)
            workers.append(threading.Thread(target=lane.run, name="transfer-lane", daemon=True))
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                worker.join()
            if self._cancel.is_set():
                self._drop_queued()
            else:
                self._hash_ready(flush=True)  # what waited for company, now that no part is in flight
        finally:
            self._finished.set()
            self._hashes.close()
        ticker.join()
        self._sink(self.progress.snapshot())
        if self._stop_reason:
            self._sink(ev.Notice(self._stop_reason, "error"))
        finished = ev.RunFinished(
            done=self._counts["done"], skipped=self._counts["skipped"],
            failed=self._counts["failed"], bytes_fetched=self.progress.fetched,
            elapsed=time.monotonic() - started, cancelled=self._cancel.is_set(),
            failures=tuple(self._failures),
        )
        self._sink(finished)
        return finished

    def paused_flag(self) -> bool:
        return self.paused

    def _tick(self) -> None:
        while not self._finished.wait(self.settings.progress_interval):
            assert self.progress is not None
            snapshot = self.progress.snapshot_if_changed()
            if snapshot is not None:
                self._sink(snapshot)

    # workers ---------------------------------------------------------------
    def _work(self) -> None:
        while not self._cancel.is_set():
            unit = self._next_unit()
            if unit is None:
                return
            job, index = unit
            self._run_unit(job, index)

    def _next_unit(self) -> tuple[FileJob, int] | None:
        while True:
            with self._lock:
                if self._queue:
                    return self._queue.popleft()
                if not self._items:
                    return None
                item = self._items.popleft()
            job = self._start_job(item)
            if job is None:
                continue
            todo = job.todo
            if not todo:
                if job.pool_hashed:
                    self._hash_ready()  # every part came from an earlier run: check, then keep
                else:
                    self._after_units(job)
                continue
            with self._lock:
                self._queue.extendleft((job, i) for i in reversed(todo[1:]))
            return job, todo[0]

    def _start_job(self, item: PlanItem) -> FileJob | None:
        job = FileJob(item, self.settings.chunk_size_for(item.size))
        try:
            job.todo = job.open()
            if not job.chunk_size and job.resume_from:
                job.hash_existing_prefix()
            if job.chunk_size:
                self._hashes.add(job)
        except OSError as error:
            job.close()
            self._fail(job, "disk", _disk_message(error, item))
            return None
        with self._lock:
            self._active[item.key] = job
        assert self.progress is not None
        self.progress.started(item.key)
        self._sink(ev.FileStarted(item.key, item.size, job.resume_from))
        return job

    def _run_unit(self, job: FileJob, index: int) -> None:
        failure: tuple[str, str] | None = None
        try:
            if job.failure is None:
                self._fetch_unit(job, index)
        except (Cancelled, SourceError, OSError) as error:
            failure = self.failure_of(error, job)
        self.unit_ended(job, failure, index if job.chunk_size else None)

    def failure_of(self, error: BaseException, job: FileJob) -> tuple[str, str]:
        """(kind, message) of a unit's failure; a full disk cancels the run."""
        if isinstance(error, Cancelled):
            return ("cancelled", "cancelled")
        if isinstance(error, SourceError):
            return (error.kind, str(error))
        if isinstance(error, OSError):
            if error.errno == errno.ENOSPC:
                self.cancel(f"disk full in {job.item.dest.parent}: free space and rerun to resume")
            return ("disk", _disk_message(error, job.item))
        raise error

    def unit_ended(self, job: FileJob, failure: tuple[str, str] | None, part: int | None = None) -> None:
        """A unit has stopped (``failure`` None: all its bytes are in the ``.part``).

        A chunked job with checks is wrapped up by whoever hashes its last span."""
        with job.lock:  # read together: the hash pool may fail the job in between (fail_if_first)
            job.outstanding -= 1
            if failure and job.failure is None:
                job.failure = failure
            last = job.outstanding == 0
            failed = job.failure is not None
        if not failed and job.pool_hashed:
            if part is not None:
                job.part_ready(part)
            self._hash_ready()
        elif not failed and last:
            self._finalize(job)
        elif last:
            self._after_units(job)
            if job.pool_hashed:
                self._hash_ready()  # spans that waited for this job's may go on without them

    def _hash_ready(self, flush: bool = False) -> None:
        """Hash the parts that are ready, and wrap up the jobs that completes or breaks."""
        completed, broken = self._hashes.drive(flush)
        for job in completed:
            self._finalize(job)
        for job in broken:
            self._after_units(job)

    def _drop_queued(self) -> None:
        """After a cancel: the parts no worker started end as cancelled, so their
        files are closed and retired (every ``.part`` and record stays)."""
        with self._lock:
            queued, self._queue = list(self._queue), collections.deque()
        for job, _ in queued:
            self.unit_ended(job, ("cancelled", "cancelled"))

    def _fetch_unit(self, job: FileJob, index: int) -> None:
        if job.chunk_size:
            start, end = job.chunk_range(index)
        else:
            start, end = job.resume_from, job.item.size - 1
        cursor = Cursor(start)
        attempt = 0
        while cursor.pos <= end:
            self._check_gate()
            try:
                stream_range(self._sources[job.item.source], job, cursor, end, self._check_gate,
                             self.bytes_arrived, self._sink, self.throttle)
            except SourceError as error:
                if error.kind not in ("transient", "expired"):
                    raise
                attempt += 1
                self._sleep(self.retry_delay(job, error, attempt, cursor.pos))
        if job.chunk_size:
            job.chunk_finished(index)

    def retry_delay(self, job: FileJob, error: SourceError, attempt: int, pos: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``; raises once retries are spent."""
        if attempt >= self.settings.retries:
            raise SourceError("transient", f"{error} (gave up after {attempt} attempts)") from None
        self._sink(ev.Notice(f"retrying {job.item.key} from byte {pos}: {error} "
                             f"(attempt {attempt + 1} of {self.settings.retries})"))
        return 0 if error.kind == "expired" else min(10.0, self.settings.backoff * 2 ** (attempt - 1))

    # the multi lane's side (see multi_lane.LaneHost) -------------------------
    def _lane_takes(self, item: PlanItem) -> bool:
        """Whole-file GETs from a source that can describe them as plain requests."""
        return (self.settings.lane_transfers > 0 and not self.settings.chunk_size_for(item.size)
                and hasattr(self._sources[item.source], "lane_request"))

    def take_small(self) -> tuple[FileJob, Request] | None:
        """The next whole-file GET with its ``.part`` open, None when there is none."""
        while not self._cancel.is_set():
            with self._lock:
                if not self._small:
                    return None
                item = self._small.popleft()
            job = self._start_job(item)
            if job is not None and job.todo:
                return job, self._sources[item.source].lane_request(item)
            if job is not None:
                self._after_units(job)
        return None

    def gate_state(self) -> str:
        if self._cancel.is_set():
            return "cancel"
        return "run" if self._running.is_set() else "pause"

    def notice(self, event: ev.Notice) -> None:
        self._sink(event)

    def bytes_arrived(self, nbytes: int) -> None:
        assert self.progress is not None
        self.progress.add(nbytes)

    def throttle(self, nbytes: int) -> None:
        self._bandwidth.consume(nbytes, self._check_gate)

    def _check_gate(self) -> None:
        if self._cancel.is_set():
            raise Cancelled
        if not self._running.is_set():
            self._running.wait()
            if self._cancel.is_set():
                raise Cancelled

    def _sleep(self, seconds: float) -> None:
        if self._cancel.wait(seconds):
            raise Cancelled

    # outcomes --------------------------------------------------------------
    def _finalize(self, job: FileJob) -> None:
        try:
            kind = job.verifier.finish()
            if os.fstat(job.fd).st_size != job.item.size:
                raise VerificationError("size on disk differs from the listing")
        except VerificationError as error:
            job.close()
            partfile.discard(job.dest)
            self._fail(job, "verify", f"{error}; the partial file was removed, rerun to fetch it again")
            return
        job.close()
        try:
            os.replace(job.part, job.dest)
        except OSError as error:  # the checked bytes stay in the .part
            self._fail(job, "disk", _disk_message(error, job.item))
            return
        try:
            partfile.discard(job.dest, part=False, updated=job.record_updated)
        except OSError:
            pass  # a stale record beside a complete file is ignored by the next plan
        if kind == "sha256" and job.item.sha256 and self._plan is not None:
            verified.remember(self._plan.data_dir, job.dest, job.item.sha256)
        self._retire(job, ok=True)
        with self._lock:
            self._counts["done"] += 1
        self._sink(ev.FileDone(job.item.key, job.item.size, job.fetched, kind))

    def _after_units(self, job: FileJob) -> None:
        """Every unit has ended and at least one failed (or there was nothing to do)."""
        job.close()
        if job.failure is None:
            self._finalize(job)
            return
        kind, message = job.failure
        self._retire(job)
        if kind == "cancelled":
            return
        if kind in ("denied", "changed", "missing"):
            partfile.discard(job.dest)
        if kind == "denied":
            with self._lock:
                self._counts["skipped"] += 1
            self._sink(ev.FileSkipped(job.item.key, message, job.item.size))
            return
        self._fail(job, kind, message)

    def _retire(self, job: FileJob, ok: bool = False) -> None:
        with self._lock:
            if job.retired:
                return
            job.retired = True
            self._active.pop(job.item.key, None)
        if self.progress is not None:
            self.progress.retire(job, ok)

    def _fail(self, job: FileJob, kind: str, message: str) -> None:
        self._retire(job)
        with self._lock:
            self._counts["failed"] += 1
            self._failures.append((job.item.key, message))
        self._sink(ev.FileFailed(job.item.key, message))


def _disk_message(error: OSError, item: PlanItem) -> str:
    if error.errno == errno.ENOSPC:
        return f"disk full while writing {item.dest.name}"
    return f"cannot write {item.dest}: {error.strerror or error}"
