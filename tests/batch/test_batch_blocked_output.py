"""An output nobody reads never stalls the transfer.

``--batch`` runs as a subprocess whose stderr (or stdout) is a pipe this
test does not read until every file is on disk, shrunk to one page so that
a few lines fill it (a job log on a hung mount, ``| less``, a stalled ssh
session, tmux in copy mode). Before the printer had a thread of its own, the
lane that wrote a retry line (or the main thread, holding the printer's lock,
that wrote finished files) blocked in ``write`` and the transfer stopped: the
files never all arrived. What is checked is the files on disk, the exit code
and the summary, never how long anything took: the waits are failure bounds.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
import time
from pathlib import Path

from batchtools import batch_command, batch_env
from s3standin import StandIn

FS = "derivatives/freesurfer/sub-01/label"
PAGE = 4096
"""Bytes a pipe holds once shrunk (Linux's smallest pipe)."""


def objects(count: int) -> dict[str, bytes]:
    return {"dataset_description.json": b'{"Name": "stand-in"}\n',
            **{f"{FS}/f{n:03d}.label": b"label %d\n" % n * 40 for n in range(count)}}


def all_on_disk(stand_in: StandIn, data_dir: Path) -> bool:
    return all((data_dir / key).is_file() for key in stand_in.objects)


def run_unread(stand_in: StandIn, data_dir: Path, unread: str, log: Path, *args: str) -> tuple[int, str, str]:
    """Run against ``stand_in`` with ``unread`` (``stdout`` or ``stderr``) a
    one-page pipe left alone until every file is on disk (the other stream
    goes to ``log``); then read it. Returns the exit code, stdout and stderr."""
    with log.open("w") as other:
        pipes = {"stdout": other, "stderr": other, unread: subprocess.PIPE}
        proc = subprocess.Popen(
            batch_command("--subject", "01", "--only", "freesurfer", "--data-dir", str(data_dir),
                          "--endpoint-url", stand_in.url, *args),
            stdin=subprocess.DEVNULL, env=batch_env(), text=True, **pipes)
        pipe = proc.stdout if unread == "stdout" else proc.stderr
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PAGE)
        try:
            bound = time.monotonic() + 90  # a failure bound: the files stopped coming
            while not all_on_disk(stand_in, data_dir) and proc.poll() is None and time.monotonic() < bound:
                time.sleep(0.1)
            arrived = all_on_disk(stand_in, data_dir)
            text = "".join(filter(None, proc.communicate(timeout=60)))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert arrived, f"the transfer stopped while its {unread} was not read"
    other_text = log.read_text()
    return (proc.returncode, text, other_text) if unread == "stdout" else (proc.returncode, other_text, text)


def test_a_throttled_run_whose_stderr_nobody_reads_fetches_every_file(licensed_data_dir, tmp_path):
    """Each of 120 files is throttled once (503 SlowDown): the old client wrote
    a line per retry (about 130 bytes each) on the lane's thread and stopped
    once the page was full."""
    stand_in = StandIn(objects(119)).start()
    try:
        stand_in.script.burst_each = True
        code, out, err = run_unread(stand_in, licensed_data_dir, "stderr", tmp_path / "stdout.log")
    finally:
        stand_in.stop()
    assert code == 0, out + err
    assert "finished: 120 done, 0 skipped, 0 failed" in out, out
    for key, data in stand_in.objects.items():
        assert (licensed_data_dir / key).read_bytes() == data
    throttled = [r for r in stand_in.log if r.key and r.status == 503]
    said = sum(int(m[1]) for m in re.finditer(r"warning: retrying (\d+) requests? for", err))
    assert len(throttled) == 120 and said == 120, err  # every retry counted, none lost


def test_a_run_whose_stdout_nobody_reads_fetches_every_file(licensed_data_dir, tmp_path):
    """150 finished files' lines (about 70 bytes each) fill the page: the
    old client's main thread blocked writing them while holding the
    printer's lock, and every lane that finished a file waited on it."""
    stand_in = StandIn(objects(149)).start()
    try:
        code, out, err = run_unread(stand_in, licensed_data_dir, "stdout", tmp_path / "stderr.log")
    finally:
        stand_in.stop()
    assert code == 0, out + err
    assert "finished: 150 done, 0 skipped, 0 failed" in out, out[-2000:]
    assert len([line for line in out.splitlines() if line.startswith("done ")]) == 150  # none left out
    assert len(out) > PAGE  # the pipe really was full while the files came


def test_json_events_wait_for_an_unread_stdout_and_none_is_lost(licensed_data_dir, tmp_path):
    """``--json`` on a full pipe: every event is written once stdout moves
    again, one per retry (scripts count them)."""
    import json

    stand_in = StandIn(objects(99)).start()
    try:
        stand_in.script.burst_each = True
        code, out, err = run_unread(stand_in, licensed_data_dir, "stdout", tmp_path / "stderr.log", "--json")
    finally:
        stand_in.stop()
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    retries = [e for e in events if e["event"] == "notice" and e["message"].startswith("retrying ")]
    assert len(retries) == 100 and {e["key"] for e in retries} == set(stand_in.objects)
    assert all(e["kind"] == "throttled" and e["attempt"] == 2 for e in retries)
    assert len([e for e in events if e["event"] == "file_done"]) == 100


def test_an_output_blocked_past_the_bound_leaves_lines_out_and_says_how_many():
    """The queue of a blocked output is bounded: past it, finished files'
    lines are counted, not kept; failures and the end of the run are kept,
    and one line says what was left out once the output moves."""
    import threading

    from laion_fmri_tui.batch.output import PrinterThread
    from laion_fmri_tui.core import events as ev

    blocked, printed = threading.Event(), []

    class Stuck:
        """A printer whose first write blocks until the test lets it go."""

        def __call__(self, event) -> None:
            blocked.wait(60)
            printed.append(event)

        def flush(self) -> None:
            pass

    writer = PrinterThread(Stuck(), bound=10, every=0.01)
    writer(ev.FileFailed("first", "failed"))
    for n in range(30):  # never blocks: the engine's threads go on
        writer(ev.FileDone(f"f{n}", 1, 1, "md5"))
    writer(ev.FileFailed("late", "failed"))
    writer(ev.RunFinished(30, 0, 2, 30, 1.0))
    blocked.set()
    writer.close()
    done = [e for e in printed if isinstance(e, ev.FileDone)]
    [notice] = [e for e in printed if isinstance(e, ev.Notice)]
    assert len(done) + int(re.search(r"(\d+) lines", notice.message)[1]) == 30, notice.message
    assert len(done) <= 10 and "the summary counts every file" in notice.message
    assert [e.key for e in printed if isinstance(e, ev.FileFailed)] == ["first", "late"]
    assert isinstance(printed[-1], ev.RunFinished)


def test_the_apps_engine_child_fetches_every_file_while_its_event_pipe_is_not_read(data_dir):
    """The app's engine runs in a child that sends its events over a pipe.
    That pipe, one page and not read until every file is on disk (an app
    busy drawing): the child's lanes only queue their events, a thread of
    its own writes them, so every file arrives and every event follows."""
    import pickle
    import sys

    from laion_fmri_tui.core import events as ev
    from laion_fmri_tui.core.plan.selection import Selection
    from laion_fmri_tui.core.run.engine_process import CHILD_CODE, PACKAGE_ROOT
    from laion_fmri_tui.core.service import DownloadService
    from laion_fmri_tui.core.settings import S3Settings, ServiceSettings

    stand_in = StandIn(objects(119)).start()
    try:
        stand_in.script.burst_each = True
        service = DownloadService(ServiceSettings(data_dir=data_dir, s3=S3Settings(endpoint_url=stand_in.url)))
        plan = service.plan(Selection(subjects=("sub-01",), components=frozenset({"freesurfer"})))
        assert plan.files == 120
        child = subprocess.Popen([sys.executable, "-c", CHILD_CODE.format(root=PACKAGE_ROOT)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            fcntl.fcntl(child.stdout.fileno(), fcntl.F_SETPIPE_SZ, PAGE)
            pickle.dump(service.run_spec(plan), child.stdin)
            child.stdin.flush()
            bound = time.monotonic() + 90  # a failure bound: the files stopped coming
            while not all_on_disk(stand_in, data_dir) and child.poll() is None and time.monotonic() < bound:
                time.sleep(0.1)
            assert all_on_disk(stand_in, data_dir)
            events: list[ev.Event] = []
            while not events or not isinstance(events[-1], ev.RunFinished):
                kind, payload = pickle.load(child.stdout)
                assert kind == "events", payload
                events += payload
        finally:
            child.kill()
            child.wait()
    finally:
        stand_in.stop()
    assert events[-1].done == 120 and events[-1].failed == 0
    assert len([e for e in events if isinstance(e, ev.FileDone)]) == 120
    assert len([e for e in events if isinstance(e, ev.Retrying)]) == 120


def test_sigterm_ends_a_run_whose_stdout_nobody_reads(licensed_data_dir, tmp_path):
    """Every file is on disk and the run is over, but its last lines wait on a
    full stdout that nobody reads: SIGTERM (``kill``, a SLURM time limit) ends
    the process with 143 once the output has taken nothing for a few seconds.
    It waited for the output to move, however often it was signalled, until
    SIGKILL. Every file stays whole."""
    import os
    import signal

    stand_in = StandIn(objects(149)).start()
    try:
        with (tmp_path / "stderr.log").open("w") as err:
            proc = subprocess.Popen(
                batch_command("--subject", "01", "--only", "freesurfer", "--data-dir", str(licensed_data_dir),
                              "--endpoint-url", stand_in.url),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=batch_env())
            fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, PAGE)
            try:
                bound = time.monotonic() + 90  # failure bounds only
                while not all_on_disk(stand_in, licensed_data_dir) and time.monotonic() < bound:
                    time.sleep(0.1)
                assert all_on_disk(stand_in, licensed_data_dir)
                assert proc.poll() is None, "the output was not blocked: nothing to test"
                os.kill(proc.pid, signal.SIGTERM)
                code = proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
    finally:
        stand_in.stop()
    assert code == 128 + signal.SIGTERM
    for key, data in stand_in.objects.items():
        assert (licensed_data_dir / key).read_bytes() == data
    assert not [p for p in licensed_data_dir.rglob("*") if ".part" in p.name]
