"""The terminal echoes no key while the app starts.

Between the shell starting the program and Textual's first frame (the
imports, and in ``--demo`` the local servers and their synthetic bucket:
seconds on a busy node), the terminal is still in the shell's cooked mode:
every key typed meanwhile was echoed onto the screen, and left there when the
app ended. :func:`no_echo` turns echo off for that time; Textual's driver
takes the terminal as it finds it and gives it back so, and the settings the
shell had come back on exit (a key, a signal, an error alike).
"""

from __future__ import annotations

import contextlib
import termios
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def no_echo(stream: IO | None) -> Iterator[None]:
    """No echo on the terminal of ``stream`` (the app's stdin) inside the block;
    its settings as before afterwards. Nothing changes if it is no terminal."""
    try:
        fd = stream.fileno()  # type: ignore[union-attr]
        saved = termios.tcgetattr(fd)
    except (AttributeError, ValueError, OSError, termios.error):  # closed, or not a terminal
        yield
        return
    quiet = list(saved)
    quiet[3] = saved[3] & ~(termios.ECHO | termios.ECHONL)
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        yield
    finally:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSANOW, saved)
