"""The lane's own HTTP/1.1: TLS, kept connections the server dropped, answers
S3 never sends, and a server that goes quiet. Each against a real server on
127.0.0.1 through the engine's public ``run``."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import http.server
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.settings import EngineSettings, NetworkSettings
from laion_fmri_tui.core.models import LocalState, Plan, PlanItem
from laion_fmri_tui.core.disk import partfile
from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.transfer.gate import GateState, RunGate
from laion_fmri_tui.core.transfer.sources import Request, Source
from laion_fmri_tui.core.disk.partfile import PartRecord
from laion_fmri_tui.core.http.answers import SourceError
from engines import LANE_TICK, engine_at, window

BODY = bytes(range(256)) * 4096  # 1 MiB
ETAG = hashlib.md5(BODY).hexdigest()


class _Objects(http.server.BaseHTTPRequestHandler):
    """Every path is BODY, honouring a Range; ``mode`` bends the answers."""

    protocol_version = "HTTP/1.1"
    mode = "plain"
    whole = BODY
    requests: list[str] = []
    log: list[tuple[tuple[str, int], str, str | None]] = []
    """(client address, path, Range) of every GET: which connection carried what."""
    threads: set[str] = set()
    """Names of the threads of this process alive while a GET was answered."""
    meet: threading.Barrier | None = None
    """When set: the first GETs wait here for each other (proof they were in flight together)."""
    met: list[bool] = []
    answers = 0
    """Answers sent in all (notified on :attr:`sent`)."""
    sent = threading.Condition()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        type(self).requests.append(self.path)
        type(self).log.append((self.client_address, self.path, self.headers.get("Range")))
        type(self).threads.update(t.name for t in threading.enumerate())
        if type(self).meet is not None:
            try:
                type(self).meet.wait(10)
                type(self).met.append(True)
            except threading.BrokenBarrierError:
                type(self).met.append(False)
            else:
                type(self).meet = None
        whole = self.whole
        if self.mode == "silent":
            threading.Event().wait(3)
            return
        if self.mode in ("bad-length", "overflow") and "bad" in self.path:
            length = b"1\xb2" if self.mode == "bad-length" else b"100"  # "1²" passes str.isdigit()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\n" + whole)
            self.close_connection = True
            return
        first, last = 0, len(whole) - 1
        asked = self.headers.get("Range")
        if asked:
            start, _, end = asked.split("=")[1].partition("-")
            first, last = int(start), int(end) if end else len(whole) - 1
        body = whole[first:last + 1]
        self.send_response(206 if asked else 200)
        if asked:
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(BODY)}")
        self.send_header("ETag", f'"{hashlib.md5(whole).hexdigest()}"')
        if self.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        with _Objects.sent:
            _Objects.answers += 1
            _Objects.sent.notify_all()
        if self.mode == "drops-idle":  # keep-alive said, then closed: the client finds out on reuse
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def log_message(self, *args) -> None:
        pass


class _Source(Source):
    """The lane's side of a source: plain requests to one base URL."""

    def __init__(self, base: str, ca_file: str, read_timeout: float = 10.0) -> None:
        self._base, self._ca_file, self._read_timeout = base, ca_file, read_timeout

    def lane_request(self, item: PlanItem) -> Request:
        return Request(f"{self._base}/{item.key}", (f'If-Match: "{item.etag}"',), NetworkSettings(ca_bundle=self._ca_file), 2.0,
                       self._read_timeout)


def _answered(count: int, timeout: float = 30.0) -> bool:
    """Wait until the server has sent ``count`` answers in all (False: it did not)."""
    with _Objects.sent:
        return _Objects.sent.wait_for(lambda: _Objects.answers >= count, timeout)


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # hundreds of connections at once: the default backlog of 5 drops SYNs


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@contextlib.contextmanager
def _serving(mode: str, ca: trustme.CA | None = None, whole: bytes = BODY,
             handler: type[_Objects] = _Objects) -> Iterator[_Server]:
    """A server of BODY (or ``whole``) on 127.0.0.1 for the ``with`` block, shut down after it."""
    _Objects.mode, _Objects.requests, _Objects.whole, _Objects.answers = mode, [], whole, 0
    _Objects.log, _Objects.threads, _Objects.meet, _Objects.met = [], set(), None, []
    server = _Server(("127.0.0.1", 0), handler)
    if ca is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _run(source: _Source, data_dir: Path, names: list[str], whole: bytes = BODY, sink: ev.EventSink | None = None,
         **settings) -> tuple[ev.RunFinished, list]:
    events: list = []
    options = dict(jobs=2, lane_jobs=4, progress_interval=0.05, part_size=256 * 1024, retries=0) | settings
    engine = engine_at(None, data_dir, sink or events.append, EngineSettings(**options), sources={"s3": source})
    etag = hashlib.md5(whole).hexdigest()
    items = tuple(PlanItem(name, data_dir / name, len(whole), etag, "glmsingle") for name in names)
    return engine.run(Plan(data_dir, items)), events


def _retries(events: list) -> list[str]:
    """The run's retry notices (a retry spends an attempt)."""
    return [e.message for e in events if isinstance(e, ev.Notice) and "retrying" in e.message]


def test_the_lane_fetches_over_tls_with_the_sources_certificates(ca, data_dir, tmp_path):
    """Parts and whole files over https, checked against a CA the test made."""
    with _serving("plain", ca) as server:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        source = _Source(f"https://127.0.0.1:{server.server_address[1]}", str(ca_file))
        finished, _ = _run(source, data_dir, ["a.bin", "b.bin"], part_size=None)
        chunked, _ = _run(source, data_dir, ["c.bin"], part_size=128 * 1024)  # 8 parts on 4 kept connections
    assert (finished.done, finished.failed, chunked.done) == (2, 0, 1)
    assert all((data_dir / name).read_bytes() == BODY for name in ("a.bin", "b.bin", "c.bin"))
    assert len(_Objects.requests) == 2 + 8  # two whole files, then eight 128 KiB parts


def test_a_server_certificate_nobody_vouches_for_fails_the_file_with_a_reason(ca, data_dir):
    with _serving("plain", ca) as server:
        source = _Source(f"https://127.0.0.1:{server.server_address[1]}", ssl.get_default_verify_paths().cafile
                         or "/etc/ssl/certs/ca-certificates.crt")
        finished, _ = _run(source, data_dir, ["a.bin"])
    assert finished.failed == 1 and not (data_dir / "a.bin").exists()
    assert finished.failures[0][1] == "the server's certificate is not trusted; see --ca-bundle"


def test_a_kept_connection_the_server_dropped_is_reopened_without_costing_an_attempt(data_dir):
    """The server closes every connection after its answer without saying so:
    each reuse finds it closed. With no retries allowed, every file still lands."""
    with _serving("drops-idle") as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, events = _run(source, data_dir, [f"f{n}.bin" for n in range(6)])
    assert (finished.done, finished.failed) == (6, 0), finished.failures
    assert not _retries(events)
    assert len(_Objects.requests) == 6 * 4  # one GET per 256 KiB part, none repeated


def test_a_chunked_answer_is_read(data_dir):
    """A proxy (or an S3-compatible server) may send a 2xx chunked: its payload is the file."""
    with _serving("chunked") as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, _ = _run(source, data_dir, ["a.bin"], part_size=None)
    assert finished.done == 1, finished
    assert (data_dir / "a.bin").read_bytes() == BODY


def test_a_server_that_goes_quiet_times_out(data_dir):
    with _serving("silent") as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "", read_timeout=1.0)
        finished, _ = _run(source, data_dir, ["a.bin"], part_size=None)
    assert finished.failed == 1 and "timed out" in finished.failures[0][1]


def test_hundreds_of_kept_connections_found_dropped_cost_nothing(data_dir):
    """Hundreds of kept connections the server closed: each reuse finds out
    and opens another, without an attempt and without running out of stack."""
    small = bytes(range(256)) * 16
    with _serving("drops-idle", whole=small) as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, _ = _run(source, data_dir, [f"f{n}.bin" for n in range(900)], whole=small, lane_jobs=300)
    assert (finished.done, finished.failed) == (900, 0), finished.failures[:3]


class _Ungranted(_Source):
    """A source that cannot describe some files' GETs (as the access service
    may leave a stimulus out of a grant)."""

    def lane_request(self, item: PlanItem) -> Request:
        if item.key.startswith("gone"):
            raise SourceError(ev.FailKind.MISSING, f"the access service did not grant {item.key}")
        return super().lane_request(item)


@pytest.mark.parametrize("part_size", [None, 128 * 1024])
def test_a_file_its_source_cannot_describe_fails_alone_and_none_is_lost(data_dir, part_size):
    """Whole files and files in parts: the ungranted one fails with its
    reason, every other file lands, and none is left unreported (a lane used to
    stop there, failing the rest of its files and losing that one)."""
    names = ["a.bin", "gone.bin", *(f"f{n}.bin" for n in range(6))]
    with _serving("plain") as server:
        source = _Ungranted(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, events = _run(source, data_dir, names, part_size=part_size)
    assert (finished.done, finished.failed) == (len(names) - 1, 1), finished.failures
    [failed] = [e for e in events if isinstance(e, ev.FileFailed)]
    assert (failed.key, failed.kind) == ("gone.bin", ev.FailKind.MISSING) and "did not grant" in failed.error
    assert all((data_dir / name).read_bytes() == BODY for name in names if name != "gone.bin")
    assert not any(r.startswith("/gone") for r in _Objects.requests)


def test_an_answer_head_the_lane_cannot_read_fails_that_file_only(data_dir):
    with _serving("bad-length") as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, _ = _run(source, data_dir, ["bad.bin", *(f"ok{n}.bin" for n in range(5))], part_size=None)
    assert (finished.done, finished.failed) == (5, 1)
    assert finished.failures[0][0] == "bad.bin" and "malformed Content-Length" in finished.failures[0][1]


def test_bytes_beyond_the_answers_length_never_make_a_success(data_dir):
    """An answer that says 100 bytes and sends the whole object: the lane takes
    100, the file is short, and it fails (no retries here) instead of landing."""
    with _serving("overflow") as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, _ = _run(source, data_dir, ["bad.bin"], part_size=None)
    assert finished.failed == 1 and not (data_dir / "bad.bin").exists()
    assert "closed at byte 100 of" in finished.failures[0][1]


def test_a_part_file_already_whole_is_renamed_without_a_request(data_dir):
    """A run stopped between the last write and the rename: the next one
    checks the kept bytes and renames them; S3 would answer 416 to a Range from the end."""
    with _serving("plain") as server:
        dest = data_dir / "a.bin"
        partfile.part_path(dest).write_bytes(BODY)
        partfile.write_record(dest, PartRecord(len(BODY), ETAG, 0), fresh=True)
        state, kept = partfile.local_state(dest, len(BODY), ETAG)
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        events: list = []
        engine = engine_at(None, data_dir, events.append, EngineSettings(jobs=2, lane_jobs=4, part_size=None),
                           sources={"s3": source})
        item_ = PlanItem("a.bin", dest, len(BODY), ETAG, "glmsingle", state=state, present=kept)
        finished = engine.run(Plan(data_dir, (item_,)))
    assert (state, kept) == (LocalState.PARTIAL, len(BODY))
    assert finished.done == 1 and dest.read_bytes() == BODY and _Objects.requests == []


def test_an_address_that_refuses_falls_through_to_the_next(data_dir, monkeypatch):
    """A host name that resolves first to an address nobody listens on (as
    localhost may to ::1): the lane connects to its next address, no retry spent."""
    with _serving("plain") as server:
        port = server.server_address[1]
        real = socket.getaddrinfo

        def resolve(host, *args, **kwargs):
            if host == "objects.test":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
                        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolve)  # no /etc/hosts entry can be added here
        finished, events = _run(_Source(f"http://objects.test:{port}", ""), data_dir, ["a.bin", "b.bin"],
                                part_size=None)
    assert (finished.done, finished.failed) == (2, 0), finished.failures
    assert not _retries(events)


def test_an_address_that_never_answers_falls_through_to_the_next(data_dir, monkeypatch):
    """The first address takes no connection (its queue is full, so SYNs are
    dropped, as on a route that loses them): after the connect timeout the
    lane tries the next address, with no retry spent."""
    with _serving("plain") as server, socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        fillers = [socket.socket() for _ in range(4)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(silent.getsockname())
        real = socket.getaddrinfo

        def resolve(host, *args, **kwargs):
            if host == "objects.test":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", silent.getsockname()),
                        (socket.AF_INET, socket.SOCK_STREAM, 6, "", server.server_address)]
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolve)
        try:
            finished, events = _run(_Source(f"http://objects.test:{server.server_address[1]}", ""), data_dir,
                                    ["a.bin"], part_size=None)
        finally:
            for filler in fillers:
                filler.close()
    assert (finished.done, finished.failed) == (1, 0), finished.failures
    assert not _retries(events)


def test_two_lanes_share_the_run_and_each_keeps_to_the_files_it_opened(data_dir):
    """Two lane threads: both carry bytes, every file arrives whole, and a file's
    parts stay on the lane that opened it (two threads writing one file wait on
    its inode lock in turn); only the run's last parts may go to the lane that
    ran out first. Seen from the server: a lane keeps its own connections (two
    parts in flight each here), so a file's parts come over its lane's two,
    and the run over more than one lane's."""
    names = [f"f{n}.bin" for n in range(6)]
    with _serving("plain") as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, _ = _run(source, data_dir, names, lanes=2, jobs=4, lane_jobs=8, part_size=128 * 1024)
    assert (finished.done, finished.failed) == (6, 0)
    assert all((data_dir / name).read_bytes() == BODY for name in names)
    connections: dict[str, set] = collections.defaultdict(set)
    for client, path, _ in _Objects.log:
        connections[path].add(client)
    every = set().union(*connections.values())
    assert len(every) > 2, f"{len(every)} connections: one lane's two parts in flight, the other lane idle"
    spread = [path for path, clients in connections.items() if len(clients) > 2]
    assert len(spread) <= 2, f"parts of {spread} came over both lanes' connections (shared queue: every file's)"


def test_a_second_lane_waits_for_the_file_the_first_is_opening(data_dir, monkeypatch):
    """One file in parts and two lanes of one part each: the lane that finds
    nothing to take while the other opens the file (a slow disk, here) asks
    again and takes its share of the parts, instead of stopping (which left
    the run with half its parts in flight). The server sees two parts in
    flight at once: its first two GETs meet at a barrier."""
    open_part = FileJob.open

    def slow_open(job: FileJob, *args, **kwargs) -> list[int]:  # a slow disk: the other lane asks for parts meanwhile
        window(10 * LANE_TICK)
        return open_part(job, *args, **kwargs)

    monkeypatch.setattr(FileJob, "open", slow_open)
    with _serving("plain") as server:
        _Objects.meet = threading.Barrier(2)
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, _ = _run(source, data_dir, ["one.bin"], lanes=2, jobs=2, lane_jobs=4, part_size=64 * 1024)
    assert (finished.done, finished.failed) == (1, 0)
    assert (data_dir / "one.bin").read_bytes() == BODY
    assert _Objects.met[:2] == [True, True], "one lane alone: its one part in flight never met another"


def test_a_run_without_ranged_parts_is_one_lanes_and_checked_on_its_thread(data_dir):
    """Small files are all lane 0's: a second lane would only sleep and wake
    through the whole run. The lane hashes them itself between its turns (no
    hand-off to a hasher thread); a file whose bytes do not match its MD5 still
    fails. Seen from the server (the threads alive while it answers) and from
    the sink (the thread that reports each file done)."""
    finished_on: set[str] = set()

    def sink(event: ev.Event) -> None:
        if isinstance(event, ev.FileDone):
            finished_on.add(threading.current_thread().name)

    names = [f"f{n}.bin" for n in range(20)]
    with _serving("plain") as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, _ = _run(source, data_dir, names, sink=sink, lanes=2, jobs=2, lane_jobs=8, part_size=None)
        alive = set(_Objects.threads)
        other = bytes(reversed(BODY))  # same length, other bytes: its MD5 is not the served file's
        wrong, _ = _run(source, data_dir / "wrong", ["w.bin"], whole=other, part_size=None)
    assert (finished.done, finished.failed) == (20, 0)
    assert all((data_dir / name).read_bytes() == BODY for name in names)
    assert "transfer-lane-0" in alive and "transfer-lane-1" not in alive, sorted(alive)
    assert "span-hasher" not in alive, "no hand-off to a hasher thread"
    # The lane hashes between its turns; what waited for company when it
    # stopped is hashed by the engine's thread as it closes the hasher.
    assert "transfer-lane-0" in finished_on and finished_on <= {"transfer-lane-0", "MainThread"}, finished_on
    assert (wrong.done, wrong.failed) == (0, 1) and not (data_dir / "wrong" / "w.bin").exists()


def _breaking(monkeypatch, name: str) -> None:
    """Inject a bug of ours: lane ``name``'s second look at the gate raises, so
    the lane stops with what its first turn put in flight (fault injection;
    the tests judge the run by its files and its result)."""
    state = RunGate.state
    looks = [0]

    def broken(gate: RunGate) -> GateState:
        if threading.current_thread().name == name:
            looks[0] += 1
            if looks[0] == 2:
                raise RuntimeError("a bug of ours")
        return state(gate)

    monkeypatch.setattr(RunGate, "state", broken)


def test_a_lane_that_fails_leaves_the_rest_of_the_run_to_the_other(data_dir, monkeypatch):
    """A bug stops lane 1: the files of the two parts it held fail as unexpected
    errors; lane 0 fetches every other file, none lost."""
    names = [f"f{n}.bin" for n in range(6)]
    with _serving("plain") as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        _breaking(monkeypatch, "transfer-lane-1")
        finished, _ = _run(source, data_dir, names, lanes=2, jobs=4, lane_jobs=8, part_size=128 * 1024)
    assert finished.done + finished.failed == len(names)
    assert 1 <= finished.failed <= 2, finished.failures  # lane 1 held two parts
    assert all("a bug of ours" in reason for _, reason in finished.failures)
    failed = {key for key, _ in finished.failures}
    assert all((data_dir / name).read_bytes() == BODY for name in names if name not in failed)


def test_small_files_are_the_first_lanes_and_fail_with_it(data_dir, monkeypatch):
    """Small files go to lane 0 first; when a bug stops it, the ones no lane
    fetched fail with the reason (lane 1 may have taken a few once it ran dry):
    none is lost and every file that is done is whole."""
    names = [f"f{n}.bin" for n in range(40)]
    with _serving("plain") as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        _breaking(monkeypatch, "transfer-lane-0")
        finished, _ = _run(source, data_dir, names, lanes=2, jobs=2, lane_jobs=8, part_size=None)
    assert finished.done + finished.failed == len(names), finished
    assert finished.failed >= 1, finished
    assert all("a bug of ours" in reason for _, reason in finished.failures)
    failed = {key for key, _ in finished.failures}
    assert all((data_dir / name).read_bytes() == BODY for name in names if name not in failed)


def test_the_lane_reads_answers_while_it_is_still_opening_files(data_dir, monkeypatch):
    """Hundreds of small files to start: the lane opens them a few dozen at a
    time and reads the answers that came in between, rather than leaving every
    socket unread until the last ``.part`` is open. Seen on disk: when the
    last file opens, the answers of most of the first files are written
    (39-73 in 8 runs; with no budget per admission, 5-16)."""
    small = b"{}" * 512
    opened: list[FileJob] = []
    written_then: list[int] = []
    open_part = FileJob.open

    def written() -> int:
        """Files (final or ``.part``) that hold every byte of their answer."""
        return sum(1 for path in data_dir.iterdir()
                   if ".json" in path.name and path.is_file() and path.stat().st_size == len(small))

    def slow_open(job: FileJob, *args, **kwargs) -> list[int]:  # a busy file system: answers come in while files still open
        if len(opened) == 32:
            assert _answered(32), "the server never answered the first GETs"
        if len(opened) == 95:
            written_then.append(written())
        opened.append(job)
        return open_part(job, *args, **kwargs)

    monkeypatch.setattr(FileJob, "open", slow_open)
    names = [f"s{n:03d}.json" for n in range(96)]
    with _serving("plain", whole=small) as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, _ = _run(source, data_dir, names, whole=small, jobs=1, lane_jobs=200, part_size=None)
    assert (finished.done, finished.failed) == (96, 0)
    assert written_then[0] >= 28, f"{written_then[0]} files written when the last opened (no budget: 5-16)"


def _socket_fd(client_port: int, server_port: int) -> int | None:
    """This process's descriptor of the client end of a loopback connection
    (the kernel's socket table, ``/proc/self/net/tcp``, then ``/proc/self/fd``)."""
    inode = None
    with open("/proc/self/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == client_port and int(remote.rsplit(":", 1)[1], 16) == server_port:
                inode = fields[9]
                break
    if inode is None:
        return None
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{name}") == f"socket:[{inode}]":
                return int(name)
    return None


def _watcher(fd: int) -> int | None:
    """The ``epoll`` instance (its descriptor) that watches socket ``fd``, from
    the kernel's ``/proc/self/fdinfo``. Each lane waits on its own ``epoll``, so
    this names the lane that reads the connection; None: none watches it."""
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if os.readlink(f"/proc/self/fd/{name}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/self/fdinfo/{name}") as info:
                if any(line.startswith("tfd:") and int(line.split()[1]) == fd for line in info):
                    return int(name)
    return None


class _OneLaneStalls(_Objects):
    """Every GET whose connection the first GET's lane reads gets its head and
    64 KiB, then nothing more until that connection is read by another lane
    (seen in the kernel: its socket moved to another ``epoll``), or until
    :attr:`BOUND` (a failure bound: no takeover). The other lane's GETs are
    answered at once, so it runs out of parts while the first holds two."""

    BOUND = 20.0
    lock = threading.Lock()
    stalled: int | None = None
    """The ``epoll`` of the stalled lane."""
    moved = threading.Event()
    served: list[tuple[str, str | None, int | None, int | None]] = []
    """(path, Range, the lane's ``epoll`` that asked, the one that read the end) per GET."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        cls = type(self)
        fd = _socket_fd(self.client_address[1], self.server.server_address[1])
        asker = _watcher(fd) if fd is not None else None
        with cls.lock:
            if cls.stalled is None:
                cls.stalled = asker
            stall = asker is not None and asker == cls.stalled and not cls.moved.is_set()
        start, _, end = self.headers["Range"].split("=")[1].partition("-")
        body = self.whole[int(start):int(end) + 1]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(self.whole)}")
        self.send_header("ETag", f'"{hashlib.md5(self.whole).hexdigest()}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        first = 64 * 1024 if stall else len(body)
        self.wfile.write(body[:first])
        self.wfile.flush()
        reader = asker
        if stall:
            deadline = time.monotonic() + cls.BOUND
            while not cls.moved.wait(0.01) and time.monotonic() < deadline:
                now = _watcher(fd)
                if now is not None and now != asker:
                    reader = now
                    cls.moved.set()
        self.wfile.write(body[first:])
        self.wfile.flush()
        cls.served.append((self.path, self.headers["Range"], asker, reader))


def test_a_lane_that_ran_dry_takes_over_parts_in_flight_from_a_busy_one(data_dir):
    """The run's end is shared: the server starves one lane's two parts in
    flight (their heads and first bytes come, then nothing), so the other lane
    fetches every other part and runs dry; it asks, and the starved lane hands
    over a part in flight, connection and all. The kernel shows the handover:
    that connection's socket moves to the other lane's ``epoll``, which reads
    the rest. Every file arrives whole. (With the handover disabled, the two
    parts wait out the server's bound and no connection changes lanes.)"""
    whole = bytes(range(256)) * 32768  # 8 MiB, in parts of 2 MiB
    _OneLaneStalls.stalled, _OneLaneStalls.served = None, []
    _OneLaneStalls.moved.clear()
    names = [f"b{n}.bin" for n in range(4)]
    with _serving("plain", whole=whole, handler=_OneLaneStalls) as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "", read_timeout=60.0)
        finished, _ = _run(source, data_dir, names, whole=whole, lanes=2, jobs=4, lane_jobs=8,
                           part_size=2 * 1024 * 1024)
    assert (finished.done, finished.failed) == (4, 0), finished.failures
    assert all((data_dir / name).read_bytes() == whole for name in names)
    assert _OneLaneStalls.stalled is not None, "the kernel did not show which epoll watched the first GET"
    lanes = {asker for _, _, asker, _ in _OneLaneStalls.served if asker is not None}
    assert len(lanes) == 2, f"both lanes fetched parts: {_OneLaneStalls.served}"
    moved = [(path, part) for path, part, asker, reader in _OneLaneStalls.served if reader != asker]
    assert moved, f"no part in flight moved to the lane that ran dry: {_OneLaneStalls.served}"


def test_a_paused_lane_with_files_still_to_start_waits_without_spinning(data_dir, monkeypatch):
    """Paused just as an admission stopped at its cap of GETs: the lane waits
    for the resume, looking at the gate a few times a second, instead of
    turning at a full core. Measured by the CPU time this process spends
    while paused (a spinning lane spends most of the window; load only
    lowers that), not by a clock."""
    engines: list = []
    opened: list[FileJob] = []
    paused = threading.Event()
    open_part = FileJob.open

    def pausing_open(job: FileJob, *args, **kwargs) -> list[int]:
        opened.append(job)
        if len(opened) == 32:  # the last GET the first admission starts
            engines[0].pause()
            paused.set()
        return open_part(job, *args, **kwargs)

    monkeypatch.setattr(FileJob, "open", pausing_open)
    small = b"{}" * 512
    etag = hashlib.md5(small).hexdigest()
    items = tuple(PlanItem(f"p{n:03d}.json", data_dir / f"p{n:03d}.json", len(small), etag, "glmsingle")
                  for n in range(96))
    with _serving("plain", whole=small) as server:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        engines.append(engine_at(None, data_dir, [].append, EngineSettings(jobs=1, lane_jobs=200, retries=0),
                                 sources={"s3": source}))
        result: list = []
        runner = threading.Thread(target=lambda: result.append(engines[0].run(Plan(data_dir, items))), daemon=True)
        runner.start()
        assert paused.wait(60)
        assert _answered(32), "the first admission's GETs were answered"
        before = time.process_time()
        window(10 * LANE_TICK)  # for a spinning lane to spin in
        spent = time.process_time() - before
        engines[0].resume()
        runner.join(60)
    assert (result[0].done, result[0].failed) == (96, 0)
    assert spent < 2 * LANE_TICK, f"{spent:.2f} s of CPU in {10 * LANE_TICK} s of pause (a spinning lane: most of it)"


def test_a_bug_while_opening_a_file_fails_that_file_and_no_other(data_dir, monkeypatch):
    """An exception nobody planned for (a bug of ours, injected here into
    ``FileJob.open``) fails the file it hit, with its reason, and the run goes
    on: before, such a file ended neither done nor failed, and the run said
    nothing of it."""
    open_part = FileJob.open

    def broken_open(job: FileJob, *args, **kwargs) -> list[int]:
        if job.item.key == "bad.bin":
            raise RuntimeError("an injected bug")
        return open_part(job, *args, **kwargs)

    monkeypatch.setattr(FileJob, "open", broken_open)
    for part_size in (64 * 1024, None):  # ranged parts, and whole files
        where = data_dir / str(part_size)
        with _serving("plain") as server:
            source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
            finished, _ = _run(source, where, ["bad.bin", "good.bin"], part_size=part_size)
        assert (finished.done, finished.failed) == (1, 1), (part_size, finished)
        assert [key for key, _ in finished.failures] == ["bad.bin"]
        assert "an injected bug" in str(finished.failures[0][1])
        assert (where / "good.bin").read_bytes() == BODY and not (where / "bad.bin").exists()
