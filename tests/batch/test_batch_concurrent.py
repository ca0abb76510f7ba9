"""Several runs on one data directory at once: each file fetched once, all correct, all exit 0.

Runs coordinate through lock files beside the files (O_EXCL, with the holder's
host, pid and time); each process writes temp files of its own names.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env, planned, files_under

from laion_fmri_tui.core.plan.bids import bidsify_local_key
from laion_fmri_tui.devserver import synthetic

MIB = 1024 * 1024
ARGS = ("--subject", "01", "--ses", "02", "--part-size", "1M", "--n-jobs", "4")


def start(s3, data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        batch_command(*args, "--data-dir", str(data_dir), "--endpoint-url", s3.url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=batch_env())


def leftovers(data_dir: Path) -> list[str]:
    return [p for p in files_under(data_dir) if ".part" in p or p.endswith(".lock")]


@pytest.mark.parametrize("runs", [2, 2, 4, 4], ids=["two-a", "two-b", "four-a", "four-b"])
def test_concurrent_runs_fetch_each_file_once_and_all_exit_0(s3, licensed_data_dir, s3_objects, runs):
    items = planned(s3, licensed_data_dir, *ARGS)
    s3.clear_log()
    s3.throttle(synthetic.MULTIPART_KEY, 1 * MIB)  # per GET: the big file takes seconds, so runs meet on it
    procs = [start(s3, licensed_data_dir, *ARGS) for _ in range(runs)]
    outputs = [proc.communicate(timeout=120) for proc in procs]

    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err
        assert "Traceback" not in err and "cannot write" not in out + err
    for item in items:
        assert Path(item["path"]).read_bytes() == s3_objects[item["key"]].data, item["key"]
        assert s3.bytes_sent(item["key"]) == item["size"], f"{item['key']} was fetched more than once"
    assert not leftovers(licensed_data_dir), "no temp file, resume record or lock is left"
    assert sum(f"done     {synthetic.MULTIPART_KEY}" in out for out, _ in outputs) == 1
    assert sum(f"skipped  {synthetic.MULTIPART_KEY}  (fetched by " in out for out, _ in outputs) == runs - 1, \
        "every other run counts the big file as fetched by the one that did"


def test_a_run_waits_for_a_live_holder_and_fetches_the_file_when_it_gives_up(s3, licensed_data_dir, s3_objects):
    """A lock of a live process on another node: the run says so, waits, and
    fetches the file itself once that process leaves it unfinished."""
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    lock = big.with_name(big.name + ".lock")
    lock.write_text(json.dumps({"host": "other-node", "pid": 4242, "time": time.time(), "token": "0badc0de"}))
    proc = start(s3, licensed_data_dir, *ARGS)
    waiting = f"waiting for {synthetic.MULTIPART_KEY}: process 4242 on other-node is fetching it"
    err_lines = []
    assert proc.stderr is not None
    for line in proc.stderr:
        err_lines.append(line)
        if waiting in line:
            break
    assert waiting in "".join(err_lines)
    assert err_lines[-1].strip().endswith(f"is fetching it; this run waits until it ends; if it no longer runs "
                                          f"there, delete {lock} (taken over by itself 10 minutes after its "
                                          "last refresh)"), "one line says who holds it and how to proceed"
    assert proc.poll() is None and not big.exists(), "it waits while the holder lives"
    lock.unlink()  # the other run stopped without finishing it
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    assert f"done     {synthetic.MULTIPART_KEY}" in out
    assert not leftovers(licensed_data_dir)


def test_a_stale_lock_of_another_node_is_taken_over(s3, licensed_data_dir, s3_objects):
    """Not refreshed for longer than the limit: its holder is gone, whatever its host."""
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    lock = big.with_name(big.name + ".lock")
    old = time.time() - 3 * 3600
    lock.write_text(json.dumps({"host": "other-node", "pid": 4242, "time": old, "token": "0badc0de"}))
    os.utime(lock, (old, old))
    result = subprocess.run(batch_command(*ARGS, "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
                            capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waiting for" not in result.stderr
    assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    assert not leftovers(licensed_data_dir)


def test_a_killed_runs_lock_is_taken_over_and_its_part_adopted(s3, licensed_data_dir, s3_objects):
    """A run killed outright leaves its lock (a dead pid on this host) and its
    own-named ``.part``: the next run takes both over and keeps the parts on disk."""
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    lock = big.with_name(big.name + ".lock")
    s3.throttle(synthetic.MULTIPART_KEY, 1 * MIB)
    proc = start(s3, licensed_data_dir, *ARGS)
    deadline = time.monotonic() + 60
    while s3.bytes_sent(synthetic.MULTIPART_KEY) < 6 * MIB:  # some parts are finished and recorded
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    holder = json.loads(lock.read_text())
    assert holder["host"] == socket.gethostname() and holder["pid"] == proc.pid
    killed_part = big.with_name(f"{big.name}.{holder['token']}.part")
    assert killed_part.exists()
    s3.reset()

    rerun = subprocess.run(batch_command(*ARGS, "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
                           capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    assert "resumed" in rerun.stdout and s3.bytes_sent(synthetic.MULTIPART_KEY) < synthetic.MULTIPART_SIZE
    assert not leftovers(licensed_data_dir)
    assert bidsify_local_key(synthetic.MULTIPART_KEY) in files_under(licensed_data_dir)
