"""The transfer engine: every GET of a run on the lanes.

Files are taken in plan order. A file above the threshold is split into
ranged parts that go to the front of the queue of the lane that opened it,
so parts in flight help finish a started file before new ones open. A
smaller file is one streamed GET, hashed as it arrives. Both go to the
:class:`~laion_fmri_tui.core.transfer.lane.Lane`s, whatever their
source (the bucket's objects, the access service's signed stimulus URLs),
which keep them all in flight on a thread per core (two at most), each with
the files it opened; their parts are hashed as they arrive by the
:class:`~laion_fmri_tui.core.integrity.span_hasher.SpanHasher`. Every unit
retries transient failures from the byte it had reached. Pausing holds
transfers between reads; cancelling stops them and keeps every ``.part``
for the next run.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.events import FailKind, Failure
from laion_fmri_tui.core.http.retry import AdaptiveLimit, RetryPolicy
from laion_fmri_tui.core.models import LocalState, Plan, PlanItem
from laion_fmri_tui.core.disk import filelock, tempnames
from laion_fmri_tui.core.transfer.filejob import FileJob, part_size_to_resume
from laion_fmri_tui.core.disk.filelock import Claim, Holder, UnsafePathError
from laion_fmri_tui.core.transfer.hash_pool import HashPool
from laion_fmri_tui.core.transfer.lane_relay import LaneRelay
from laion_fmri_tui.core.transfer.gate import RunGate, Supply
from laion_fmri_tui.core.transfer.lane import Lane
from laion_fmri_tui.core.transfer.outcomes import Outcomes, disk_message
from laion_fmri_tui.core.transfer.progress import ProgressTracker
from laion_fmri_tui.core.transfer.retrier import Retrier
from laion_fmri_tui.core.settings import EngineSettings
from laion_fmri_tui.core.transfer.sizing import lane_count, lane_transfers, part_size_for
from laion_fmri_tui.core.transfer.sources import Request, Source, unexpected_failure
from laion_fmri_tui.core.http.answers import SourceError
from laion_fmri_tui.core.integrity.span_hasher import SpanHasher

__all__ = ["TransferEngine"]


@dataclass
class _PartQueues:
    """Files to open, and the parts of opened ones still to start, in plan order.

    One queue of parts per taker: a file's parts stay with the lane that opened
    it while it has others to do, since two threads writing one file wait on
    its inode lock in turn (measured on tmpfs: an eighth of the run spinning)."""

    items: collections.deque[PlanItem] = field(default_factory=collections.deque)
    queues: list[collections.deque[tuple[FileJob, int]]] = field(default_factory=lambda: [collections.deque()])
    part_sizes: dict[str, int] = field(default_factory=dict)
    """Each file's part size, by key, as :meth:`TransferEngine._part_size` routed it."""
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
        self.gate = RunGate(self.settings.max_bandwidth)
        """Running, paused or cancelled, and the bandwidth cap: the controls below flip it, the lanes read it."""
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._parts = _PartQueues()
        """Files fetched as ranged parts, and their parts still to start."""
        self._small: collections.deque[PlanItem] = collections.deque()
        """Whole-file GETs for the lanes, in plan order."""
        self._waiting: list[tuple[PlanItem, Holder]] = []
        """Files another live process is fetching, with its holder (see :meth:`_await_others`)."""
        self._passes = 0
        self._lanes_running = 0
        self._stop_reason: str | None = None
        self._plan: Plan | None = None
        self.outcomes = Outcomes(sink, fsync=self.settings.fsync, cancel=self.cancel)
        """How each file ends (verify, flush, rename, report) and the run's counts."""
        self.outcomes.part_size_of = lambda item: self._sources[item.source].first_part_size(item)
        self.progress: ProgressTracker | None = None
        self.retrier = Retrier(sources, sink, RetryPolicy(self.settings.retry, AdaptiveLimit()))
        """The run's one retry rule and request limit, shared by its lanes."""
        self._hashes = self._hash_pool()
        self.outcomes.poke = lambda: self._hashes.poke()  # this pass's pool
        self._hasher = self._span_hasher()
        self._small_hasher = self._hasher
        """Whole small files' hasher: in a run without ranged parts, an inline one,
        drained on lane 0's thread (see :meth:`hash_landed`)."""

    # control ---------------------------------------------------------------
    def pause(self) -> None:
        self.gate.pause()

    def resume(self) -> None:
        self.gate.resume()

    @property
    def paused(self) -> bool:
        return self.gate.paused

    def cancel(self, reason: str | None = None) -> None:
        self._stop_reason = self._stop_reason or reason
        self.gate.cancel()

    def set_bandwidth(self, bytes_per_second: int | None) -> None:
        """Cap all lanes together at this many bytes per second (None: no cap), now."""
        self.gate.set_bandwidth(bytes_per_second)

    @property
    def bandwidth(self) -> int | None:
        return self.gate.bandwidth

    # run -------------------------------------------------------------------
    def run(self, plan: Plan) -> ev.RunFinished:
        """Fetch every pending item; blocks until done or cancelled."""
        started = time.monotonic()
        outcomes = self.outcomes
        self.progress = outcomes.progress = ProgressTracker(plan, lambda: tuple(outcomes.active.values()),
                                                            self.paused_flag)
        outcomes.data_dir = plan.data_dir
        self.gate.count_with(self.progress.add)
        self._sink(ev.PlanReady(plan))
        for key, reason in plan.refused:
            outcomes.skipped(key, ev.SkipKind.UNSAFE, reason)
        for key, reason in plan.blocked:
            outcomes.blocked(key, Failure(FailKind.UNSAFE, reason))
        pending = []
        for item in plan.items:
            if item.state is LocalState.COMPLETE:
                outcomes.skipped(item.key, ev.SkipKind.COMPLETE, "complete", item.size)
            else:
                pending.append(item)
        ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        ticker.start()
        try:
            while pending and not self.gate.cancelled:
                self._pass(pending)
                pending = self._await_others()
        finally:
            self._finished.set()
        ticker.join()
        self._sink(self.progress.snapshot())
        if self._stop_reason:
            self._sink(ev.Notice(self._stop_reason, "error"))
        counts = outcomes.counts
        finished = ev.RunFinished(
            done=counts["done"], skipped=counts["skipped"],
            failed=counts["failed"], bytes_fetched=self.progress.fetched,
            elapsed=time.monotonic() - started, cancelled=self.gate.cancelled,
            failures=tuple(outcomes.failures),
        )
        self._sink(finished)
        return finished

    def _pass(self, items: list[PlanItem]) -> None:
        """Fetch ``items`` (the plan's pending ones, then those another process
        was fetching and left unfinished); returns when every one has ended."""
        if self._passes:
            self._parts = _PartQueues()
            self._hashes = self._hash_pool()
            self._hasher = self._small_hasher = self._span_hasher()
        self._passes += 1
        for item in items:
            part_size = self._part_size(item)
            if 0 < part_size < item.size:  # as FileJob splits it
                self._parts.items.append(item)
                self._parts.part_sizes[item.key] = part_size
            else:
                self._small.append(item)
        if not self._parts.items:
            # One lane does the run: hashing on it spares the hand-offs to the
            # hasher's thread (2,000 small files: a quarter less CPU). With parts
            # the lanes' own CPU grew by more than the hasher's (a subject: 6-10%).
            self._small_hasher = self._span_hasher(inline=True)
        threads: list[threading.Thread] = []
        if self._small or self._parts.items:
            # Without ranged parts one lane does it all: a second would only wait.
            lanes = max(1, min(lane_count(self.settings), self.settings.jobs, lane_transfers(self.settings))
                        if self._parts.items else 1)
            self._parts.queues = [collections.deque() for _ in range(lanes)]
            self._lanes_running = lanes
            parts = [_share(self.settings.jobs, lanes, n) for n in range(lanes)]
            relay = LaneRelay(lanes) if lanes > 1 else None
            for n in range(lanes):
                # Small files all go to lane 0 (with the transfers the other lanes'
                # parts leave): on one thread they cost less CPU than on two.
                room = lane_transfers(self.settings) - sum(parts[1:]) if n == 0 else parts[n]
                lane = Lane(self, self.gate, self.retrier, self.outcomes, room, parts[n], n, relay)
                threads.append(threading.Thread(target=lane.run, name=f"transfer-lane-{n}", daemon=True))
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
            if self.gate.cancelled:
                self._drop_queued()
            if self._small_hasher is not self._hasher:
                self._small_hasher.close()  # the lanes have stopped: this thread may hash what is left
            self._hasher.close()  # the bytes that arrived last (a cancelled run's files dropped out)
            self._hashes.finish(flush=not self.gate.cancelled)  # what waited for company
        finally:
            self._hashes.close()

    def _await_others(self) -> list[PlanItem]:
        """Wait for the files another live process was fetching when this one
        came to them. One it finished counts as skipped; one it left unfinished
        (it failed, was stopped or died) is returned, to be fetched here (from
        its parked or abandoned temp files). Returns as soon as one is."""
        while self._waiting and not self.gate.cancelled:
            again: list[PlanItem] = []
            still: list[tuple[PlanItem, Holder]] = []
            for item, holder in self._waiting:
                now, alive = filelock.holder_of(item.dest)
                if alive and now is not None:
                    still.append((item, now))
                elif self._finished_elsewhere(item):
                    self.outcomes.settled_elsewhere(item, holder.describe())
                else:
                    again.append(dataclasses.replace(item, state=LocalState.PARTIAL))  # look for its temp files
            self._waiting = still
            if again:
                return again
            if still:
                self.gate.wait_cancelled(OTHERS_POLL)
        return []

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
                filelock.refresh([job.dest for job in tuple(self.outcomes.active.values()) if job.locked])
            snapshot = self.progress.snapshot_if_changed()
            if snapshot is not None:
                self._sink(snapshot)

    def _hash_pool(self) -> HashPool:
        return HashPool(self.outcomes.span_hashed, self.outcomes.fail_outside)

    def _span_hasher(self, inline: bool = False) -> SpanHasher:
        return SpanHasher(self.outcomes.span_hashed, lambda job: job.failure is not None, inline=inline)

    # scheduling --------------------------------------------------------------
    def _next_unit(self, queues: _PartQueues, taker: int = 0) -> tuple[FileJob, int] | Supply:
        """The taker's next part, else the first of the next file, else the last
        part of the taker with the most left (the run's end is shared); else
        why there is none (another taker is opening a file, or none is left)."""
        own = queues.queues[taker]
        while True:
            with self._lock:
                if own:
                    return own.popleft()
                if not queues.items:
                    most = max(queues.queues, key=len)
                    return most.pop() if most else Supply.OPENING if queues.opening else Supply.EXHAUSTED
                item = queues.items.popleft()
                queues.opening += 1
            try:
                job = self._start_job(item, self._hasher, queues.part_sizes[item.key])
                if job is None:
                    continue
                todo = job.todo
                if not todo:
                    if job.has_spans:
                        self._hashes.poke()  # every part came from an earlier run: check, then keep
                    else:
                        self.outcomes.units_over(job)
                    continue
                with self._lock:
                    own.extendleft((job, i) for i in reversed(todo[1:]))
                return job, todo[0]
            finally:
                with self._lock:
                    queues.opening -= 1

    def _start_job(self, item: PlanItem, hasher: SpanHasher | None = None, part_size: int = 0) -> FileJob | None:
        """Lock and open ``item``'s job (None: it failed, or another process
        has it); ``hasher``: the one that hashes its bytes as they arrive;
        ``part_size``: as :meth:`_part_size` routed it (0: one whole GET)."""
        try:
            claim = _claim(item.dest)
        except UnsafePathError as error:
            self.outcomes.failed(FileJob(item, 0), Failure(FailKind.UNSAFE, str(error)))
            return None
        except OSError as error:
            self.outcomes.failed(FileJob(item, 0), Failure(FailKind.DISK, disk_message(error, item)))
            return None
        if claim.busy is not None:
            with self._lock:
                self._waiting.append((item, claim.busy))
            self._sink(ev.Notice(f"waiting for {item.key}: {claim.busy.describe()} is fetching it; "
                                 f"{claim.busy.remedy(item.dest)}"))
            return None
        try:
            # Since the plan looked (it found none of this size, unless it is a
            # sha256-checked file of wrong content, which is fetched again).
            finished = (tempnames.is_complete(item.dest, item.size, item.etag) and item.sha256 is None
                        and not item.replaces_bad)
        except UnsafePathError as error:
            filelock.release(item.dest)
            self.outcomes.failed(FileJob(item, 0), Failure(FailKind.UNSAFE, str(error)))
            return None
        if finished:
            filelock.release(item.dest)
            self.outcomes.settled_elsewhere(item, "another process")
            return None
        job = FileJob(item, part_size, claim.previous)
        job.locked = True
        try:
            job.todo = job.open(self.outcomes.part_size_of)
            if not job.part_size and job.resume_from and job.verdict is None:
                job.hash_existing_prefix()
            if hasher is not None:
                job.stream_to(hasher)
            if job.part_size:
                self._hashes.add(job)
        except UnsafePathError as error:
            job.close()
            self.outcomes.failed(job, Failure(FailKind.UNSAFE, str(error)))
            return None
        except OSError as error:
            job.close()
            if error.errno == errno.ELOOP:  # the name the open refused, which may be a record's
                self.outcomes.failed(job, Failure(FailKind.UNSAFE, f"refusing {error.filename or job.part_file}: "
                                                  "it is a symbolic link; remove it and rerun"))
            else:
                self.outcomes.failed(job, Failure(FailKind.DISK, disk_message(error, item)))
            return None
        except Exception as error:  # noqa: BLE001 - a bug of ours fails this file; the lane and the run go on
            job.close()
            self.outcomes.failed(job, unexpected_failure(error))
            return None
        if job.dropped:
            self._sink(ev.Notice(f"{item.key}: kept bytes discarded: {job.dropped}; "
                                 "the file is fetched from its first byte", "info"))
        self.outcomes.opened(job)
        return job

    def _part_size(self, item: PlanItem) -> int:
        """The run's part size for ``item``, or that of the parts an earlier run kept."""
        return part_size_to_resume(item, part_size_for(self.settings, item.size))

    def _drop_queued(self) -> None:
        """After a cancel: the parts nobody started end as cancelled, so their
        files are closed and retired (every ``.part`` and record stays)."""
        with self._lock:
            queues = self._parts.queues
            queued = [unit for queue in queues for unit in queue]
            for queue in queues:
                queue.clear()
        for job, _ in queued:
            self.outcomes.unit_ended(job, ev.CANCELLED)

    # the lanes' work supply (see lane.WorkSupply) ------------------------------
    def take_part(self, lane: int = 0) -> tuple[FileJob, int, Request] | Supply:
        """The next ranged part of a file fetched in parts, for lane ``lane``, else why there is none."""
        while not self.gate.cancelled:
            unit = self._next_unit(self._parts, lane)
            if isinstance(unit, Supply):
                return unit
            job, index = unit
            request_ = self._request(job, index)
            if request_ is not None:
                return job, index, request_
        return Supply.EXHAUSTED

    def take_small(self) -> tuple[FileJob, Request] | None:
        """The next whole-file GET with its ``.part`` open, None when there is none."""
        while not self.gate.cancelled:
            with self._lock:
                if not self._small:
                    return None
                item = self._small.popleft()
            job = self._start_job(item, self._small_hasher, 0)
            if job is None:
                continue
            request_ = self._request(job, None)
            if request_ is not None:
                return job, request_
        return None

    def _request(self, job: FileJob, part: int | None) -> Request | None:
        """``job``'s GET as its source describes it; None when the source cannot
        (a signed link the access service did not grant): that unit has then
        ended as failed, and the lane takes the next."""
        try:
            return self.retrier.request(job)
        except Exception as error:  # noqa: BLE001 - a source's refusal or bug fails its file, not the lane
            failure = error.failure if isinstance(error, SourceError) else unexpected_failure(error)
            self.outcomes.unit_ended(job, failure, part)
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


OTHERS_POLL = 0.5
"""Seconds between looks at the locks of files other processes are fetching."""


def _claim(dest: Path) -> Claim:
    """``dest``'s lock (see :mod:`.filelock`); its folder is made only when missing."""
    try:
        return filelock.acquire(dest)
    except FileNotFoundError:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return filelock.acquire(dest)


def _share(total: int, parts: int, n: int) -> int:
    """Part ``n`` of ``total`` split as evenly as whole numbers allow (the shares add up to it)."""
    return total // parts + (n < total % parts)
