"""Every S3 GET of a run on one thread: libcurl's multi interface.

A dataset is mostly small files (JSON sidecars, TSVs, ROI masks) where each
GET is a round trip and almost no bytes. Measured in ``bench/``, a thread per
request (urllib3, http.client's header parsing, a GIL hand-off per wake-up)
spent about 0.75 ms of CPU a file and capped a run at 32 files in flight;
libcurl's multi interface keeps hundreds in flight from one thread for about
a third of the CPU. The ranged parts of large files run here too: with a
thread per part, the GIL's hand-offs (some 50,000 futex calls a second at 64
parts) cost more CPU than the bytes, and 64 writers queued on one file's
inode lock. Here libcurl receives into its buffers without the GIL, one
thread writes, and the span hasher hashes the same bytes on the other core.

The lane drives the same :class:`~laion_fmri_tui.core.transfer.filejob.FileJob`
as a worker would: bytes go to the ``.part`` at the cursor and through the
verifier as they arrive; a failure goes back to the engine's retry rules and
resumes from the byte reached; pausing holds transfers, cancelling drops them.
"""

from __future__ import annotations

import heapq
import itertools
import resource
import time
from dataclasses import dataclass
from typing import Protocol

import pycurl

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.transfer.sources import SourceError, classify_status, content_range_start
from laion_fmri_tui.core.transfer.staging import Staging
from laion_fmri_tui.core.transfer.streaming import Cancelled, restart_if_range_ignored

REPORT = 512 * 1024
"""A part's bytes are counted (progress, bandwidth cap) this many at a time."""
BUFFER = 256 * 1024
"""libcurl's receive buffer for a whole small file."""
PART_BUFFER = 512 * 1024
"""... and for a ranged part: fewer, larger writes and hashing steps."""
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


@dataclass(frozen=True)
class Request:
    """What the lane needs to GET one object: no credentials, no signatures."""

    url: str
    headers: tuple[str, ...]
    ca_file: str
    connect_timeout: float
    read_timeout: float


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
    def notice(self, event: ev.Notice) -> None: ...


@dataclass(eq=False)
class _Transfer:
    job: FileJob
    request: Request
    pos: int
    end: int
    """The last byte (inclusive) this transfer needs."""
    part: int | None = None
    """The part's index for a ranged part of a chunked file."""
    skip: int = 0
    """Bytes to drop first: a server that ignored a part's range answers from byte 0."""
    staging: Staging | None = None
    """A part's received bytes not written yet."""
    unreported: int = 0
    """A part's bytes received and not yet counted (progress, bandwidth cap)."""
    attempt: int = 0
    status: int = 0
    first: int | None = None
    """Object offset of the answer's first byte (Content-Range), None if whole."""
    checked: bool = False
    error: BaseException | None = None
    paused: bool = False


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
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_MAXCONNECTS, self._max)
        self._idle: list[pycurl.Curl] = []
        self._active: dict[pycurl.Curl, _Transfer] = {}
        self._waiting: list[tuple[float, int, _Transfer]] = []
        self._order = itertools.count()
        self._drained = False
        self._open_gate = True
        """Neither paused nor cancelled when this loop last looked (parts' writes read it)."""

    def run(self) -> None:
        try:
            while True:
                state = self._host.gate_state()
                self._open_gate = state == "run"
                if state == "cancel":
                    self._drop_all()
                    return
                if state == "run":
                    self._unpause()
                    self._admit()
                if not self._active and not self._waiting and self._drained and self._parts_drained:
                    return
                self._pump()
        finally:
            for handle in [*self._active, *self._idle]:
                handle.close()
            self._multi.close()

    # scheduling ------------------------------------------------------------
    def _admit(self) -> None:
        now = time.monotonic()
        while self._waiting and self._waiting[0][0] <= now and len(self._active) < self._max:
            self._start(heapq.heappop(self._waiting)[2])
        while not self._parts_drained and self._parts < self._max_parts and len(self._active) < self._max:
            part = self._host.take_part()
            if part is None:
                self._parts_drained = True
                break
            job, index, request = part
            start, end = job.chunk_range(index)
            self._parts += 1
            self._start(_Transfer(job, request, start, end, index, staging=Staging()))
        for_parts = 0 if self._parts_drained else self._max_parts - self._parts  # room kept for parts to come
        while not self._drained and len(self._active) < self._max - for_parts:
            taken = self._host.take_small()
            if taken is None:
                self._drained = True
                return
            job, request = taken
            self._start(_Transfer(job, request, job.resume_from, job.item.size - 1))

    def _start(self, transfer: _Transfer) -> None:
        handle = self._idle.pop() if self._idle else self._new_handle()
        request = transfer.request
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.HTTPHEADER, list(request.headers))
        handle.setopt(pycurl.CAINFO, request.ca_file)
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, int(request.connect_timeout * 1000))
        handle.setopt(pycurl.LOW_SPEED_TIME, max(1, int(request.read_timeout)))
        if transfer.part is not None:
            handle.setopt(pycurl.RANGE, f"{transfer.pos}-{transfer.end}")
            handle.setopt(pycurl.BUFFERSIZE, PART_BUFFER)
        else:
            handle.setopt(pycurl.RANGE, f"{transfer.pos}-" if transfer.pos else None)
            handle.setopt(pycurl.BUFFERSIZE, BUFFER)
        if transfer.part is not None:
            handle.setopt(pycurl.WRITEFUNCTION, self._part_writer(transfer))
        else:
            handle.setopt(pycurl.WRITEFUNCTION, lambda data: self._write(transfer, data))
        handle.setopt(pycurl.HEADERFUNCTION, lambda line: self._header(transfer, line))
        transfer.status, transfer.first, transfer.checked, transfer.error, transfer.skip = 0, None, False, None, 0
        self._active[handle] = transfer
        self._multi.add_handle(handle)

    def _new_handle(self) -> pycurl.Curl:
        handle = pycurl.Curl()
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.PROXY, "")  # like the listings: the bucket, never an environment's proxy
        handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        handle.setopt(pycurl.LOW_SPEED_LIMIT, 1)
        return handle

    def _pump(self) -> None:
        while self._multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
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

    # callbacks (libcurl calls them from perform, on this thread) ---------------
    def _header(self, transfer: _Transfer, line: bytes) -> None:
        if line.startswith(b"HTTP/"):
            parts = line.split(None, 2)
            transfer.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            transfer.first = None
        elif line[:14].lower() == b"content-range:":
            transfer.first = content_range_start(line[14:].strip().decode("latin-1"))

    def _write(self, transfer: _Transfer, data: bytes) -> int | None:
        if transfer.status not in (200, 206):
            return None  # an error body: classified by its status when it ends
        try:
            if not transfer.checked:
                self._check_start(transfer)
            if self._host.gate_state() != "run":
                transfer.paused = True
                return pycurl.WRITEFUNC_PAUSE  # libcurl hands the same bytes again on resume
            if transfer.skip:
                dropped = min(transfer.skip, len(data))
                transfer.skip -= dropped
                data = data[dropped:]
            extra = transfer.pos + len(data) - (transfer.end + 1)
            if extra > 0:
                data = data[:len(data) - extra]
            if data and transfer.staging is not None:
                transfer.staging.add(transfer.job, data, transfer.pos)
                transfer.pos += len(data)
                transfer.unreported += len(data)
                if transfer.unreported >= REPORT:
                    self._report(transfer)
            elif data:
                transfer.job.store(data, transfer.pos)
                transfer.pos += len(data)
                self._host.bytes_arrived(len(data))
                self._host.throttle(len(data))
        except BaseException as error:  # noqa: BLE001 - libcurl must not see an exception
            transfer.error = error
            return 0  # aborts this transfer with a write error; _ended reports ours
        return 0 if extra > 0 else None  # past the range (it was ignored): every byte asked for is in

    def _part_writer(self, transfer: _Transfer):
        """The write callback of a ranged part: libcurl calls it every 16 KiB,
        so the usual case (a running part's next bytes) is kept to a few steps."""
        staging = transfer.staging
        assert staging is not None
        job, end, general = transfer.job, transfer.end + 1, self._write

        def write(data: bytes) -> int | None:
            pos = transfer.pos
            if (not transfer.checked or transfer.skip or not self._open_gate or pos + len(data) > end
                    or transfer.status not in (200, 206)):
                return general(transfer, data)
            try:
                staging.add(job, data, pos)
                transfer.pos = pos + len(data)
                transfer.unreported += len(data)
                if transfer.unreported >= REPORT:
                    self._report(transfer)
            except BaseException as error:  # noqa: BLE001 - libcurl must not see an exception
                transfer.error = error
                return 0
            return None
        return write

    def _report(self, transfer: _Transfer) -> None:
        nbytes, transfer.unreported = transfer.unreported, 0
        self._host.bytes_arrived(nbytes)
        self._host.throttle(nbytes)

    def _check_start(self, transfer: _Transfer) -> None:
        transfer.checked = True
        start = transfer.first if transfer.first is not None else 0
        if start == transfer.pos:
            return
        if transfer.part is None:
            transfer.pos = restart_if_range_ignored(transfer.job, start, transfer.pos, self._host.notice)
        elif start == 0:
            transfer.skip = transfer.pos
        else:
            raise SourceError("transient", f"server answered from byte {start}, asked {transfer.pos}")

    # outcomes ----------------------------------------------------------------
    def _ended(self, handle: pycurl.Curl, curl_error: tuple[int, str] | None) -> None:
        transfer = self._active.pop(handle)
        self._multi.remove_handle(handle)
        status = handle.getinfo(pycurl.RESPONSE_CODE) or transfer.status
        self._idle.append(handle)
        self._write_staged(transfer)
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

    def _write_staged(self, transfer: _Transfer) -> None:
        """Before a transfer's outcome counts, every byte it received is in the ``.part``."""
        if transfer.staging is None:
            return
        if transfer.unreported:
            try:
                self._report(transfer)
            except Cancelled:
                pass  # the run is stopping: the gate says so on the next turn
        try:
            transfer.staging.flush(transfer.job)
        except OSError as error:
            transfer.error = transfer.error or error

    def _succeeded(self, transfer: _Transfer) -> None:
        if transfer.part is not None:
            self._parts -= 1
            try:
                transfer.job.chunk_finished(transfer.part)
            except OSError as error:
                self._host.unit_ended(transfer.job, self._host.failure_of(error, transfer.job), transfer.part)
                return
        self._host.unit_ended(transfer.job, None, transfer.part)

    def _failed(self, transfer: _Transfer, error: BaseException) -> None:
        if isinstance(error, SourceError) and error.kind in ("transient", "expired"):
            if not transfer.paused:
                transfer.attempt += 1
            transfer.paused = False
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
        self._host.unit_ended(transfer.job, failure, transfer.part)

    def _unpause(self) -> None:
        for handle, transfer in self._active.items():
            if transfer.paused:
                transfer.paused = False
                handle.pause(pycurl.PAUSE_CONT)

    def _drop_all(self) -> None:
        cancelled = ("cancelled", "cancelled")
        for handle, transfer in list(self._active.items()):
            self._multi.remove_handle(handle)
            self._idle.append(handle)
            self._host.unit_ended(transfer.job, cancelled)
        self._active.clear()
        for _, _, transfer in self._waiting:
            self._host.unit_ended(transfer.job, cancelled)
        self._waiting.clear()
