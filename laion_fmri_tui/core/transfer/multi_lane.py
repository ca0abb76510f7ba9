"""Every S3 GET of a run on one thread: libcurl's multi interface.

A dataset is mostly small files (JSON sidecars, TSVs, ROI masks) where each
GET is a round trip and almost no bytes. Measured in ``bench/``, a thread per
request (urllib3, http.client's header parsing, a GIL hand-off per wake-up)
spent about 0.75 ms of CPU a file and capped a run at 32 files in flight;
libcurl's multi interface keeps hundreds in flight from one thread for about
a third of the CPU. The ranged parts of large files run here too: with a
thread per part, the GIL's hand-offs (some 50,000 futex calls a second at 64
parts) cost more CPU than the bytes, and 64 writers queued on one file's
inode lock. Here libcurl receives without the GIL and gathers each
transfer's bytes (see :mod:`.lane_transfer`); one thread writes them and
checks whole files (:mod:`.part_writer`), and the span hasher hashes the
parts' bytes on the other core.

The lane drives the same :class:`~laion_fmri_tui.core.transfer.filejob.FileJob`
as a worker would: bytes go to the ``.part`` at the cursor; a failure goes
back to the engine's retry rules and resumes from the byte reached; every
outcome is queued behind the transfer's writes; pausing holds transfers,
cancelling drops them.
"""

from __future__ import annotations

import heapq
import itertools
import resource
import time
from typing import Protocol

import pycurl

from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.transfer.lane_transfer import GATHER, LaneTransfer, Request
from laion_fmri_tui.core.transfer.part_writer import PartWriter
from laion_fmri_tui.core.transfer.sources import SourceError, classify_status
from laion_fmri_tui.core.transfer.streaming import Cancelled

__all__ = ["LaneHost", "MultiLane", "Request", "room_for"]

BUFFER = 64 * 1024
"""libcurl's receive buffer. Larger ones made one ``perform`` take up to half a
second with 64 parts in flight, and no finished transfer was replaced meanwhile."""
_TICK = 0.1
_REASONS = {
    pycurl.E_COULDNT_CONNECT: "connection failed",
    pycurl.E_COULDNT_RESOLVE_HOST: "host not found",
    pycurl.E_OPERATION_TIMEDOUT: "timed out",
    pycurl.E_RECV_ERROR: "connection dropped",
    pycurl.E_SEND_ERROR: "connection dropped",
    pycurl.E_GOT_NOTHING: "connection closed with no answer",
    pycurl.E_PARTIAL_FILE: "connection closed early",
    pycurl.E_SSL_CONNECT_ERROR: "TLS handshake failed",
}


def room_for(transfers: int) -> int:
    """How many transfers fit the open-file limit (a socket and a ``.part`` each).

    Raises the soft limit towards the hard one first, as s5cmd does; a login
    node's default of 1,024 would otherwise be most of the way there."""
    want = 4 * transfers + 256  # the workers' sockets and files, the lists, the app
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return max(1, transfers)
    return max(1, min(transfers, (soft - 256) // 4))


class LaneHost(Protocol):
    """The engine's side: jobs, gates, retry rules and outcomes."""

    def take_small(self) -> tuple[FileJob, Request] | None: ...
    def take_part(self) -> tuple[FileJob, int, Request] | None: ...
    def gate_state(self) -> str: ...
    def bytes_arrived(self, nbytes: int) -> None: ...
    def throttle(self, nbytes: int) -> None: ...
    def retry_delay(self, job: FileJob, error: SourceError, attempt: int, pos: int) -> float: ...
    def failure_of(self, error: BaseException, job: FileJob) -> tuple[str, str]: ...
    def unit_ended(self, job: FileJob, failure: tuple[str, str] | None, part: int | None = None) -> None: ...
    def unexpected(self, job: FileJob, error: BaseException) -> None: ...


class MultiLane:
    """Runs the host's GETs until it has none left; one thread.

    At most ``max_parts`` ranged parts are in flight (they are the bytes), and
    ``max_transfers`` GETs in all (small files are round trips)."""

    def __init__(self, host: LaneHost, max_transfers: int, max_parts: int) -> None:
        self._host = host
        self._max = room_for(max_transfers)
        self._max_parts = max(1, min(max_parts, self._max))
        self._parts = 0
        """Parts started and not ended for good (retries included)."""
        self._parts_drained = False
        self._drained = False
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_MAXCONNECTS, self._max)
        self._idle: list[pycurl.Curl] = []
        self._active: dict[pycurl.Curl, LaneTransfer] = {}
        self._waiting: list[tuple[float, int, LaneTransfer]] = []
        self._order = itertools.count()
        self._writer = PartWriter(host.unexpected)

    def run(self) -> None:
        try:
            while True:
                state = self._host.gate_state()
                if state == "cancel":
                    self._drop_all()
                    return
                if state == "run":
                    self._unpause()
                    self._admit()
                else:
                    self._pause()
                if not self._active and not self._waiting and self._drained and self._parts_drained:
                    return
                self._pump()
        finally:
            self._writer.close()
            for handle in [*self._active, *self._idle]:
                handle.close()
            self._multi.close()

    # scheduling ------------------------------------------------------------
    def _admit(self) -> None:
        now = time.monotonic()
        while self._waiting and self._waiting[0][0] <= now and len(self._active) < self._max:
            transfer = heapq.heappop(self._waiting)[2]
            if transfer.job.failure is None:
                self._start(transfer)
            else:
                self._give_up(transfer)
        while not self._parts_drained and self._parts < self._max_parts and len(self._active) < self._max:
            part = self._host.take_part()
            if part is None:
                self._parts_drained = True
                break
            job, index, request = part
            if job.failure is not None:  # another part failed the file: this one is not wanted
                self._host.unit_ended(job, None, index)  # nothing of it was written
                continue
            self._parts += 1
            start, end = job.chunk_range(index)
            self._start(LaneTransfer(job, request, start, end, index))
        for_parts = 0 if self._parts_drained else self._max_parts - self._parts  # room kept for parts to come
        while not self._drained and len(self._active) < self._max - for_parts:
            taken = self._host.take_small()
            if taken is None:
                self._drained = True
                return
            job, request = taken
            self._start(LaneTransfer(job, request, job.resume_from, job.item.size - 1))

    def _start(self, transfer: LaneTransfer) -> None:
        handle = self._idle.pop() if self._idle else self._new_handle()
        request = transfer.request
        transfer.begin()
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.HTTPHEADER, list(request.headers))
        handle.setopt(pycurl.CAINFO, request.ca_file)
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, int(request.connect_timeout * 1000))
        handle.setopt(pycurl.LOW_SPEED_TIME, max(1, int(request.read_timeout)))
        if transfer.part is not None:
            handle.setopt(pycurl.RANGE, f"{transfer.pos}-{transfer.end}")
        else:
            handle.setopt(pycurl.RANGE, f"{transfer.pos}-" if transfer.pos else None)
        handle.setopt(pycurl.WRITEFUNCTION, transfer.chunks.append)
        handle.setopt(pycurl.HEADERFUNCTION, transfer.header)
        self._active[handle] = transfer
        self._multi.add_handle(handle)

    def _new_handle(self) -> pycurl.Curl:
        handle = pycurl.Curl()
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.BUFFERSIZE, BUFFER)
        handle.setopt(pycurl.PROXY, "")  # like the listings: the bucket, never an environment's proxy
        handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        handle.setopt(pycurl.LOW_SPEED_LIMIT, 1)
        return handle

    def _pump(self) -> None:
        while self._multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        self._collect()
        while True:
            queued, ok, failed = self._multi.info_read()
            for handle in ok:
                self._ended(handle, None)
            for handle, code, message in failed:
                self._ended(handle, (code, message))
            if not queued:
                break
        if self._active:
            self._multi.select(_TICK)
        elif self._waiting:
            time.sleep(max(0.0, min(_TICK, self._waiting[0][0] - time.monotonic())))
        else:
            time.sleep(_TICK)  # paused before anything started

    # bytes (gathered by libcurl, queued for writing after each perform) -----
    def _collect(self) -> None:
        """Queue the writes of the transfers that have gathered enough; end those
        whose file failed or whose writes did (a full disk cancels the run then)."""
        for handle, transfer in list(self._active.items()):
            if transfer.job.failure is not None:
                self._give_up(self._release(handle))
                continue
            if transfer.writes.error is not None:
                transfer.error = transfer.error or transfer.writes.error
                self._ended(handle, None)
                continue
            if len(transfer.chunks) >= GATHER:
                try:
                    self._write(transfer)
                except SourceError as error:  # answered from the wrong byte
                    transfer.error = error
                except Cancelled:
                    return  # the run is stopping: the gate says so on the next turn
                if transfer.error is not None or transfer.overran:
                    self._ended(handle, None)  # nothing more of this answer is wanted

    def _write(self, transfer: LaneTransfer) -> None:
        """Queue what a transfer has gathered for its ``.part``, and count it."""
        if transfer.resumed_at >= 0:
            transfer.resumed_at = -1 if len(transfer.chunks) > transfer.resumed_at else 0
        view = transfer.take()
        if view:
            self._writer.write(transfer.job, view, transfer.pos, transfer.writes)
            transfer.pos += len(view)
            self._host.bytes_arrived(len(view))
            self._host.throttle(len(view))

    def _pause(self) -> None:
        for handle, transfer in self._active.items():
            if not transfer.paused:
                transfer.paused = True
                handle.pause(pycurl.PAUSE_RECV)

    def _unpause(self) -> None:
        for handle, transfer in self._active.items():
            if transfer.paused:
                transfer.paused, transfer.resumed_at = False, len(transfer.chunks)
                handle.pause(pycurl.PAUSE_CONT)

    # outcomes ----------------------------------------------------------------
    def _release(self, handle: pycurl.Curl) -> LaneTransfer:
        """Take a transfer's handle out of the multi, for reuse; return its transfer."""
        transfer = self._active.pop(handle)
        self._multi.remove_handle(handle)
        self._idle.append(handle)
        return transfer

    def _ended(self, handle: pycurl.Curl, curl_error: tuple[int, str] | None) -> None:
        transfer = self._release(handle)
        status = handle.getinfo(pycurl.RESPONSE_CODE) or transfer.status
        try:
            self._write(transfer)  # every byte it received, before its outcome
        except SourceError as error:
            transfer.error = transfer.error or error
        except Cancelled:
            pass  # the run is stopping: the gate says so on the next turn
        wanted = transfer.end + 1
        if transfer.error is not None:
            error = transfer.error
        elif transfer.pos == wanted and status in (200, 206):
            self._succeeded(transfer)  # even when we stopped a range-ignoring answer ourselves
            return
        elif curl_error is not None:
            error = SourceError("transient", f"network error: {_REASONS.get(curl_error[0], 'transfer failed')}")
        elif status not in (200, 206):
            error = classify_status(status, transfer.job.item.key)
        else:
            error = SourceError("transient", f"connection closed at byte {transfer.pos} of {wanted}")
        self._failed(transfer, error)

    def _succeeded(self, transfer: LaneTransfer) -> None:
        if transfer.part is not None:
            self._parts -= 1
        self._writer.then(transfer.job, lambda: self._written(transfer))

    def _written(self, transfer: LaneTransfer) -> None:
        """Every byte of a finished transfer is written (on the writer's thread):
        record a part, or fail the file if a write did not go through."""
        job, part = transfer.job, transfer.part
        error = transfer.writes.error
        if error is None and part is not None and not transfer.writes.skipped and job.failure is None:
            try:
                job.chunk_finished(part)
            except OSError as failed:
                error = failed
        self._host.unit_ended(job, self._host.failure_of(error, job) if error else None, part)

    def _end_after_writes(self, transfer: LaneTransfer, failure: tuple[str, str]) -> None:
        """A unit's failure, queued behind its writes: its file is never closed under them."""
        self._writer.then(transfer.job, lambda: self._host.unit_ended(transfer.job, failure, transfer.part))

    def _give_up(self, transfer: LaneTransfer) -> None:
        """A transfer whose file has failed meanwhile: it ends without an outcome of its own."""
        if transfer.part is not None:
            self._parts -= 1
        self._end_after_writes(transfer, transfer.job.failure or ("error", "the file failed"))

    def _failed(self, transfer: LaneTransfer, error: BaseException) -> None:
        if isinstance(error, SourceError) and error.kind in ("transient", "expired"):
            if not transfer.paused and transfer.resumed_at < 0:  # a pause's broken connection is no attempt
                transfer.attempt += 1
            transfer.paused, transfer.resumed_at = False, -1
            try:
                delay = self._host.retry_delay(transfer.job, error, transfer.attempt, transfer.pos)
            except SourceError as final:
                error = final
            else:
                heapq.heappush(self._waiting, (time.monotonic() + delay, next(self._order), transfer))
                return
        try:
            failure = self._host.failure_of(error, transfer.job)
        except BaseException as unexpected:  # noqa: BLE001 - one file fails, the lane goes on
            failure = ("error", f"unexpected error: {type(unexpected).__name__}: {unexpected}")
        if transfer.part is not None:
            self._parts -= 1
        self._end_after_writes(transfer, failure)

    def _drop_all(self) -> None:
        cancelled = ("cancelled", "cancelled")
        for handle in list(self._active):
            self._end_after_writes(self._release(handle), cancelled)
        for _, _, transfer in self._waiting:
            self._end_after_writes(transfer, cancelled)
        self._waiting.clear()
