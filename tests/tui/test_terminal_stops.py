"""Stopping a download in a real terminal ends it even when the engine does not answer.

The installed app in tmux downloads sub-01 from the suite's S3, slowed so the
run is still going; then every engine process of the app (the running one and
the waiting spare) is stopped with SIGSTOP, so none can ever answer a cancel.
``q`` (confirmed with ``y``), SIGTERM and ``c`` (confirmed) must still end the
app or the run: the app is told nothing about the stopped child, it must give
up waiting on its own and kill it. Before, the app waited for the child's last
word: the terminal stayed blank forever (and, with a child that did answer,
for 2-7 s). The timeouts here only bound a failure; they measure nothing.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from terminal import Terminal, app_pid, server_args, wait_gone

STOPPED_ENGINE = ("quit", "sigterm", "cancel")


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def engine_children(parent: int) -> list[int]:
    """The app's engine processes (running or spare), by their command line."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"laion_fmri_tui.core.run.engine_process" in cmdline:
            found.append(int(stat.parent.name))
    return found


def download_sub01(term: Terminal, s3) -> None:
    """Tick sub-01 (the first cursor is on it, the first row that can be ticked), review, start,
    and return once bytes move."""
    term.wait_for("sub-01")
    term.keys("Space")
    term.wait_for("[x] sub-01", "to fetch")
    term.keys("d")
    term.wait_for("Download this selection?")
    term.keys("y")
    term.wait_for("Downloading", "ETA")
    term.wait_until(lambda _: s3.bytes_sent() > 0, what="bytes moving")


def tcp_ports(pids: list[int]) -> set[int]:
    """The local ports of every TCP socket the processes ``pids`` hold.

    The server logs a request when it reads it, which can be well after the
    client sent it (a loaded machine, a connection still in the listen
    backlog): the port tells which process asked, whenever it is logged."""
    ports = set()
    for pid in pids:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        for table in ("tcp", "tcp6"):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.slow
@pytest.mark.parametrize("how", STOPPED_ENGINE)
def test_a_stop_ends_the_run_when_the_engine_never_answers(tmp_path, s3, access, licensed_data_dir, how):
    s3.throttle(None, 20_000)
    with Terminal.start(tmp_path / "term", server_args(s3, access, licensed_data_dir)) as term:
        download_sub01(term, s3)
        pid = app_pid(term)
        engines = engine_children(pid)
        assert engines, "no engine process"
        for child in engines:
            os.kill(child, signal.SIGSTOP)
        stopped_ports = tcp_ports(engines)  # what they sent before they stopped may be logged later
        try:
            if how == "quit":
                term.keys("q")
                term.wait_for("Quit (y/enter)")
                term.keys("y")
                assert term.wait_exit(timeout=30) == 0
            elif how == "sigterm":
                os.kill(pid, signal.SIGTERM)
                assert term.wait_exit(timeout=30) == 128 + signal.SIGTERM
            else:
                term.keys("c")
                term.wait_for("Cancel download (y/enter)")
                term.keys("y")
                term.wait_for("Cancelled (partial files kept)", timeout=30)
                logged = len(s3.requests)
                # the run's engine is killed: nothing of the run can ask the server for more (a
                # spare engine the app started for the next run may stay: it holds no run)
                term.wait_until(lambda _: not all(running(child) for child in engines),
                                what="the run's engine process ended")
                term.keys("q")  # nothing runs now: no question
                assert term.wait_exit(timeout=30) == 0
                later = [r for r in s3.requests[logged:] if r.method == "GET" and r.key]
                assert all(r.port in stopped_ports for r in later), "GETs after the cancel had taken effect"
            for child in engines:
                wait_gone(child)
        finally:
            for child in engines:  # a failed run of this test leaves no stopped process behind
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert [p for p in licensed_data_dir.rglob("*") if ".part" in p.name], "the partial files are kept"
