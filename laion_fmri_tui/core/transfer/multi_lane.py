"""Whole small files, a hundred at a time, on one thread: libcurl's multi interface.

A dataset is mostly small files (JSON sidecars, TSVs, ROI masks) where each
GET is a round trip and almost no bytes. Measured in ``bench/``, a thread per
request (urllib3, http.client's header parsing, a GIL hand-off per wake-up)
spent about 0.75 ms of CPU a file and capped a run at 32 files in flight;
libcurl's multi interface keeps hundreds in flight from one thread for about
a third of the CPU. Ranged parts of large files stay with the worker threads, where
the bytes (not the requests) are the cost.

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
from laion_fmri_tui.core.transfer.streaming import restart_if_range_ignored

BUFFER = 256 * 1024
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
    def gate_state(self) -> str: ...
    def bytes_arrived(self, nbytes: int) -> None: ...
    def throttle(self, nbytes: int) -> None: ...
    def retry_delay(self, job: FileJob, error: SourceError, attempt: int, pos: int) -> float: ...
    def failure_of(self, error: BaseException, job: FileJob) -> tuple[str, str]: ...
    def unit_ended(self, job: FileJob, failure: tuple[str, str] | None) -> None: ...
    def notice(self, event: ev.Notice) -> None: ...


@dataclass(eq=False)
class _Transfer:
    job: FileJob
    request: Request
    pos: int
    attempt: int = 0
    status: int = 0
    first: int | None = None
    """Object offset of the answer's first byte (Content-Range), None if whole."""
    checked: bool = False
    error: BaseException | None = None
    paused: bool = False


class MultiLane:
    """Runs small whole-file GETs until the host has none left; one thread."""

    def __init__(self, host: LaneHost, max_transfers: int) -> None:
        self._host = host
        self._max = room_for(max_transfers)
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_MAXCONNECTS, self._max)
        self._idle: list[pycurl.Curl] = []
        self._active: dict[pycurl.Curl, _Transfer] = {}
        self._waiting: list[tuple[float, int, _Transfer]] = []
        self._order = itertools.count()
        self._drained = False

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
                if not self._active and not self._waiting and self._drained:
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
        while not self._drained and len(self._active) < self._max:
            taken = self._host.take_small()
            if taken is None:
                self._drained = True
                return
            job, request = taken
            self._start(_Transfer(job, request, job.resume_from))

    def _start(self, transfer: _Transfer) -> None:
        handle = self._idle.pop() if self._idle else self._new_handle()
        request = transfer.request
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.HTTPHEADER, list(request.headers))
        handle.setopt(pycurl.CAINFO, request.ca_file)
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, int(request.connect_timeout * 1000))
        handle.setopt(pycurl.LOW_SPEED_TIME, max(1, int(request.read_timeout)))
        if transfer.pos:
            handle.setopt(pycurl.RANGE, f"{transfer.pos}-")
        else:
            handle.setopt(pycurl.RANGE, None)
        handle.setopt(pycurl.WRITEFUNCTION, lambda data: self._write(transfer, data))
        handle.setopt(pycurl.HEADERFUNCTION, lambda line: self._header(transfer, line))
        transfer.status, transfer.first, transfer.checked, transfer.error = 0, None, False, None
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
            transfer.job.store(data, transfer.pos)
            transfer.pos += len(data)
            self._host.bytes_arrived(len(data))
            self._host.throttle(len(data))
        except BaseException as error:  # noqa: BLE001 - libcurl must not see an exception
            transfer.error = error
            return 0  # aborts this transfer with a write error; _ended reports ours
        return None

    def _check_start(self, transfer: _Transfer) -> None:
        transfer.checked = True
        start = transfer.first if transfer.first is not None else 0
        if start != transfer.pos:
            transfer.pos = restart_if_range_ignored(transfer.job, start, transfer.pos, self._host.notice)

    # outcomes ----------------------------------------------------------------
    def _ended(self, handle: pycurl.Curl, curl_error: tuple[int, str] | None) -> None:
        transfer = self._active.pop(handle)
        self._multi.remove_handle(handle)
        status = handle.getinfo(pycurl.RESPONSE_CODE) or transfer.status
        self._idle.append(handle)
        size = transfer.job.item.size
        if transfer.error is not None:
            error = transfer.error
        elif curl_error is not None:
            error = SourceError("transient", f"network error: {_REASONS.get(curl_error[0], 'transfer failed')}")
        elif status not in (200, 206):
            error = classify_status(status, transfer.job.item.key)
        elif transfer.pos < size:
            error = SourceError("transient", f"connection closed at byte {transfer.pos} of {size}")
        else:
            self._host.unit_ended(transfer.job, None)
            return
        self._failed(transfer, error)

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
        self._host.unit_ended(transfer.job, failure)

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
