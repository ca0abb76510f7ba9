"""The transfer engine: the multi lanes (S3) and worker threads (other sources).

Files are taken in plan order. A file above the threshold is split into
ranged parts that go to the front of the queue of the lane (or the workers)
that opened it, so parts in flight help finish a started file before new
ones open. A smaller file is one streamed GET, hashed as it arrives. From a
source that can (S3) both go to the
:class:`~laion_fmri_tui.core.transfer.multi_lane.MultiLane`s, which keep
them all in flight on a thread per core (two at most), each with the files
it opened; their parts are hashed as they arrive by the
:class:`~laion_fmri_tui.core.transfer.span_hasher.SpanHasher`; from other
sources to the worker threads. Every unit retries transient failures from
the byte it had reached. Pausing holds transfers between reads; cancelling
stops them and keeps every ``.part`` for the next run.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.disk import verified
from laion_fmri_tui.core.http.retry import AdaptiveLimit, RetryPolicy, RetryState, retry_after
from laion_fmri_tui.core.models import LocalState, Plan, PlanItem
from laion_fmri_tui.core.disk import filelock, partfile, tempnames
from laion_fmri_tui.core.transfer.bandwidth import TokenBucket
from laion_fmri_tui.core.transfer.filejob import RESTART_BELOW, FileJob
from laion_fmri_tui.core.disk.filelock import Claim, Holder, UnsafePathError
from laion_fmri_tui.core.transfer.hash_pool import HashPool
from laion_fmri_tui.core.transfer.http_wire import Head
from laion_fmri_tui.core.transfer.lane_relay import LaneRelay
from laion_fmri_tui.core.transfer.multi_lane import LATER, LATER_WAIT, MultiLane, Request
from laion_fmri_tui.core.transfer.progress import ProgressTracker
from laion_fmri_tui.core.transfer.settings import EngineSettings
from laion_fmri_tui.core.transfer.sources import Source, SourceError, classify_status, unexpected_failure
from laion_fmri_tui.core.transfer.span_hasher import SpanHasher
from laion_fmri_tui.core.transfer.streaming import Cancelled, Cursor, Paused, stream_range
from laion_fmri_tui.core.transfer.content_checks import Span, VerificationError

__all__ = ["EngineSettings", "TransferEngine"]


@dataclass
class _Feed:
    """Files to open, and the parts of opened ones still to start, in plan order.

    One queue of parts per taker: a file's parts stay with the lane that opened
    it while it has others to do, since two threads writing one file wait on
    its inode lock in turn (measured on tmpfs: an eighth of the run spinning)."""

    items: collections.deque[PlanItem] = field(default_factory=collections.deque)
    queues: list[collections.deque[tuple[FileJob, int]]] = field(default_factory=lambda: [collections.deque()])
    opening: int = 0
    """Files taken from ``items`` whose parts are not queued yet: until they are,
    a taker with nothing to do must ask again rather than stop."""


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
        self._workers = _Feed()
        self._parts = _Feed()
        """Chunked files for the multi lane."""
        self._small: collections.deque[PlanItem] = collections.deque()
        """Whole-file GETs for the multi lane, in plan order."""
        self._active: dict[str, FileJob] = {}
        self._waiting: list[tuple[PlanItem, Holder]] = []
        """Files another live process is fetching, with its holder (see :meth:`_await_others`)."""
        self._passes = 0
        self._lanes_running = 0
        self._stop_reason: str | None = None
        self._plan: Plan | None = None
        self._counts = {"done": 0, "skipped": 0, "failed": 0}
        self._failures: list[tuple[str, str]] = []
        self.progress: ProgressTracker | None = None
        self._bandwidth = TokenBucket(self.settings.max_bandwidth)
        self.retry_policy = RetryPolicy(self.settings.retry, AdaptiveLimit())
        """The run's one retry rule and request limit, shared by its lanes and workers."""
        self._hashes = HashPool(self._finalize, self._after_units)
        self._hasher = SpanHasher(self._span_hashed, lambda job: job.failure is not None)
        self._small_hasher = self._hasher
        """Whole small files' hasher: in a run without ranged parts, an inline one,
        drained on lane 0's thread (see :meth:`hash_landed`)."""

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
            self._sink(ev.FileSkipped(key, ev.SkipKind.UNSAFE, reason))
        for key, reason in plan.blocked:
            self._counts["failed"] += 1
            self._failures.append((key, reason))
            self._sink(ev.FileFailed(key, reason))
        pending = []
        for item in plan.items:
            if item.state is LocalState.COMPLETE:
                self._counts["skipped"] += 1
                self._sink(ev.FileSkipped(item.key, ev.SkipKind.COMPLETE, "complete", item.size))
            else:
                pending.append(item)
        ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        ticker.start()
        try:
            while pending and not self._cancel.is_set():
                self._pass(pending)
                pending = self._await_others()
        finally:
            self._finished.set()
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

    def _pass(self, items: list[PlanItem]) -> None:
        """Fetch ``items`` (the plan's pending ones, then those another process
        was fetching and left unfinished); returns when every one has ended."""
        if self._passes:
            self._workers, self._parts = _Feed(), _Feed()
            self._hashes = HashPool(self._finalize, self._after_units)
            self._hasher = self._small_hasher = SpanHasher(self._span_hashed, lambda job: job.failure is not None)
        self._passes += 1
        for item in items:
            if not self._lane_takes(item):
                self._workers.items.append(item)
            elif 0 < self.settings.chunk_size_for(item.size) < item.size:  # as FileJob splits it
                self._parts.items.append(item)
            else:
                self._small.append(item)
        if not self._parts.items:
            # One lane does the run: hashing on it spares the hand-offs to the
            # hasher's thread (2,000 small files: a quarter less CPU). With parts
            # the lanes' own CPU grew by more than the hasher's (a subject: 6-10%).
            self._small_hasher = SpanHasher(self._span_hashed, lambda job: job.failure is not None, inline=True)
        workers = [threading.Thread(target=self._work, name=f"transfer-{n}", daemon=True)
                   for n in range(max(1, min(self.settings.jobs, 1024)) if self._workers.items else 0)]
        if self._small or self._parts.items:
            # Without ranged parts one lane does it all: a second would only wait.
            lanes = max(1, min(self.settings.lane_count, self.settings.jobs, self.settings.lane_transfers)
                        if self._parts.items else 1)
            self._parts.queues = [collections.deque() for _ in range(lanes)]
            self._lanes_running = lanes
            parts = [_share(self.settings.jobs, lanes, n) for n in range(lanes)]
            relay = LaneRelay(lanes) if lanes > 1 else None
            for n in range(lanes):
                # Small files all go to lane 0 (with the transfers the other lanes'
                # parts leave): on one thread they cost less CPU than on two.
                room = self.settings.lane_transfers - sum(parts[1:]) if n == 0 else parts[n]
                lane = MultiLane(self, room, parts[n], n, relay)
                workers.append(threading.Thread(target=lane.run, name=f"transfer-lane-{n}", daemon=True))
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                worker.join()
            if self._cancel.is_set():
                self._drop_queued()
            if self._small_hasher is not self._hasher:
                self._small_hasher.close()  # the lanes have stopped: this thread may hash what is left
            self._hasher.close()  # the bytes that arrived last (a cancelled run's files dropped out)
            self._hashes.finish(flush=not self._cancel.is_set())  # what waited for company
        finally:
            self._hashes.close()

    def _await_others(self) -> list[PlanItem]:
        """Wait for the files another live process was fetching when this one
        came to them. One it finished counts as skipped; one it left unfinished
        (it failed, was stopped or died) is returned, to be fetched here (from
        its parked or abandoned temp files). Returns as soon as one is."""
        while self._waiting and not self._cancel.is_set():
            again: list[PlanItem] = []
            still: list[tuple[PlanItem, Holder]] = []
            for item, holder in self._waiting:
                now, alive = filelock.holder_of(item.dest)
                if alive and now is not None:
                    still.append((item, now))
                elif self._finished_elsewhere(item):
                    self._finished_by_other(item, holder.describe())
                else:
                    again.append(dataclasses.replace(item, state=LocalState.PARTIAL))  # look for its temp files
            self._waiting = still
            if again:
                return again
            if still:
                self._cancel.wait(OTHERS_POLL)
        return []

    def _finished_by_other(self, item: PlanItem, who: str) -> None:
        with self._lock:
            self._counts["skipped"] += 1
        assert self.progress is not None
        self.progress.settled_elsewhere(item)
        self._sink(ev.FileSkipped(item.key, ev.SkipKind.ELSEWHERE, f"fetched by {who}", item.size))

    @staticmethod
    def _finished_elsewhere(item: PlanItem) -> bool:
        try:
            return tempnames.is_complete(item.dest, item.size, item.etag) and not item.replaces_bad
        except UnsafePathError:
            return False  # fetched again here: the rename replaces the link, never follows it

    def paused_flag(self) -> bool:
        return self.paused

    def _tick(self) -> None:
        refreshed = time.monotonic()
        while not self._finished.wait(self.settings.progress_interval):
            assert self.progress is not None
            if time.monotonic() - refreshed > filelock.REFRESH_EVERY:
                refreshed = time.monotonic()
                filelock.refresh([job.dest for job in tuple(self._active.values()) if job.locked])
            snapshot = self.progress.snapshot_if_changed()
            if snapshot is not None:
                self._sink(snapshot)

    # workers ---------------------------------------------------------------
    def _work(self) -> None:
        while not self._cancel.is_set():
            unit = self._next_unit(self._workers)
            if unit is None:
                return
            if unit is LATER:  # another worker is opening the last file: its parts come next
                self._cancel.wait(LATER_WAIT)
                continue
            job, index = unit
            self._run_unit(job, index)

    def _next_unit(self, feed: _Feed, taker: int = 0) -> tuple[FileJob, int] | str | None:
        """The taker's next part, else the first of the next file, else the last
        part of the taker with the most left (the run's end is shared); LATER
        while another taker opens a file, None when there is nothing left."""
        own = feed.queues[taker]
        while True:
            with self._lock:
                if own:
                    return own.popleft()
                if not feed.items:
                    most = max(feed.queues, key=len)
                    return most.pop() if most else LATER if feed.opening else None
                item = feed.items.popleft()
                feed.opening += 1
            try:
                job = self._start_job(item, self._hasher if feed is self._parts else None)
                if job is None:
                    continue
                todo = job.todo
                if not todo:
                    if job.has_spans:
                        self._hashes.poke()  # every part came from an earlier run: check, then keep
                    else:
                        self._after_units(job)
                    continue
                with self._lock:
                    own.extendleft((job, i) for i in reversed(todo[1:]))
                return job, todo[0]
            finally:
                with self._lock:
                    feed.opening -= 1

    def _start_job(self, item: PlanItem, hasher: SpanHasher | None = None) -> FileJob | None:
        """Lock and open ``item``'s job (None: it failed, or another process
        has it); ``hasher``: the one that hashes its bytes as they arrive."""
        try:
            claim = _claim(item.dest)
        except UnsafePathError as error:
            self._fail(FileJob(item, 0), "unsafe", str(error))
            return None
        except OSError as error:
            self._fail(FileJob(item, 0), "disk", _disk_message(error, item))
            return None
        if claim.busy is not None:
            with self._lock:
                self._waiting.append((item, claim.busy))
            self._sink(ev.Notice(f"waiting for {item.key}: {claim.busy.describe()} is fetching it"))
            return None
        try:
            # Since the plan looked (it found none of this size, unless it is a
            # sha256-checked file of wrong content, which is fetched again).
            finished = (tempnames.is_complete(item.dest, item.size, item.etag) and item.sha256 is None
                        and not item.replaces_bad)
        except UnsafePathError as error:
            filelock.release(item.dest)
            self._fail(FileJob(item, 0), "unsafe", str(error))
            return None
        if finished:
            filelock.release(item.dest)
            self._finished_by_other(item, "another process")
            return None
        job = FileJob(item, self.settings.chunk_size_for(item.size), claim.previous)
        job.locked = True
        try:
            job.todo = job.open()
            if not job.chunk_size and job.resume_from:
                job.hash_existing_prefix()
            if hasher is not None:
                job.stream_to(hasher)
            if job.chunk_size:
                self._hashes.add(job)
        except UnsafePathError as error:
            job.close()
            self._fail(job, "unsafe", str(error))
            return None
        except OSError as error:
            job.close()
            if error.errno == errno.ELOOP:
                self._fail(job, "unsafe", f"refusing {job.part}: it is a symbolic link; remove it and rerun")
            else:
                self._fail(job, "disk", _disk_message(error, item))
            return None
        if job.bad_record:
            self._sink(ev.Notice(f"{item.key}: its resume record was unusable ({job.bad_record}); "
                                 "discarded, the file is fetched from its first byte", "info"))
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

        A job is wrapped up by whoever sees its last unit end and its last span hashed."""
        with job.lock:  # read together: the hash pool may fail the job in between (fail_if_first)
            job.outstanding -= 1
            if failure and job.failure is None:
                job.failure = failure
            last = job.outstanding == 0
            failed = job.failure is not None
        if not failed:
            if job.has_spans and part is not None:
                job.part_ready(part)
                self._hashes.poke()
            if job.claim_wrap_up():
                self._finalize(job)
        elif last:
            self._after_units(job)
            if job.has_spans:
                self._hashes.poke()  # spans that waited for this job's may go on without them

    def _span_hashed(self, job: FileJob, span: Span) -> None:
        """The span hasher's word that ``span`` of ``job`` is hashed (on its thread)."""
        try:
            job.span_hashed(span)
            if job.claim_wrap_up():
                self._finalize(job)
        except Exception as error:  # noqa: BLE001 - this file fails, the hasher goes on
            self.unexpected(job, error)

    def unexpected(self, job: FileJob, error: BaseException) -> None:
        """An error nothing expected, off the units' path: the file fails, the run goes on."""
        failure = unexpected_failure(error)
        if (job.fail_if_first(failure) or job.wrapped) and not job.retired:
            job.failure = job.failure or failure
            self._after_units(job)

    def _drop_queued(self) -> None:
        """After a cancel: the parts nobody started end as cancelled, so their
        files are closed and retired (every ``.part`` and record stays)."""
        with self._lock:
            queues = [*self._workers.queues, *self._parts.queues]
            queued = [unit for queue in queues for unit in queue]
            for queue in queues:
                queue.clear()
        for job, _ in queued:
            self.unit_ended(job, ("cancelled", "cancelled"))

    def _fetch_unit(self, job: FileJob, index: int) -> None:
        if job.chunk_size:
            start, end = job.todo_range(index)
        else:
            start, end = job.resume_from, job.item.size - 1
        cursor = Cursor(start)
        retries = RetryState()
        while cursor.pos <= end:
            self._check_gate()
            try:
                stream_range(self._sources[job.item.source], job, cursor, end, self._check_gate,
                             self.bytes_arrived, self._sink, self.throttle)
            except SourceError as error:
                if error.kind not in ("transient", "expired"):
                    raise
                self._sleep(self.retry_delay(job, error, retries, cursor.pos))
        if job.chunk_size:
            job.chunk_finished(index)

    def retry_delay(self, job: FileJob, error: SourceError, retries: RetryState, pos: int,
                    counted: bool = True) -> float:
        """Seconds to wait before the next attempt, as the run's one
        :class:`RetryPolicy` rules; raises once it gives up. ``counted`` False:
        the failure was a pause's (a connection the server closed meanwhile)."""
        decision = self.retry_policy.decide(retries, error.retry_kind, after=error.after, position=pos,
                                            counted=counted)
        if decision.delay is None:
            raise SourceError("transient", f"{error} ({decision.why})") from None
        self._sink(ev.Notice(f"retrying {job.item.key} from byte {pos} in {decision.delay:.1f} s: {error} "
                             f"(attempt {decision.attempt + 1})"))
        return decision.delay

    # the multi lane's side (see multi_lane.LaneHost) -------------------------
    def _lane_takes(self, item: PlanItem) -> bool:
        """GETs from a source that can describe them as plain requests."""
        return self.settings.lane_transfers > 0 and hasattr(self._sources[item.source], "lane_request")

    def status_failure(self, job: FileJob, answer: Head, url: str) -> SourceError:
        """What an answer's refusal means for ``job``: its source says (a signed
        link's 403 is expiry), else the status (and the answer's ``Retry-After``
        and ``x-amz-bucket-region``)."""
        source = self._sources[job.item.source]
        if not hasattr(source, "status_failure"):
            return classify_status(answer.status, job.item.key, after=answer.retry_after, region=answer.region)
        try:
            error = source.status_failure(job.item, answer.status, url)
        except SourceError as failed:  # the access service could not renew the links
            return failed
        if error.after is None:
            error.after = retry_after(answer.retry_after)
        return error

    def lane_request(self, job: FileJob) -> Request:
        """``job``'s GET as its source describes it now (a signed link may have been renewed)."""
        return self._sources[job.item.source].lane_request(job.item)

    def take_part(self, lane: int = 0) -> tuple[FileJob, int, Request] | str | None:
        """The next ranged part of a chunked file for lane ``lane``; LATER while
        another lane opens a file, None when there is none."""
        if self._cancel.is_set():
            return None
        unit = self._next_unit(self._parts, lane)
        if unit is None or unit is LATER:
            return unit
        job, index = unit
        return job, index, self._sources[job.item.source].lane_request(job.item)

    def take_small(self) -> tuple[FileJob, Request] | None:
        """The next whole-file GET with its ``.part`` open, None when there is none."""
        while not self._cancel.is_set():
            with self._lock:
                if not self._small:
                    return None
                item = self._small.popleft()
            job = self._start_job(item, self._small_hasher)
            if job is not None and job.todo:
                return job, self._sources[item.source].lane_request(item)
            if job is not None:
                self._after_units(job)
        return None

    def hash_landed(self) -> None:
        """Lane 0, between turns: hash the small files its turn brought in (and
        wrap up those complete), on its own thread."""
        self._small_hasher.drain()

    def lane_stopped(self) -> int:
        """A lane has stopped: how many still run (they take what it left)."""
        with self._lock:
            self._lanes_running -= 1
            return self._lanes_running

    def gate_state(self) -> str:
        if self._cancel.is_set():
            return "cancel"
        return "run" if self._running.is_set() else "pause"

    def bytes_arrived(self, nbytes: int) -> None:
        assert self.progress is not None
        self.progress.add(nbytes)

    def throttle(self, nbytes: int) -> None:
        self._bandwidth.consume(nbytes, self._check_gate)

    def hold_back(self, nbytes: int) -> None:
        """The lane's throttle: a pause raises :class:`Paused` instead of blocking its thread."""
        self._bandwidth.consume(nbytes, self._lane_gate)

    def read_limit(self) -> int | None:
        """The lanes' largest read while a bandwidth cap is set (see TokenBucket.grain)."""
        return self._bandwidth.grain

    def _lane_gate(self) -> None:
        if self._cancel.is_set():
            raise Cancelled
        if not self._running.is_set():
            raise Paused

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
            if self.settings.fsync and (job.chunk_size or job.item.size > RESTART_BELOW):
                os.fdatasync(job.fd)  # a node crash must not leave a right-sized file with holes
            tempnames.mark_fetched(job.fd, job.item.etag)
        except OSError as error:
            job.close()
            self._fail(job, "disk", _disk_message(error, job.item))
            return
        except VerificationError as error:
            job.close()
            partfile.discard(job.base)
            self._fail(job, "verify", f"{error}; the partial file was removed, rerun to fetch it again")
            return
        job.close()
        try:
            os.replace(job.part, job.dest)
        except OSError as error:  # the checked bytes stay in the .part
            self._fail(job, "disk", _disk_message(error, job.item))
            return
        try:
            if job.recorded:
                partfile.discard(job.base, part=False, updated=job.record_updated)
            # Always: a run stopped before a small file's first record write
            # parks a bare X.part that no plan adopts (3 unlinks, ~5 us a file).
            tempnames.clear_parked(job.dest)
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
        if job.failure is None:
            self._finalize(job)  # it checks the open file, then closes it
            return
        job.close()
        kind, message = job.failure
        self._retire(job)
        if kind == "cancelled":
            return
        if kind in ("denied", "changed", "missing"):
            try:
                partfile.discard(job.base)
                partfile.discard(job.dest)  # the shared names it was parked under when it retired
            except OSError:
                pass  # the next plan finds the stale .part and asks the bucket again
        if kind == "denied":
            with self._lock:
                self._counts["skipped"] += 1
            self._sink(ev.FileSkipped(job.item.key, ev.SkipKind.REFUSED, message, job.item.size))
            return
        self._fail(job, kind, message)

    def _retire(self, job: FileJob, ok: bool = False) -> None:
        with self._lock:
            if job.retired:
                return
            job.retired = True
            self._active.pop(job.item.key, None)
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

    def _fail(self, job: FileJob, kind: str, message: str) -> None:
        self._retire(job)
        with self._lock:
            self._counts["failed"] += 1
            self._failures.append((job.item.key, message))
        self._sink(ev.FileFailed(job.item.key, message, kind))


OTHERS_POLL = 0.5
"""Seconds between looks at the locks of files other processes are fetching."""


def _claim(dest: Path) -> Claim:
    """``dest``'s lock (see :mod:`.filelock`); its folder is made only when missing."""
    try:
        return filelock.acquire(dest)
    except FileNotFoundError:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return filelock.acquire(dest)


def _disk_message(error: OSError, item: PlanItem) -> str:
    if error.errno == errno.ENOSPC:
        return f"disk full while writing {item.dest.name}"
    return f"cannot write {item.dest}: {error.strerror or error}"


def _share(total: int, parts: int, n: int) -> int:
    """Part ``n`` of ``total`` split as evenly as whole numbers allow (the shares add up to it)."""
    return total // parts + (n < total % parts)
