"""A lane: whole small files, many at once on one thread, under the engine's rules.

Against the local S3 server for the normal path, and against a loopback HTTP
server of a few lines for what a real S3 never does on cue (ignore a Range,
answer 412 or 403 for one object).
"""

from __future__ import annotations

import os
import socket
import subprocess
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.models import LocalState, Plan, PlanItem
from laion_fmri_tui.core.settings import EngineSettings, S3Settings, ServiceSettings
from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.core.service import DownloadService
from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.core.transfer.lane import room_for
from laion_fmri_tui.devserver import synthetic
from engines import Recorder, engine_at, engine_for, window

MIB = 1024 * 1024


def sequential_service(s3, data_dir: Path, **engine) -> DownloadService:
    """Parts of 64 MiB: every synthetic object is one whole-file GET, so all go to the lane."""
    settings = dict(jobs=2, part_size=64 * MIB, progress_interval=0.05) | engine
    return DownloadService(ServiceSettings(data_dir=data_dir, s3=S3Settings(endpoint_url=s3.url),
                                           engine=EngineSettings(**settings)))


def subject01() -> Selection:
    return Selection(subjects=("sub-01",), filters=Filters.build(), components=frozenset({"glmsingle"}))


def peak_overlap(records, slack: float = 0.02) -> int:
    """Most requests in flight at once, as the server logged them. Each ends
    ``slack`` seconds early: the server logs an end after its last byte is
    sent, and the client may have sent its next request by then."""
    ends = [r.time + max(0.0, (r.duration or 0) - slack) for r in records]
    edges = sorted([(r.time, 1) for r in records] + [(end, -1) for end in ends],
                   key=lambda edge: (edge[0], edge[1]))
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def test_small_files_are_fetched_many_at_once_beyond_the_worker_count(s3, data_dir, s3_objects):
    service = sequential_service(s3, data_dir, jobs=2, lane_jobs=12)
    plan = service.plan(subject01())
    small = [i for i in plan.items if i.size <= 64 * 1024]
    assert len(small) >= 12
    for each in small:  # each GET lasts long enough to overlap the others
        s3.throttle(each.key, max(1024, each.size * 4))  # about a quarter second
    s3.clear_log()
    finished = engine_for(service, lambda e: None).run(plan)
    assert finished.failed == 0 and finished.done == plan.files
    gets = [r for r in s3.requests if r.method == "GET" and r.key]
    assert 2 < peak_overlap(gets) <= 12, peak_overlap(gets)
    for item in plan.items:
        assert item.dest.read_bytes() == s3_objects[item.key].data


def test_whole_files_are_checked_by_their_md5_and_a_corrupted_one_fails(lanes, s3, data_dir, s3_objects):
    """Whole files fetched from their first byte are checked against their MD5
    (by the span hasher, on SIMD lanes); one byte flipped in transit fails only
    that file."""
    service = sequential_service(s3, data_dir, lane_jobs=64)
    plan = service.plan(subject01())
    bad = next(i.key for i in plan.items if 1024 < i.size <= 64 * 1024)
    s3.fail_next(bad, 1, "flip")
    events: list = []
    finished = engine_for(service, events.append).run(plan)
    assert dict(finished.failures).keys() == {bad} and "checksum mismatch" in dict(finished.failures)[bad]
    assert not (data_dir / bad).exists() and not partfile.part_path(data_dir / bad).exists()
    done = {e.key: e.verified for e in events if isinstance(e, ev.FileDone)}
    assert len(done) == plan.files - 1 and set(done.values()) <= {"md5", "etag"}
    plain = {i.key for i in plan.items if i.size and "-" not in i.etag and i.key != bad}
    assert plain and {key for key, how in done.items() if how == "md5"} == plain, "every plain-MD5 file by its MD5"
    again = engine_for(service, lambda e: None).run(service.plan(subject01()))
    assert again.failed == 0 and (data_dir / bad).read_bytes() == s3_objects[bad].data


def test_pausing_holds_lane_transfers_and_resuming_finishes_them(s3, data_dir, s3_objects):
    """Paused mid-file: nothing more reaches the ``.part``, the connection is
    held (TCP holds the server), and the resume finishes the file on the same
    GET: the server saw one request for it, no second range."""
    s3.throttle(synthetic.LARGE_KEY, 2 * MIB)
    service = sequential_service(s3, data_dir)
    plan = service.plan(subject01())
    rec = Recorder()
    engine = engine_for(service, rec)
    runner = threading.Thread(target=engine.run, args=(plan,), daemon=True)
    runner.start()
    dest = data_dir / synthetic.LARGE_KEY
    part = partfile.part_path(tempnames.own_base(dest))  # this process's temp name while it fetches
    rec.wait_for(lambda e: rec.bytes_of(synthetic.LARGE_KEY) > 256 * 1024)
    engine.pause()
    rec.wait_for(lambda e: isinstance(e, ev.Progress) and e.paused)
    window()  # the lane's turn under way ends
    held = part.stat().st_size
    window(1.0)  # in which a lane that went on would write more
    assert part.stat().st_size == held < synthetic.LARGE_SIZE, "a paused lane writes nothing"
    engine.resume()
    runner.join(60)
    finished = rec.of(ev.RunFinished)[0]
    assert finished.failed == 0 and not finished.cancelled
    assert dest.read_bytes() == s3_objects[synthetic.LARGE_KEY].data
    assert [g.range for g in s3.gets(synthetic.LARGE_KEY)] == [None], "held and finished, not fetched again"


def test_cancelling_the_lane_keeps_the_part_and_the_rerun_asks_only_for_the_rest(s3, data_dir, s3_objects):
    s3.throttle(synthetic.LARGE_KEY, 2 * MIB)
    service = sequential_service(s3, data_dir)
    rec = Recorder()
    engine = engine_for(service, rec)
    runner = threading.Thread(target=engine.run, args=(service.plan(subject01()),), daemon=True)
    runner.start()
    dest = data_dir / synthetic.LARGE_KEY
    part = partfile.part_path(tempnames.own_base(dest))  # this process's temp name while it fetches
    rec.wait_for(lambda e: rec.bytes_of(synthetic.LARGE_KEY) >= MIB and part.exists())
    engine.cancel()
    runner.join(10)
    assert not runner.is_alive() and rec.of(ev.RunFinished)[0].cancelled
    kept = partfile.part_path(dest).stat().st_size  # parked under the shared name when it stopped
    assert kept >= MIB and not dest.exists()
    s3.reset()
    again = service.plan(subject01())
    assert next(i for i in again.items if i.key == synthetic.LARGE_KEY).state is LocalState.PARTIAL
    engine_for(service, lambda e: None).run(again)
    assert dest.read_bytes() == s3_objects[synthetic.LARGE_KEY].data
    assert [g.range for g in s3.gets(synthetic.LARGE_KEY)] == [f"bytes={kept}-"]


# a server that misbehaves on cue ---------------------------------------------
BODY = bytes(range(256)) * 1024
ETAG = hashlib.md5(BODY).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answers: dict[str, int] = {}
    ranges: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        name = self.path.rsplit("/", 1)[-1]
        type(self).ranges.append(self.headers.get("Range"))
        status = type(self).answers.get(name, 200)  # 200 even when a Range came: ignores it
        body = BODY if status == 200 else b"<Error/>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{ETAG}"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def odd_server():
    _Handler.answers, _Handler.ranges = {}, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_items(server, data_dir: Path, items: list[PlanItem], part_size: int | None = None,
              ) -> tuple[ev.RunFinished, list]:
    events: list = []
    engine = engine_at(f"http://127.0.0.1:{server.server_address[1]}", data_dir, events.append,
                       EngineSettings(jobs=2, lane_jobs=4, progress_interval=0.05, part_size=part_size))
    return engine.run(Plan(data_dir, tuple(items))), events


def item(data_dir: Path, name: str, **kw) -> PlanItem:
    return PlanItem(name, data_dir / name, len(BODY), ETAG, "glmsingle", **kw)


def test_a_server_that_ignores_the_range_makes_the_lane_skip_to_the_byte_it_needs(odd_server, data_dir):
    """The whole object comes back for ``bytes=1000-``: the kept 1,000 bytes stay
    (If-Match pins the object), the answer's first 1,000 are dropped."""
    resumed = item(data_dir, "resumed.bin", state=LocalState.PARTIAL, present=1000)
    partfile.part_path(resumed.dest).write_bytes(BODY[:1000])
    partfile.write_record(resumed.dest, partfile.PartRecord(len(BODY), ETAG, 0), fresh=True)
    finished, events = run_items(odd_server, data_dir, [resumed])
    assert finished.done == 1 and finished.failed == 0
    assert _Handler.ranges == ["bytes=1000-"]
    assert next(e for e in events if isinstance(e, ev.FileDone)).verified == "md5"
    assert resumed.dest.read_bytes() == BODY


def test_parts_from_a_server_that_ignores_the_range_take_only_their_own_bytes(odd_server, data_dir):
    """Each ranged part is answered with the whole object from byte 0: the lane
    skips to the part's first byte and stops at its last one."""
    whole = item(data_dir, "parts.bin")
    finished, events = run_items(odd_server, data_dir, [whole], part_size=64 * 1024)
    assert (finished.done, finished.failed) == (1, 0), finished.failures
    assert sorted(_Handler.ranges) == sorted(f"bytes={n}-{n + 65535}" for n in range(0, len(BODY), 65536))
    assert whole.dest.read_bytes() == BODY
    assert next(e for e in events if isinstance(e, ev.FileDone)).verified == "md5"


def test_lane_failures_are_classified_per_file_and_the_rest_still_land(odd_server, data_dir):
    _Handler.answers = {"changed.bin": 412, "denied.bin": 403, "gone.bin": 404}
    items = [item(data_dir, name) for name in ("changed.bin", "denied.bin", "gone.bin", "fine.bin")]
    finished, events = run_items(odd_server, data_dir, items)
    assert (finished.done, finished.skipped, finished.failed) == (1, 1, 2)
    failures = dict(finished.failures)
    assert "changed on the server" in failures["changed.bin"]
    assert "not in the bucket" in failures["gone.bin"]
    assert any(isinstance(e, ev.FileSkipped) and e.key == "denied.bin" for e in events)
    assert (data_dir / "fine.bin").read_bytes() == BODY
    assert not any(p.name.endswith(".part") for p in data_dir.iterdir())


def test_the_lane_fits_the_open_file_limit():
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fits = room_for(10**6)
    soft_now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft_now >= soft
    assert 1 <= fits <= max(1, (soft_now - 256) // 4)
    assert room_for(8) == 8


# what a failure leaves behind -------------------------------------------------
class _FlakyParts(http.server.BaseHTTPRequestHandler):
    """Answers ranges of BODY; the part at 64 KiB fails (503) while ``fail`` holds,
    and every part trickles, so the others are still in flight when it gives up."""

    protocol_version = "HTTP/1.1"
    fail = True

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        first, last = (int(x) for x in self.headers["Range"].split("=")[1].split("-"))
        if type(self).fail and first == 65536:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = BODY[first:last + 1]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(BODY)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for at in range(0, len(body), 8192):
            self.wfile.write(body[at:at + 8192])
            self.wfile.flush()
            if type(self).fail:
                time.sleep(0.05)

    def log_message(self, *args) -> None:
        pass


def test_parts_of_a_file_that_failed_are_not_recorded_as_done(data_dir):
    """One part gives up while the others are in flight: their bytes are not
    written, so they must not be recorded; the rerun fetches them again."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyParts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    etag = "0123456789abcdef0123456789abcdef-2"  # no whole-MiB part size fits: only the size is checked
    settings = EngineSettings(jobs=2, lane_jobs=4, progress_interval=0.05, part_size=64 * 1024, retries=1)
    dest = data_dir / "flaky.bin"
    try:
        _FlakyParts.fail = True
        first = engine_at(endpoint, data_dir, lambda e: None, settings).run(
            Plan(data_dir, (PlanItem("flaky.bin", dest, len(BODY), etag, "glmsingle"),)))
        assert first.failed == 1
        record = partfile.read_record(dest)
        kept = partfile.part_path(dest).read_bytes()
        for index in record.chunks_done if record else ():
            start = index * 65536
            assert kept[start:start + 65536] == BODY[start:start + 65536], f"part {index} recorded, not written"
        _FlakyParts.fail = False
        present = len(kept) if record else 0
        again = engine_at(endpoint, data_dir, lambda e: None, settings).run(
            Plan(data_dir, (PlanItem("flaky.bin", dest, len(BODY), etag, "glmsingle",
                                     state=LocalState.PARTIAL if present else LocalState.ABSENT,
                                     present=present),)))
        assert again.done == 1 and dest.read_bytes() == BODY
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A data directory on a tmpfs of 512 KiB: writes past that are ENOSPC, a real full disk."""
    where = tmp_path / "small-disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs for the full-disk test: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where / "data"
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_stops_the_run_at_once(s3, small_disk):
    """The first write that finds the disk full cancels the run, naming the
    folder; the parts in flight do not go on fetching bytes that cannot be written."""
    s3.throttle(synthetic.LARGE_KEY, 2 * MIB)
    small_disk.mkdir()
    service = sequential_service(s3, small_disk)
    events: list = []
    finished = engine_for(service, events.append).run(service.plan(subject01()))
    assert finished.cancelled, finished
    assert any(isinstance(e, ev.Notice) and "disk full in" in e.message for e in events), finished
    assert s3.bytes_sent(synthetic.LARGE_KEY) < synthetic.LARGE_SIZE // 2, "stopped long before the end"


def test_an_error_in_a_files_wrap_up_fails_that_file_and_the_run_goes_on(odd_server, data_dir, monkeypatch):
    _Handler.answers = {"gone.bin": 404}
    real = partfile.discard

    def discard(dest, **kw):
        if dest.name == "gone.bin":
            raise PermissionError(13, "Permission denied")  # a folder made read-only meanwhile
        return real(dest, **kw)

    monkeypatch.setattr(partfile, "discard", discard)
    items = [item(data_dir, "gone.bin")] + [item(data_dir, f"fine{i}.bin") for i in range(12)]
    finished, _ = run_items(odd_server, data_dir, items)
    assert (finished.done, finished.failed) == (12, 1)
    assert "gone.bin" in dict(finished.failures)


def test_a_chunked_file_kept_whole_by_an_earlier_run_is_renamed(odd_server, data_dir):
    """Every part recorded, a size-only check: nothing to fetch, the file is
    checked on disk and takes its name (it used to meet a closed descriptor)."""
    dest = data_dir / "kept.bin"
    etag = "0123456789abcdef0123456789abcdef-2"
    kept = PlanItem("kept.bin", dest, len(BODY), etag, "glmsingle", state=LocalState.PARTIAL, present=len(BODY))
    partfile.part_path(dest).write_bytes(BODY)
    partfile.write_record(dest, partfile.PartRecord.with_parts(len(BODY), etag, 64 * 1024, [0, 1, 2, 3]), fresh=True)
    finished, _ = run_items(odd_server, data_dir, [kept], part_size=64 * 1024)
    assert finished.done == 1 and dest.read_bytes() == BODY and not _Handler.ranges


class _ClosesWhenIdle(http.server.BaseHTTPRequestHandler):
    """Sends part of BODY, then closes the connection once the test says so
    (the client is paused by then); a ranged retry gets the rest."""

    protocol_version = "HTTP/1.1"
    close_now = threading.Event()
    closed = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        asked = self.headers.get("Range")
        if asked:
            start = int(asked.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
            self.send_header("Content-Length", str(len(BODY) - start))
            self.end_headers()
            self.wfile.write(BODY[start:])
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY[:100_000])
        self.wfile.flush()
        type(self).close_now.wait(60)
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)
        type(self).closed.set()

    def log_message(self, *args) -> None:
        pass


def test_a_connection_lost_during_a_pause_costs_no_attempt(data_dir):
    """The server closes a connection the paused lane holds: the resume
    retries from the byte reached without spending an attempt."""
    _ClosesWhenIdle.close_now, _ClosesWhenIdle.closed = threading.Event(), threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ClosesWhenIdle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rec = Recorder()
    engine = engine_at(f"http://127.0.0.1:{server.server_address[1]}", data_dir, rec,
                       EngineSettings(jobs=2, lane_jobs=4, progress_interval=0.05))
    paused = item(data_dir, "paused.bin")
    runner = threading.Thread(target=engine.run, args=(Plan(data_dir, (paused,)),), daemon=True)
    try:
        runner.start()
        rec.wait_for(lambda e: rec.bytes_of("paused.bin") >= 100_000)
        engine.pause()
        rec.wait_for(lambda e: isinstance(e, ev.Progress) and e.paused)
        window()  # the lane's turn under way ends: its next holds its transfers
        _ClosesWhenIdle.close_now.set()
        assert _ClosesWhenIdle.closed.wait(60)
        engine.resume()
        runner.join(60)
    finally:
        _ClosesWhenIdle.close_now.set()
        server.shutdown()
        server.server_close()
    finished = rec.of(ev.RunFinished)[0]
    assert finished.done == 1 and paused.dest.read_bytes() == BODY
    retries = [e.message for e in rec.events if isinstance(e, ev.Notice) and "retrying" in e.message]
    assert retries and all("(attempt 1)" in m for m in retries), retries
