"""Quitting mid-transfer: the engine is told to stop before the app leaves the screen.

The terminal comes back when Textual ends, before it unmounts the screens;
the engine used to be told to stop only then, at the unmount, and waited
for there (up to STOP_GRACE), so its cancel and the app's shutdown took
their time one after the other, with the shell's prompt waiting for both.
Now the confirming key tells the engine at once, and the bounded wait for
its end comes once the terminal is back.

Seen by the order of events, not by time. The engine processes are stopped
(SIGSTOP), so the cancel stays unread in a stdin pipe, where the test waits
for it (``poll`` on the pipe). The moment it arrives the app is stopped too:
what it has written to its terminal by then is all it will have written.
A marker the test then writes to the pane's tty (a title) comes after all
of it; once tmux shows the marker it has read everything the app wrote, and
the pane must still be in the alternate screen (tmux's ``alternate_on``).
Polling the pane instead (tmux answers in tens of ms) failed on a loaded
machine: the app, rightly told first, had left the screen by the time tmux
answered. Then the app ends, the stopped engine is killed, and its partial
files stay.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
import select
import signal
import termios
import time

import pytest

from terminal import SIZES, Terminal, app_pid, server_args, wait_gone
from test_terminal_stops import download_sub01, engine_children

MARK = "quit-order-mark"


def unread(fd: int) -> int:
    """Bytes in the pipe ``fd`` reads from that nobody has read."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


@contextlib.contextmanager
def first_in_line():
    """Real-time priority for this thread, where allowed: woken by the pipe, it stops
    the app before the app's next step, however loaded the machine."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except OSError:
        yield
        return
    try:
        yield
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


@contextlib.contextmanager
def stdin_pipes(engines: list[int]):
    """Read ends of the engines' stdin pipes, to watch what the app writes there."""
    pipes = [os.open(f"/proc/{child}/fd/0", os.O_RDONLY | os.O_NONBLOCK) for child in engines]
    try:
        yield pipes
    finally:
        for fd in pipes:
            os.close(fd)


def stop_app_once_told(app: int, pipes: list[int], before: dict[int, int], timeout: float = 30.0) -> None:
    """Sleep until an engine's stdin holds more unread bytes than ``before``, then SIGSTOP the app."""
    waiting = select.poll()
    for fd in pipes:
        waiting.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout  # bounds a failure only
    with first_in_line():
        while time.monotonic() < deadline:
            for fd, event in waiting.poll(100):
                if unread(fd) > before[fd]:
                    os.kill(app, signal.SIGSTOP)
                    return
                if event & (select.POLLHUP | select.POLLERR):  # a spare's stdin closed: no word
                    waiting.unregister(fd)
                elif event & select.POLLIN:  # bytes from before the question: look again shortly
                    time.sleep(0.001)
    raise AssertionError("the engine was never told to stop")


def everything_shown(term: Terminal) -> None:
    """Return once tmux has read all the (stopped) app wrote to the pane: a title set after it."""
    tty = os.open(term.display("#{pane_tty}"), os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(tty, f"\x18\x1b]2;{MARK}\x07".encode())  # CAN ends any sequence left half-written
    finally:
        os.close(tty)
    deadline = time.monotonic() + 30
    while term.display("#{pane_title}") != MARK:
        assert time.monotonic() < deadline, "tmux never read the marker"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_quitting_tells_the_engine_before_the_terminal_is_back(tmp_path, s3, access, licensed_data_dir, size):
    s3.throttle(None, 20_000)
    with Terminal.start(tmp_path / "term", server_args(s3, access, licensed_data_dir), size=size) as term:
        download_sub01(term, s3)
        app = app_pid(term)
        engines = engine_children(app)
        assert engines, "no engine process"
        for child in engines:
            os.kill(child, signal.SIGSTOP)
        try:
            term.keys("q")
            term.wait_for("Quit (y/enter)")
            with stdin_pipes(engines) as pipes:
                before = {fd: unread(fd) for fd in pipes}
                term.keys("y", gap=0)  # watch at once: the app tells the engine, then leaves
                stop_app_once_told(app, pipes, before)
            try:
                everything_shown(term)
                on_screen = term.display("#{alternate_on}") == "1"
            finally:
                os.kill(app, signal.SIGCONT)
            assert on_screen, "the engine was told to stop only after the app had left the screen"
            assert term.wait_exit(timeout=30) == 0
            for child in engines:
                wait_gone(child)  # the stopped engine never answers: killed after the bounded wait
        finally:
            for child in engines:
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert [p for p in licensed_data_dir.rglob("*") if ".part" in p.name], "the partial files are kept"
