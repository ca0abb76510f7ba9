"""S3 GETs by the hundred on one thread: non-blocking sockets on one ``epoll``.

A dataset is mostly small files (JSON sidecars, TSVs, ROI masks) where each
GET is a round trip and almost no bytes, and a few large ones fetched as
ranged parts. Measured in ``bench/``: a thread per request spent about 0.75
ms of CPU a file and its GIL hand-offs cost more than the bytes; libcurl's
multi interface (pycurl) handed every 16 KiB over as a new ``bytes``, which
the lane then joined and a writer thread copied into the page cache from
another core's cache (1.6 CPU s of user time for 2.3 GB). Here each socket
that is ready is read straight into one buffer, and those bytes are written
into their ``.part`` at once, while they are still in the CPU's cache: the
copies a download cannot avoid (socket to buffer, buffer to page cache) and
no other. The span hasher hashes the parts' bytes on its own thread.

Those two copies are kernel time that one thread cannot spread: on a 2-core
machine one lane spent a whole core on them while the other waited on the
hasher. So the engine runs a lane per core (two at most; see
``EngineSettings.lanes``), each keeping to the files it opened. Small files
all go to the first lane: on two threads their Python cost more CPU (GIL
hand-offs) for no gain in pace.
At the run's end a lane that ran dry takes over half of a busy lane's
transfers in flight (see :mod:`.lane_relay`), so the last bytes are not one
thread's alone.

Every GET of a run goes through the lanes: the bucket's objects and the
access service's signed stimulus URLs alike. The lane drives each file's
:class:`~laion_fmri_tui.core.transfer.filejob.FileJob`: bytes go to the ``.part`` at the cursor; pausing
stops reading (TCP holds the server), cancelling closes every connection.

Who decides what. A lane moves bytes and decides nothing else; it asks four
collaborators, each the one owner of its decision:

- :class:`WorkSupply` (the engine's scheduling): what to fetch next. A lane
  takes parts and small files from it until it says none is left.
- :class:`~laion_fmri_tui.core.transfer.gate.RunGate`: whether to run, hold
  or drop everything this turn, and how fast (the bandwidth cap, charged
  after each read, which also counts the bytes for the progress line).
- :class:`~laion_fmri_tui.core.transfer.retrier.Retrier`: whether a failed
  unit is tried again, after how long, with which request, and what a
  refused answer means. A retried unit stays on this lane and resumes from
  the byte it reached.
- :class:`~laion_fmri_tui.core.transfer.outcomes.Outcomes`: every unit that
  ends for good (done, failed, given up, cancelled) is reported there, and
  only there is a file finished (verified, flushed, renamed) or failed.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import resource
import selectors
import ssl
import time
from socket import gaierror as socket_gaierror
from typing import Protocol

from laion_fmri_tui.core.events import CANCELLED, FailKind, Failure
from laion_fmri_tui.core.http.connect import READ, UNTRUSTED, Connection, ProxyRefused, Stage, WouldBlock, dial
from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.http.retry import RetryKind
from laion_fmri_tui.core.http.wire import Origin, request, target
from laion_fmri_tui.core.transfer.lane_relay import LaneRelay
from laion_fmri_tui.core.transfer.gate import Cancelled, GateState, Paused, RunGate, Supply
from laion_fmri_tui.core.transfer.lane_transfer import LaneTransfer
from laion_fmri_tui.core.transfer.outcomes import Outcomes
from laion_fmri_tui.core.transfer.parts_in_flight import PartsInFlight
from laion_fmri_tui.core.transfer.retrier import Retrier
from laion_fmri_tui.core.transfer.sources import Request, unexpected_failure
from laion_fmri_tui.core.http.answers import SourceError

__all__ = ["Lane", "Request", "WorkSupply", "room_for"]

BUFFER = 256 * 1024
"""The one receive buffer: a socket's bytes are written from it before the next is read."""
READS = 4
"""Reads per ready socket per turn, so one fast connection cannot hold the others up."""
_TICK = 0.1
LAUNCHES = 32
"""GETs one admission starts at most before the lane reads its sockets again."""
LATER_WAIT = 0.005
"""Seconds before asking for a part again while another lane opens a file (:attr:`Supply.OPENING`)."""
RELAY_WAIT = 0.05
"""Seconds a dry lane sleeps between looks at the run, unless the relay wakes it
(a delivery, or another lane asking or leaving): parts a failed lane left come
back to the queue without a wake-up."""
_SWEEP = 0.5
"""Seconds between looks for transfers past their timeouts."""


def room_for(transfers: int) -> int:
    """How many transfers fit the open-file limit (a socket and a ``.part`` each).

    Raises the soft limit towards the hard one first, as s5cmd does; a login
    node's default of 1,024 would otherwise be most of the way there."""
    want = 4 * transfers + 256  # the transfers' sockets and files, the lists, the app
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        target_ = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target_, hard))
            soft = target_
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return max(1, transfers)
    return max(1, min(transfers, (soft - 256) // 4))


class WorkSupply(Protocol):
    """Where a lane gets its work: the engine's scheduling, and nothing else.

    Lanes call it on their own threads; it decides which file opens next and
    which part goes to which lane (under the engine's lock). It is not told
    how units end: that goes to :class:`~laion_fmri_tui.core.transfer.outcomes.Outcomes`."""

    def take_part(self, lane: int) -> tuple[FileJob, int, Request] | Supply:
        """The next ranged part for lane ``lane``, with its file's job open, or why there is none."""

    def take_small(self) -> tuple[FileJob, Request] | None:
        """The next whole-file GET with its ``.part`` open (lane 0's); None once there is none."""

    def hash_landed(self) -> None:
        """Lane 0, between its turns: hash the small files its turn brought in."""

    def lane_stopped(self) -> int:
        """This lane has stopped taking work: how many lanes still run (they take what it left)."""


class Lane:
    """Runs its share of the run's GETs until none is left; one thread.

    At most ``max_parts`` ranged parts are in flight (they are the bytes), and
    ``max_transfers`` GETs in all (small files are round trips), on its own
    thread: the engine shares these out between its lanes."""

    def __init__(self, supply: WorkSupply, gate: RunGate, retrier: Retrier, outcomes: Outcomes,
                 max_transfers: int, max_parts: int, lane: int = 0, relay: LaneRelay | None = None) -> None:
        self._supply = supply
        self._gate = gate
        self._retrier = retrier
        self._outcomes = outcomes
        self._relay = relay
        """Shared with the run's other lanes: the run's end is shared (see :mod:`.lane_relay`)."""
        self._lane = lane
        """Which of the run's lanes this is (each keeps to the files it opened;
        lane 0 also takes every small file)."""
        self._max = room_for(max_transfers)
        self._max_parts = max(1, min(max_parts, self._max))
        self._pace = PartsInFlight(self._max_parts)
        """How many of ``_max_parts`` the path rewards (see :mod:`.parts_in_flight`)."""
        self._limit = retrier.policy.limit
        """Cut while the server throttles: this lane keeps :meth:`AdaptiveLimit.cap` of ``_max`` in flight."""
        self._limit.raise_ceiling(self._max)
        self._parts = 0
        """Parts started and not ended for good (retries included)."""
        self._parts_drained = False
        self._drained = lane != 0
        """No more small files to take: they are lane 0's, the other lanes take parts."""
        self._selector = selectors.DefaultSelector()
        self._active: dict[LaneTransfer, int] = {}
        """Transfers with a connection, and the events their socket is watched for (0: none)."""
        self._pending: set[LaneTransfer] = set()
        """TLS transfers with decrypted bytes waiting (``epoll`` cannot see them)."""
        self._idle: dict[Origin, list[Connection]] = {}
        self._waiting: list[tuple[float, int, LaneTransfer]] = []
        self._order = itertools.count()
        self._view = memoryview(bytearray(BUFFER))
        self._swept = time.monotonic()
        self._later = False
        """Another lane is opening a file: look for its parts again soon."""
        self._freed = False
        """A transfer left the lane during this turn: its room may take the next GET at once."""
        self._more = False
        """The last admission stopped at :data:`LAUNCHES`: admit again without waiting."""

    def run(self) -> None:
        try:
            self._loop()
            self._supply.lane_stopped()
        except Exception as error:  # noqa: BLE001 - a bug of ours: every file still here fails, none is lost
            self._abandon(error)
        finally:
            if self._relay is not None:
                self._relay.leave(self._lane)  # it has left already, unless by a bug of ours
            for transfer in list(self._active):
                self._release(transfer, reuse=False)
            for conns in self._idle.values():
                for conn in conns:
                    conn.close()
            self._selector.close()

    def _loop(self) -> None:
        while True:
            state = self._gate.state()
            if state is GateState.CANCEL:
                self._drop_all()
                return
            if state is GateState.RUN:
                self._unpause()
                self._admit()
            else:
                self._pause()
            if not self._active and not self._waiting and self._drained and self._parts_drained:
                if not self._dry(state):
                    return
                continue
            self._pump(running=state is GateState.RUN)
            if self._lane == 0:
                self._supply.hash_landed()  # the small files this turn finished
            if state is GateState.RUN and self._relay is not None:
                self._offer()

    # the run's end, shared (see lane_relay) ----------------------------------
    def _dry(self, state: GateState) -> bool:
        """Nothing left here: take what another lane hands over; False once
        no lane can (then this one leaves the run)."""
        relay = self._relay
        if relay is None:
            return False
        if state is GateState.RUN and (given := relay.take(self._lane)):
            self._adopt(given)
            return True
        if relay.others_busy(self._lane):
            relay.ask(self._lane)
            self._parts_drained = False  # a lane that failed leaves its parts to the others
            relay.wait(self._lane, RELAY_WAIT if state is GateState.RUN else _TICK)
            return True
        return not relay.withdraw(self._lane)

    def _offer(self) -> None:
        """A lane has run dry: hand it every other transfer of those that can
        move, by bytes still to come (about half of them), with its connection."""
        assert self._relay is not None
        asker = self._relay.asker(self._lane)
        if asker is None:
            return
        movable = sorted((t for t in self._active if self._movable(t)), key=lambda t: t.left or 0, reverse=True)
        if len(movable) < 2 or not self._relay.claim(asker):
            return
        given: list[LaneTransfer] = []
        try:
            for transfer in movable[1::2]:
                assert transfer.conn is not None
                if self._active.pop(transfer):
                    self._selector.unregister(transfer.conn.sock)
                self._parts -= 1
                given.append(transfer)
        finally:  # always delivered, even none: a claimed lane waits for it
            if not self._relay.deliver(asker, given):  # it left (the run is stopping): they stay here
                self._adopt(given)

    def _adopt(self, transfers: list[LaneTransfer]) -> None:
        """Ranged parts in flight, handed over (or back): watched and read here from now on."""
        now = time.monotonic()
        for transfer in transfers:
            self._parts += 1
            self._active[transfer] = 0
            transfer.touched = now
            self._serve(transfer)

    def _movable(self, transfer: LaneTransfer) -> bool:
        """A ranged part well into its body: nothing but bytes left to read."""
        conn = transfer.conn
        return (transfer.part is not None and conn is not None and conn.stage is Stage.READY
                and transfer.head is None and transfer.answered and not transfer.outgoing
                and bool(transfer.left) and not transfer.skip and not transfer.paused
                and transfer.error is None and transfer not in self._pending)

    # scheduling ------------------------------------------------------------
    def _admit(self, budget: int = LAUNCHES) -> None:
        """Start what fits, at most ``budget`` GETs: opening hundreds of small
        files at once held every socket of the lane unread for a seventh of a
        second."""
        self._later = self._freed = self._more = False
        now = time.monotonic()
        room = self._limit.cap(self._max)
        while self._waiting and self._waiting[0][0] <= now and len(self._active) < room:
            if not budget:
                self._more = True
                return
            budget -= 1
            transfer = heapq.heappop(self._waiting)[2]
            if transfer.job.failure is None:
                self._launch(transfer)
            else:
                self._give_up(transfer)
        max_parts = self._pace.allowed(self._parts)
        while not self._parts_drained and self._parts < max_parts and len(self._active) < room:
            if not budget:
                self._more = True
                return
            part = self._supply.take_part(self._lane)
            if part is Supply.EXHAUSTED:
                self._parts_drained = True
                break
            if part is Supply.OPENING:
                self._later = True
                break
            job, index, request_ = part
            if job.failure is not None:  # another part failed the file: this one is not wanted
                self._outcomes.unit_ended(job, None, index)  # nothing of it was written
                continue
            budget -= 1
            self._parts += 1
            start, end = job.todo_range(index)
            self._launch(LaneTransfer(job, request_, start, end, index))
        for_parts = 0 if self._parts_drained else max(0, max_parts - self._parts)  # room kept for parts to come
        while not self._drained and len(self._active) < room - for_parts:
            if not budget:
                self._more = True
                return
            taken = self._supply.take_small()
            if taken is None:
                self._drained = True
                return
            job, request_ = taken
            if job.resume_from >= job.item.size:  # every byte is in the .part (an earlier run stopped at its rename)
                self._report(job, None, None)
                continue
            budget -= 1
            self._launch(LaneTransfer(job, request_, job.resume_from, job.item.size - 1))

    def _launch(self, transfer: LaneTransfer) -> None:
        """Send a transfer's GET (from its cursor) on an idle or a new connection;
        one with every byte of its range in the ``.part`` has succeeded, and asks
        for nothing (a range past the object's end is an HTTP 416)."""
        if transfer.complete:
            self._succeeded(transfer)
            return
        try:
            origin, host, path = target(transfer.request.url)
            conn = self._connection(origin, transfer.request)
        except ValueError:  # a port out of range, a malformed address
            self._failed(transfer, SourceError(FailKind.DENIED, "cannot fetch: the endpoint's URL is malformed"))
            return
        except (SourceError, OSError) as error:
            self._failed(transfer, error if isinstance(error, SourceError) else _network("connection failed"))
            return
        last = transfer.end if transfer.part is not None else None
        headers = transfer.request.headers
        if conn.route.forward:  # plain http through a proxy: the absolute URI, the proxy's credentials
            assert conn.route.proxy is not None
            path, headers = transfer.request.url, headers + conn.route.proxy.headers()
        transfer.begin(conn, request(host, path, headers, transfer.pos, last), time.monotonic())
        transfer.retries.ticket = self._limit.ticket()
        self._active[transfer] = 0
        self._serve(transfer)

    def _connection(self, origin: Origin, request_: Request) -> Connection:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.alive():
                return conn
            conn.close()  # closed by the server while idle: so, likely, are the others kept as long
            for other in idle:
                other.close()
            idle.clear()
        # Addresses, proxy, TLS: core/http/connect.py, the same for listings.
        try:
            return dial(request_.network, request_.url, origin)
        except (OSError, UnicodeError) as error:
            raise _network("host not found" if isinstance(error, (socket_gaierror, UnicodeError))
                           else "connection failed") from None

    def _pump(self, running: bool) -> None:
        admitting = running and len(self._active) < self._max
        timeout = 0.0 if self._pending or (self._more and admitting) else LATER_WAIT if self._later else _TICK
        if self._waiting and admitting:  # a retry due while the lane is full or paused waits for a turn
            timeout = min(timeout, max(0.0, self._waiting[0][0] - time.monotonic()))
        for key, _ in self._selector.select(timeout):
            if key.data in self._active:
                self._serve(key.data)
                if self._freed and running:  # (a lane full when the turn began has room now)
                    self._admit(1)  # the room a transfer left, taken now: a turn over hundreds of sockets is long
        for transfer in list(self._pending):
            if transfer in self._active and not transfer.paused:
                self._serve(transfer)
        now = time.monotonic()
        if now - self._swept >= _SWEEP:
            self._swept = now
            self._sweep(now)

    def _watch(self, transfer: LaneTransfer, events: int) -> None:
        watched = self._active[transfer]
        if watched == events:
            return
        assert transfer.conn is not None
        if watched:
            self._selector.modify(transfer.conn.sock, events, transfer)
        else:
            self._selector.register(transfer.conn.sock, events, transfer)
        self._active[transfer] = events

    # one transfer's turn ------------------------------------------------------
    def _serve(self, transfer: LaneTransfer) -> None:
        """Move a transfer on as far as its socket allows without waiting."""
        self._pending.discard(transfer)
        try:
            self._advance(transfer)
        except WouldBlock as wait:
            if transfer in self._active and not transfer.paused:
                self._watch(transfer, wait.events)
        except (Cancelled, Paused):
            # The run is stopping or pausing: the gate says so on the next turn. Served
            # again at that turn (unless it holds or drops it), even if its socket
            # stays quiet: TLS may hold bytes already read (a pause undone at once).
            if transfer in self._active:
                self._pending.add(transfer)
        except ProxyRefused as error:
            self._broken(transfer, SourceError(FailKind.ERROR, str(error)))
        except ssl.SSLCertVerificationError:
            self._broken(transfer, SourceError(FailKind.ERROR, UNTRUSTED))
        except ssl.SSLError:  # before OSError, its base
            opened = transfer.conn is None or transfer.conn.stage is Stage.READY
            self._broken(transfer, _network("connection dropped" if opened else "TLS handshake failed"))
        except OSError:
            self._broken(transfer, None)
        except SourceError as error:
            self._broken(transfer, error)
        except Exception as error:  # noqa: BLE001 - a bug of ours fails this transfer, not the lane
            if transfer.conn is not None:
                self._release(transfer, reuse=False)
                self._failed(transfer, error)

    def _advance(self, transfer: LaneTransfer) -> None:
        if transfer.head is None and transfer.answered and self._end_if_done(transfer):
            return  # its last bytes landed as a pause stopped the turn (the gate's charge): ended, not read again
        conn = transfer.conn
        assert conn is not None
        if conn.stage is not Stage.READY:
            conn.open()
        while transfer.outgoing:
            transfer.outgoing = transfer.outgoing[conn.send(transfer.outgoing):]
        self._gate.check()  # not one more read once paused or cancelled
        limit = self._gate.read_limit()
        for _ in range(READS):
            left = transfer.left if transfer.head is None else None
            view = self._landing(transfer) or self._view
            size = len(view) if left is None else min(left, len(view))
            if limit is not None:
                size = min(size, limit)
            got = conn.recv_into(view[:size] if size < len(view) else view)
            if not got:
                self._closed(transfer)
                return
            transfer.touched = time.monotonic()
            data = view[:got]
            if view is not self._view:
                if self._landed(transfer, data):
                    return
                continue
            if transfer.head is not None:
                data = transfer.read_head(data)
                if data is None:
                    continue
                if not transfer.answered:
                    if transfer.reused and transfer.answer is not None and transfer.answer.status == 408:
                        self._retry_at_once(transfer)  # a proxy's goodbye to a connection left idle
                        return
                    self._finish(transfer, reuse=False)  # an error's status is all we need of it
                    return
            if self._body(transfer, data):
                return
        if conn.pending():
            self._pending.add(transfer)
        raise WouldBlock(READ)

    def _landing(self, transfer: LaneTransfer) -> memoryview | None:
        """Room in the span hasher's buffer for the body's next bytes, when they
        are all wanted and belong to a streamed span (see
        :mod:`~laion_fmri_tui.core.integrity.span_gather`)."""
        if (transfer.head is not None or transfer.skip or not transfer.answered or transfer.job.failure
                or transfer.dechunker is not None):
            return None
        return transfer.job.landing(transfer.pos)

    def _landed(self, transfer: LaneTransfer, data: memoryview) -> bool:
        """Body bytes read into the landing: write them; True once the transfer has ended."""
        if transfer.left is not None:
            transfer.left -= len(data)
        try:
            transfer.job.landed(data, transfer.pos)
        except OSError as error:
            transfer.error = error  # a full disk: the engine cancels the run
        else:
            self._count(transfer, len(data))
        return self._end_if_done(transfer)

    def _body(self, transfer: LaneTransfer, data: memoryview) -> bool:
        """Store body bytes; True once the transfer has ended."""
        if transfer.dechunker is not None:  # a proxy's (or a server's) chunked answer: its payload
            data = memoryview(transfer.dechunker.feed(data))
            if transfer.dechunker.done:
                transfer.left = len(data)  # the body ends with these bytes
        if transfer.left is not None and len(data) > transfer.left:  # more than the length said: a broken server
            data = data[:transfer.left]
            transfer.answer = dataclasses.replace(transfer.answer, keep_alive=False)
        if data:
            if transfer.left is not None:
                transfer.left -= len(data)
            keep = transfer.wanted(data)
            if keep:
                if transfer.job.failure is not None:  # another part failed the file
                    self._release(transfer, reuse=False)
                    self._give_up(transfer)
                    return True
                self._store(transfer, keep)
        return self._end_if_done(transfer)

    def _end_if_done(self, transfer: LaneTransfer) -> bool:
        """End a transfer whose write failed, whose range is complete or whose
        answer is over; True if it ended."""
        if transfer.error is not None or (transfer.complete and transfer.left != 0):
            self._finish(transfer, reuse=False)  # nothing more of this answer is wanted
            return True
        if transfer.left == 0:
            self._finish(transfer, reuse=transfer.answer is not None and transfer.answer.keep_alive)
            return True
        return False

    def _store(self, transfer: LaneTransfer, data: memoryview) -> None:
        try:
            transfer.job.store(data, transfer.pos)
        except OSError as error:
            transfer.error = error  # a full disk: the engine cancels the run
            return
        self._count(transfer, len(data))

    def _count(self, transfer: LaneTransfer, nbytes: int) -> None:
        if transfer.part is not None:
            self._pace.arrived(nbytes)
        transfer.pos += nbytes
        transfer.resumed = False
        self._gate.charge(nbytes)  # counted, then held back under a bandwidth cap

    def _closed(self, transfer: LaneTransfer) -> None:
        """The server closed the connection."""
        if transfer.answer is not None and transfer.left is None:
            self._finish(transfer, reuse=False)  # a body that ends with its connection
        elif self._stale(transfer):
            self._retry_at_once(transfer)
        elif transfer.answer is None:
            self._broken(transfer, _network("connection closed with no answer"))
        else:
            self._broken(transfer, _network("connection closed early"))

    def _stale(self, transfer: LaneTransfer) -> bool:
        """A kept connection the server had closed while it was idle: no answer began."""
        return transfer.reused and transfer.answer is None and not transfer.head

    def _retry_at_once(self, transfer: LaneTransfer) -> None:
        """Again on another connection, at the next turn (not from inside this one:
        a run of dead kept connections must not stack up calls)."""
        self._release(transfer, reuse=False)
        heapq.heappush(self._waiting, (0.0, next(self._order), transfer))

    def _sweep(self, now: float) -> None:
        for transfer in list(self._active):
            conn = transfer.conn
            if transfer.paused or conn is None:
                continue
            limit = transfer.request.read_timeout
            if conn.stage is Stage.CONNECT:
                limit = conn.attempt_limit(transfer.request.connect_timeout)
            elif conn.stage is not Stage.READY:
                limit = transfer.request.connect_timeout
            if now - transfer.touched <= max(1.0, limit):
                continue
            if not self._another_address(transfer):  # an address nothing answers (a route that drops SYNs)
                self._broken(transfer, _network("timed out"))

    # pause -------------------------------------------------------------------
    def _pause(self) -> None:
        for transfer, watched in self._active.items():
            if not transfer.paused:
                transfer.paused = True
                if watched:
                    assert transfer.conn is not None
                    self._selector.unregister(transfer.conn.sock)
                    self._active[transfer] = 0
                self._pending.discard(transfer)

    def _unpause(self) -> None:
        now = time.monotonic()
        for transfer in [t for t in self._active if t.paused]:
            transfer.paused, transfer.resumed, transfer.touched = False, True, now
            if transfer in self._active:
                self._serve(transfer)

    # outcomes ----------------------------------------------------------------
    def _release(self, transfer: LaneTransfer, reuse: bool) -> None:
        """Take a transfer's connection off the lane: idle for the next GET, or closed."""
        conn, transfer.conn = transfer.conn, None
        watched = self._active.pop(transfer, 0)
        self._freed = True
        self._pending.discard(transfer)
        if conn is None:
            return
        if watched:
            self._selector.unregister(conn.sock)
        idle = self._idle.setdefault(conn.origin, [])
        if reuse and conn.stage is Stage.READY and len(idle) < self._max:
            idle.append(conn)
        else:
            conn.close()

    def _finish(self, transfer: LaneTransfer, reuse: bool) -> None:
        self._release(transfer, reuse)
        answer = transfer.answer
        if transfer.error is not None:
            self._failed(transfer, transfer.error)
        elif transfer.complete and transfer.answered:
            self._succeeded(transfer)  # even when we stopped a range-ignoring answer ourselves
        elif answer is not None and not transfer.answered:
            self._failed(transfer, self._retrier.refusal(transfer.job, answer, transfer.request.url))
        else:
            self._failed(transfer, SourceError(
                FailKind.TRANSIENT, f"connection closed at byte {transfer.pos} of {transfer.end + 1}"))

    def _broken(self, transfer: LaneTransfer, error: SourceError | None) -> None:
        """The connection failed (``error`` None: a socket error)."""
        if transfer.conn is None:
            return
        if error is None:
            if self._stale(transfer):
                self._retry_at_once(transfer)
                return
            if self._another_address(transfer):
                return
            error = _network("connection dropped" if transfer.conn.stage is Stage.READY else "connection failed")
        self._release(transfer, reuse=False)
        self._failed(transfer, error)

    def _another_address(self, transfer: LaneTransfer) -> bool:
        """After a connect that failed or timed out: the connection goes on at
        once to the host's next address (the failed one is set aside for every
        connection for a while, see :mod:`laion_fmri_tui.core.http.connect`);
        False when it has tried them all."""
        conn = transfer.conn
        assert conn is not None
        if conn.stage is not Stage.CONNECT:
            return False
        if self._active.get(transfer):
            self._selector.unregister(conn.sock)  # before the socket closes: the next address has its own
            self._active[transfer] = 0
        if not conn.next_address():
            return False
        transfer.touched = time.monotonic()
        self._serve(transfer)
        return True

    def _succeeded(self, transfer: LaneTransfer) -> None:
        job, part = transfer.job, transfer.part
        self._limit.succeeded()
        error = None
        if part is not None:
            self._parts -= 1
            if job.failure is None:
                try:
                    job.part_written(part)
                except OSError as failed:
                    error = failed
        self._report(job, error, part)

    def _report(self, job: FileJob, error: BaseException | Failure | None, part: int | None) -> None:
        """Hand a unit's outcome over; an error in doing so fails its file, not the lane."""
        try:
            failure = error
            if isinstance(error, BaseException):
                try:
                    failure = self._outcomes.failure_of(error, job)
                except Exception:  # noqa: BLE001 - not a failure the engine knows: a bug, reported as one
                    failure = unexpected_failure(error)
            self._outcomes.unit_ended(job, failure, part)  # type: ignore[arg-type]
        except Exception as unexpected:  # noqa: BLE001 - that file fails, the lane goes on
            self._outcomes.unexpected(job, unexpected)

    def _give_up(self, transfer: LaneTransfer) -> None:
        """A transfer whose file has failed meanwhile: it ends without an outcome of its own."""
        if transfer.part is not None:
            self._parts -= 1
        self._report(transfer.job, transfer.job.failure or Failure(FailKind.ERROR, "the file failed"), transfer.part)

    def _failed(self, transfer: LaneTransfer, error: BaseException) -> None:
        if isinstance(error, SourceError) and error.retried:
            counted = not transfer.paused and not transfer.resumed  # a pause's broken connection is no attempt
            transfer.paused = transfer.resumed = False
            if error.retry is RetryKind.THROTTLED:  # fewer in flight: half of what was out when it came
                self._limit.throttled(transfer.retries.ticket, len(self._active) + 1, self._max)
            try:
                delay = self._retrier.delay(transfer.job, error, transfer.retries, transfer.pos, counted)
                if error.kind is FailKind.EXPIRED:  # a signed link renewed: the retry asks for the new one
                    transfer.request = self._retrier.request(transfer.job)
            except SourceError as final:
                error = final
            except Exception as unexpected:  # noqa: BLE001 - e.g. its notice hit a closed pipe
                error = unexpected
            else:
                heapq.heappush(self._waiting, (time.monotonic() + delay, next(self._order), transfer))
                return
        if transfer.part is not None:
            self._parts -= 1
        self._report(transfer.job, error, transfer.part)

    def _abandon(self, error: Exception) -> None:
        """The lane cannot go on: every transfer it holds ends as failed. Parts
        still to come go to the run's other lanes, small files only to lane 0;
        what none will take fails here too (the engine reports them; none is lost)."""
        failure = unexpected_failure(error)
        self._end_all(failure)
        last = not self._supply.lane_stopped()
        while last and (part := self._supply.take_part(self._lane)) is not Supply.EXHAUSTED:
            if part is Supply.OPENING:  # cannot last: no other lane runs to open a file
                time.sleep(LATER_WAIT)
                continue
            self._report(part[0], failure, part[1])
        while (last or self._lane == 0) and (taken := self._supply.take_small()) is not None:  # no other takes them
            self._report(taken[0], failure, None)

    def _drop_all(self) -> None:
        self._end_all(CANCELLED)

    def _end_all(self, failure: Failure) -> None:
        """Every transfer in flight, handed over or waiting for a retry ends with ``failure``."""
        if self._relay is not None:
            for transfer in self._relay.leave(self._lane):
                self._active[transfer] = 0
        for transfer in list(self._active):
            self._release(transfer, reuse=False)
            self._report(transfer.job, failure, transfer.part)
        for _, _, transfer in self._waiting:
            self._report(transfer.job, failure, transfer.part)
        self._waiting.clear()


_UNREACHABLE = ("host not found", "connection failed", "TLS handshake failed")


def _network(reason: str) -> SourceError:
    """A transfer's network failure; one with no connection at all gets only a
    few quick attempts (see :class:`RetryKind`)."""
    kind = RetryKind.UNREACHABLE if reason in _UNREACHABLE else RetryKind.DROPPED
    return SourceError(FailKind.TRANSIENT, f"network error: {reason}", retry=kind)
