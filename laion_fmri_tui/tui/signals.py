"""SIGHUP and SIGTERM end the app the way ``q`` does, so its ``finally`` blocks run.

Python's default for both signals ends the process at once: the demo's
temporary directory and servers stayed behind when an ssh connection dropped
(SIGHUP) or a job scheduler stopped the app (SIGTERM), and the terminal was
left in the alternate screen. While the app runs, the first signal asks it to
exit (from the event loop's thread, as a key would); a second one, or one that
arrives before the app runs, raises ``SystemExit`` where the main thread is.
Either way the program unwinds through its context managers. The exit code is
128 + the signal number, as a shell reports a killed program.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from textual.app import App

STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


class SignalExit:
    """Holds the running app, if any, for the handler."""

    def __init__(self) -> None:
        self.app: App | None = None
        self.caught: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.caught is None
        self.caught = signum
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if first and self.app is not None and loop is not None:
            loop.call_soon_threadsafe(self.app.exit, None, 128 + signum)
            return
        raise SystemExit(128 + signum)


@contextlib.contextmanager
def exit_on_signals() -> Iterator[SignalExit]:
    """Handle SIGHUP and SIGTERM inside the block (main thread only); set ``.app``
    once the app is made. The previous handlers come back afterwards."""
    holder = SignalExit()
    previous = {sig: signal.signal(sig, holder.handle) for sig in STOP_SIGNALS}
    try:
        yield holder
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
