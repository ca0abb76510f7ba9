"""Ctrl-C while a headless command only waits on the bucket: leave at once.

While a command lists, plans or takes an inventory, nothing is being written,
so Ctrl-C has nothing to save: the tool prints its one line and ends with
130 from the signal handler itself. Leaving it to Python's default
``KeyboardInterrupt`` was not reliable: the exception is raised in whatever
Python code the main thread runs when the signal is handled, and when that is
a finaliser or a weak-reference callback (the import system runs one after
every module it loads, and ``--batch`` imports its printer while the first
listings are on their way) the interpreter prints "Exception ignored" and
drops it. The main thread then went back to waiting for listings that ride
out ``--retry-for`` against an endpoint that does not answer (seen as a hang
past 60 s under load). A download installs its own handler (it cancels the
engine, so every partial file is parked) for as long as it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator

from laion_fmri_tui.batch.exit_codes import ExitCode


@contextlib.contextmanager
def leave_at_once(prog: str, *, whole_process: bool) -> Iterator[None]:
    """While the block runs, SIGINT ends the process with its one line and 130.

    Only when the command is the process's whole life (the console script):
    a caller that goes on afterwards (a test, a notebook) gets the
    ``KeyboardInterrupt`` as before."""
    if not whole_process:
        yield
        return

    def leave(_signum, _frame) -> None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()  # lines already printed stay whole; a reentrant flush is skipped
        with contextlib.suppress(OSError):
            os.write(2, f"{prog}: interrupted\n".encode())
        os._exit(int(ExitCode.INTERRUPTED))

    previous = signal.signal(signal.SIGINT, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
