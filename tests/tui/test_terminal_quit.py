"""Quitting mid-transfer: the engine is told to stop before the app leaves the screen.

The terminal comes back when Textual ends, before it unmounts the screens;
the engine used to be told to stop only then, at the unmount, and waited
for there (up to STOP_GRACE), so its cancel and the app's shutdown took
their time one after the other, with the shell's prompt waiting for both.
Now the confirming key tells the engine at once, and the bounded wait for
its end comes once the terminal is back.

Seen by the order of events, not by time: the engine process is stopped
(SIGSTOP) so the cancel stays unread in its stdin pipe, where the test sees
it arrive (FIONREAD); it must arrive while the pane is still in the
alternate screen (tmux's ``alternate_on``). Then the app ends, the stopped
engine is killed, and its partial files stay.
"""

from __future__ import annotations

import array
import fcntl
import os
import signal
import subprocess
import termios

import pytest

from terminal import SIZES, Terminal, app_pid, server_args, wait_gone
from test_terminal_stops import download_sub01, engine_children


def unread(pid: int) -> int:
    """Bytes written to process ``pid``'s stdin pipe that it has not read."""
    fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    try:
        buf = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, buf)
        return buf[0]
    finally:
        os.close(fd)


def alternate_screen(term: Terminal) -> bool:
    """Whether the pane shows the alternate screen (the app's), not the shell's."""
    return subprocess.run([*term.base, "display", "-p", "-t", "t", "#{alternate_on}"], capture_output=True,
                          text=True, check=True).stdout.strip() == "1"


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_quitting_tells_the_engine_before_the_terminal_is_back(tmp_path, s3, access, licensed_data_dir, size):
    s3.throttle(None, 20_000)
    with Terminal.start(tmp_path / "term", server_args(s3, access, licensed_data_dir), size=size) as term:
        download_sub01(term, s3)
        engines = engine_children(app_pid(term))
        assert engines, "no engine process"
        for child in engines:
            os.kill(child, signal.SIGSTOP)
        try:
            before = {child: unread(child) for child in engines}
            term.keys("q")
            term.wait_for("Quit (y/enter)")
            term.keys("y")
            while True:
                told = any(unread(child) > before[child] for child in engines if os.path.exists(f"/proc/{child}/fd/0"))
                on_screen = alternate_screen(term)  # read after: the pane leaves it once, never comes back
                if told:
                    assert on_screen, "the engine was told to stop only after the app had left the screen"
                    break
                assert on_screen, "the app left the screen before it told the engine to stop"
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
