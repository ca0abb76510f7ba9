"""Lock files no live run holds are taken over at once; a live run's lock is respected.

A lock beside a file names its holder (host, pid, time, token, and the host's
boot id and the process's start time where ``/proc`` has them). Planted here:
locks whose pid is alive but belongs to another process (pids are reused), an
empty lock a crash left, and locks dated in the future. Each run must fetch
the file without waiting: a ``waiting for`` line on stderr fails the test at
once (the old code waited ten minutes there), and the watchdog only bounds a
hang.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env, files_under

from laion_fmri_tui.devserver import synthetic

ARGS = ("--subject", "01", "--ses", "02", "--part-size", "1M", "--n-jobs", "4")
BOUND = 120.0
"""Seconds a run may take at most (a failure bound, far above a normal run)."""


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def start_ticks(pid: int) -> int:
    line = Path(f"/proc/{pid}/stat").read_bytes()
    return int(line[line.rindex(b")") + 2:].split()[19])


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen]:
    """A live process of this host that holds no lock: it stands for a reused pid."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def plant(data_dir: Path, content: str, mtime: float | None = None) -> Path:
    big = data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True, exist_ok=True)
    lock = big.with_name(big.name + ".lock")
    lock.write_text(content)
    if mtime is not None:
        os.utime(lock, (mtime, mtime))
    return lock


@contextlib.contextmanager
def started(s3, data_dir: Path) -> Iterator[subprocess.Popen]:
    """The batch run, killed at the latest after :data:`BOUND` seconds or when the test ends."""
    proc = subprocess.Popen(batch_command(*ARGS, "--data-dir", str(data_dir), "--endpoint-url", s3.url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=batch_env())
    watchdog = threading.Timer(BOUND, proc.kill)
    watchdog.start()
    try:
        yield proc
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_without_waiting(s3, data_dir: Path) -> tuple[str, str]:
    """Run the batch; fail as soon as it says it waits for another process."""
    with started(s3, data_dir) as proc:
        assert proc.stderr is not None and proc.stdout is not None
        err = []
        for line in proc.stderr:
            err.append(line)
            if "waiting for" in line:
                pytest.fail(f"the run waits for a lock no live run holds: {line.strip()}")
        out = proc.stdout.read()
        proc.wait()
    assert proc.returncode == 0, out + "".join(err)
    return out, "".join(err)


def assert_fetched(data_dir: Path, s3_objects, out: str) -> None:
    big = data_dir / synthetic.MULTIPART_KEY
    assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    assert f"done     {synthetic.MULTIPART_KEY}" in out
    assert not [p for p in files_under(data_dir) if ".part" in p or p.endswith(".lock")]


def test_a_lock_whose_pid_now_belongs_to_another_process_is_taken_over(s3, licensed_data_dir, s3_objects,
                                                                       other_process):
    """The pid is alive, but its start time is not the one the lock recorded."""
    plant(licensed_data_dir, json.dumps({
        "host": socket.gethostname(), "pid": other_process.pid, "time": time.time(), "token": "0badc0de",
        "boot": boot_id(), "start": start_ticks(other_process.pid) + 1}))
    out, _ = run_without_waiting(s3, licensed_data_dir)
    assert_fetched(licensed_data_dir, s3_objects, out)


def test_an_older_lock_whose_pid_started_after_it_was_written_is_taken_over(s3, licensed_data_dir, s3_objects,
                                                                            other_process):
    """A lock without a start time (an earlier version's): the process with its
    pid started after the lock was written, so it cannot have written it."""
    written = time.time() - 120
    plant(licensed_data_dir, json.dumps({"host": socket.gethostname(), "pid": other_process.pid,
                                         "time": written, "token": "0badc0de"}), mtime=written)
    out, _ = run_without_waiting(s3, licensed_data_dir)
    assert_fetched(licensed_data_dir, s3_objects, out)


def test_a_lock_of_a_previous_boot_is_taken_over(s3, licensed_data_dir, s3_objects, other_process):
    plant(licensed_data_dir, json.dumps({
        "host": socket.gethostname(), "pid": other_process.pid, "time": time.time(), "token": "0badc0de",
        "boot": "00000000-0000-0000-0000-000000000000", "start": start_ticks(other_process.pid)}))
    out, _ = run_without_waiting(s3, licensed_data_dir)
    assert_fetched(licensed_data_dir, s3_objects, out)


def test_an_empty_lock_older_than_a_few_seconds_is_taken_over(s3, licensed_data_dir, s3_objects):
    plant(licensed_data_dir, "", mtime=time.time() - 60)
    out, _ = run_without_waiting(s3, licensed_data_dir)
    assert_fetched(licensed_data_dir, s3_objects, out)


def test_a_torn_lock_dated_in_the_future_is_taken_over(s3, licensed_data_dir, s3_objects):
    plant(licensed_data_dir, '{"host": "node', mtime=time.time() + 3 * 3600)
    out, _ = run_without_waiting(s3, licensed_data_dir)
    assert_fetched(licensed_data_dir, s3_objects, out)


@pytest.mark.parametrize("node", ["other-node", "this-node"])
def test_a_lock_dated_hours_in_the_future_is_judged_by_its_content(s3, licensed_data_dir, s3_objects,
                                                                   other_process, node):
    """File time and written time both hours ahead: no clock that agrees with
    this one wrote it. On this host its pid (alive, another process's) says so too."""
    future = time.time() + 3 * 3600
    host = "other-node" if node == "other-node" else socket.gethostname()
    plant(licensed_data_dir, json.dumps({"host": host, "pid": other_process.pid, "time": future,
                                         "token": "0badc0de"}), mtime=future)
    out, _ = run_without_waiting(s3, licensed_data_dir)
    assert_fetched(licensed_data_dir, s3_objects, out)


def test_a_fresh_empty_lock_is_waited_for_briefly_then_taken_over(s3, licensed_data_dir, s3_objects):
    """An empty lock may be one another run is writing right now: the run says
    it waits, and takes it over once it stays empty for a few seconds."""
    plant(licensed_data_dir, "")
    result = subprocess.run(batch_command(*ARGS, "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
                            capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL,
                            timeout=BOUND)
    assert result.returncode == 0, result.stdout + result.stderr
    waiting = [line for line in result.stderr.splitlines() if "waiting for" in line]
    assert waiting == [f"warning: waiting for {synthetic.MULTIPART_KEY}: a process that has not written its lock yet "
                       "is fetching it; it is taken over if it stays empty"], result.stderr
    assert_fetched(licensed_data_dir, s3_objects, result.stdout)


@pytest.fixture
def this_program() -> Iterator[subprocess.Popen]:
    """A live process of this host whose command line names laion-fmri-tui
    (as ``argv[0]``), standing for another run of the tool."""
    proc = subprocess.Popen(["bash", "-c", "exec -a laion-fmri-tui sleep 300"])
    deadline = time.monotonic() + 30
    while b"laion-fmri-tui" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the stand-in started"
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("dated", ["now", "in-the-future"])
@pytest.mark.parametrize("holder", ["this-program", "another-program"])
def test_a_live_run_of_this_host_is_respected(s3, licensed_data_dir, s3_objects, this_program, dated, holder):
    """A live process named with its real start time: the run waits, even
    when the lock is dated hours ahead (its content decides). It suggests
    ``kill`` only for a process that runs this program (a lock may name the
    user's shell; here, this test's own process); for another, what to do
    without it, and nothing it will not do (a lock dated ahead is never
    taken over by itself)."""
    when = time.time() + (3 * 3600 if dated == "in-the-future" else 0)
    pid = this_program.pid if holder == "this-program" else os.getpid()
    lock = plant(licensed_data_dir, json.dumps({
        "host": socket.gethostname(), "pid": pid, "time": when, "token": "0badc0de",
        "boot": boot_id(), "start": start_ticks(pid)}), mtime=when)
    if holder == "this-program":
        remedy = f"this run waits until it ends (or stop it: kill {pid})"
    elif dated == "now":
        remedy = (f"this run waits until it ends; if no run of laion-fmri-tui is fetching it (process {pid} "
                  f"runs another program), delete {lock} (taken over by itself 10 minutes after its last refresh)")
    else:
        remedy = (f"this run waits until it ends; if no run of laion-fmri-tui is fetching it, delete {lock} "
                  "(dated in the future, it is not taken over by itself)")
    with started(s3, licensed_data_dir) as proc:
        assert proc.stderr is not None
        line = next((line for line in proc.stderr if "waiting for" in line), "")
        assert line.strip() == (f"warning: waiting for {synthetic.MULTIPART_KEY}: process {pid} on "
                                f"{socket.gethostname()} is fetching it; {remedy}")
        assert proc.poll() is None
        lock.unlink()  # that run ends without the file: this one fetches it
        out, err = proc.communicate(timeout=BOUND)
    assert proc.returncode == 0, out + err
    assert_fetched(licensed_data_dir, s3_objects, out)


ODD_LOCKS = {
    "token-with-a-slash": {"token": "a/b"},
    "token-up-the-tree": {"token": "../../x"},
    "token-with-a-nul": {"token": "ab\u0000cd"},
    "token-of-300-chars": {"token": "a" * 300},
    "pid-of-23-digits": {"pid": 99999999999999999999999},
    "pid-negative": {"pid": -5},
    "time-infinite": {"time": float("inf")},
    "host-a-list": {"host": ["node7"]},
}


@pytest.mark.parametrize("odd", list(ODD_LOCKS.values()), ids=list(ODD_LOCKS))
def test_a_lock_with_fields_the_tool_never_writes_counts_as_unreadable(s3, licensed_data_dir, s3_objects, odd):
    """A token goes into file names and a pid into ``kill``: a lock whose
    fields are not what the tool writes is an unreadable lock (taken over once
    older than a few seconds), never a traceback: in the plan of a dry run, in
    ``info`` and in the run."""
    fields = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "token": "0badc0de", **odd}
    plant(licensed_data_dir, json.dumps(fields), mtime=time.time() - 60)
    where = ("--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url)
    for command in (batch_command(*ARGS, "--dry-run", *where),
                    [sys.executable, "-m", "laion_fmri_tui", "info", "--subject", "01", *where]):
        result = subprocess.run(command, capture_output=True, text=True, env=batch_env(),
                                stdin=subprocess.DEVNULL, timeout=BOUND)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    out, err = run_without_waiting(s3, licensed_data_dir)
    assert "Traceback" not in err
    assert_fetched(licensed_data_dir, s3_objects, out)


MIB = 1024 * 1024


def orphan(data_dir: Path, data: bytes, token: str, kept_parts: int) -> Path:
    """Temp files of a run killed outright (``token``'s), holding the first
    ``kept_parts`` parts of 1 MiB with a record that says so; its lock is gone."""
    big = data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True, exist_ok=True)
    base = big.with_name(f"{big.name}.{token}")
    part = base.with_name(base.name + ".part")
    part.write_bytes(data[:kept_parts * MIB])
    with part.open("r+b") as handle:
        handle.truncate(len(data))
    parts = -(-len(data) // MIB)
    base.with_name(base.name + ".part.json").write_text(json.dumps(
        {"size": len(data), "etag": multipart_etag(data), "chunk_size": MIB,
         "extents": [MIB] * kept_parts + [0] * (parts - kept_parts)}))
    return part


def multipart_etag(data: bytes) -> str:
    part = synthetic.MULTIPART_PART_SIZE
    digests = b"".join(hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part))
    return f"{hashlib.md5(digests).hexdigest()}-{-(-len(data) // part)}"


def assert_resumed_from_the_orphan(s3, data_dir: Path, s3_objects, out: str, err: str) -> None:
    data = s3_objects[synthetic.MULTIPART_KEY].data
    assert "kept bytes discarded" not in err, err
    assert s3.bytes_sent(synthetic.MULTIPART_KEY) == len(data) - 5 * MIB, "the orphan's 5 MiB were kept"
    assert_fetched(data_dir, s3_objects, out)  # and no .part is left, the other orphan neither


def test_temp_files_of_a_killed_run_whose_lock_was_deleted_are_resumed(s3, licensed_data_dir, s3_objects):
    """A run of this host killed outright, its locks deleted by hand: the
    next run resumes from the orphan that keeps most bytes, and removes the other."""
    data = s3_objects[synthetic.MULTIPART_KEY].data
    orphan(licensed_data_dir, data, "0badc0de", 5)
    orphan(licensed_data_dir, data, "0123abcd", 1)
    out, err = run_without_waiting(s3, licensed_data_dir)
    assert_resumed_from_the_orphan(s3, licensed_data_dir, s3_objects, out, err)


def test_a_waiting_run_resumes_the_temp_files_of_a_run_whose_lock_was_deleted(s3, licensed_data_dir, s3_objects):
    """The README's remedy: a run waits for a lock of another node; the user
    deletes it (that run is gone), and the waiting run resumes from the temp
    files that run left, instead of fetching the file again beside them."""
    data = s3_objects[synthetic.MULTIPART_KEY].data
    orphan(licensed_data_dir, data, "0badc0de", 5)
    orphan(licensed_data_dir, data, "0123abcd", 1)
    lock = plant(licensed_data_dir, json.dumps({"host": "node7", "pid": 4242, "time": time.time(),
                                                "token": "0badc0de"}))
    with started(s3, licensed_data_dir) as proc:
        assert proc.stderr is not None
        line = next((line for line in proc.stderr if "waiting for" in line), "")
        assert f"delete {lock}" in line
        lock.unlink()
        out, err = proc.communicate(timeout=BOUND)
    assert proc.returncode == 0, out + err
    assert_resumed_from_the_orphan(s3, licensed_data_dir, s3_objects, out, err)


def test_a_lock_written_in_the_future_is_taken_over_whatever_its_file_time(s3, licensed_data_dir, s3_objects):
    """Another node's lock written three hours ahead, its file time current
    (a file server's clock sets it): no clock that agrees with this one wrote
    it, so it is taken over at once, as the README says."""
    plant(licensed_data_dir, json.dumps({"host": "other-node", "pid": 4242, "time": time.time() + 3 * 3600,
                                         "token": "0badc0de"}))
    out, _ = run_without_waiting(s3, licensed_data_dir)
    assert_fetched(licensed_data_dir, s3_objects, out)


def test_the_waiting_line_never_suggests_killing_process_1(s3, licensed_data_dir, s3_objects):
    """A lock of this host naming pid 1 (alive, and its lock has no start
    time to tell it by) is waited for; the line says to delete the lock if no
    run holds it, never ``kill 1``."""
    lock = plant(licensed_data_dir, json.dumps({"host": socket.gethostname(), "pid": 1, "time": time.time(),
                                                "token": "0badc0de"}))
    with started(s3, licensed_data_dir) as proc:
        assert proc.stderr is not None
        line = next((line for line in proc.stderr if "waiting for" in line), "")
        assert "process 1 on" in line and "kill" not in line and f"delete {lock}" in line, line
        lock.unlink()
        out, err = proc.communicate(timeout=BOUND)
    assert proc.returncode == 0, out + err
    assert_fetched(licensed_data_dir, s3_objects, out)


def test_a_file_at_an_orphans_base_name_never_counts_as_the_finished_file(s3, licensed_data_dir, s3_objects):
    """``X.<token>`` of the object's size beside a tiny ``X.<token>.part``: no
    name the tool writes, so only the final path can make the file complete.
    ``--verify`` says the file is missing, and the run fetches it."""
    data = s3_objects[synthetic.MULTIPART_KEY].data
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    big.with_name(big.name + ".0badc0de").write_bytes(data)
    big.with_name(big.name + ".0badc0de.part").write_bytes(b"x")
    where = ("--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url)
    verify = subprocess.run(batch_command(*ARGS, "--verify", *where), capture_output=True, text=True,
                            env=batch_env(), stdin=subprocess.DEVNULL, timeout=BOUND)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert f"MISSING  {synthetic.MULTIPART_KEY}  (not on disk)" in verify.stdout, verify.stdout
    out, _ = run_without_waiting(s3, licensed_data_dir)
    assert "already complete" not in out, out
    assert big.read_bytes() == data
    assert f"done     {synthetic.MULTIPART_KEY}" in out


@pytest.mark.parametrize("planted", ["fifo-at-the-lock", "fifo-at-an-orphans-record", "link-to-dev-zero-at-an-orphans-record"])
def test_a_lock_or_record_that_is_no_regular_file_never_hangs(s3, licensed_data_dir, s3_objects, planted):
    """A FIFO blocks an open for reading until a writer comes, and
    ``/dev/zero`` never ends: a lock or record is opened without blocking,
    read only when a regular file, and only so far. ``--dry-run``, ``info``
    and the run each end (the run refuses the file whose lock is a FIFO,
    with one line, and fetches it beside an orphan's odd record)."""
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    if planted == "fifo-at-the-lock":
        at = big.with_name(big.name + ".lock")
        os.mkfifo(at)
    else:
        big.with_name(big.name + ".0badc0de.part").write_bytes(b"x" * MIB)
        at = big.with_name(big.name + ".0badc0de.part.json")
        if planted.startswith("fifo"):
            os.mkfifo(at)
        else:
            at.symlink_to("/dev/zero")
    where = ("--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url)
    for command in (batch_command(*ARGS, "--dry-run", *where),
                    [sys.executable, "-m", "laion_fmri_tui", "info", "--subject", "01", *where]):
        result = subprocess.run(command, capture_output=True, text=True, env=batch_env(),
                                stdin=subprocess.DEVNULL, timeout=60)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    result = subprocess.run(batch_command(*ARGS, *where), capture_output=True, text=True, env=batch_env(),
                            stdin=subprocess.DEVNULL, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    if planted == "fifo-at-the-lock":
        assert result.returncode == 1, result.stdout + result.stderr
        assert (f"FAILED   {synthetic.MULTIPART_KEY}: refusing {at}: it is not a regular file; remove it and rerun"
                in result.stdout), result.stdout
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
