"""The transfer engine in a child process: what the app runs its downloads with.

In one process, the app's event loop and the engine's worker threads share
one GIL. Every socket read wakes a worker, and the loop has to win the GIL
back at each of its awaits, so while 32 workers stream, a key press waited
more than a second and the rate halved (``bench/app_bench.py``). A child
process gives the engine its own interpreter: the same events (already
coalesced by the engine) come back over a pipe, and pause, resume, cancel and
the bandwidth cap go the other way. ``--batch`` has no event loop to starve
and keeps the engine in-process.

The child is ``python -m laion_fmri_tui.core.engine_process``; pickled
messages go over its stdin (settings, plan, then commands) and stdout
(events). Plain ``subprocess`` rather than ``multiprocessing``: the app
replaces ``sys.stderr`` with a capture that has no file descriptor, which
multiprocessing's helper process cannot start with.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from typing import BinaryIO

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.errors import LaionFmriError
from laion_fmri_tui.core.plan import Plan


NICENESS = 0
"""How much lower the child's CPU priority is than the app's: on a busy
(login) node, a key press must not wait behind byte copying and hashing."""


class EngineProcess:
    """A :class:`~laion_fmri_tui.core.transfer.engine.TransferEngine`'s control surface,
    with the engine itself in a child process. Usable once; thread-safe."""

    def __init__(self, settings, sink: ev.EventSink) -> None:
        self._settings = settings
        """The parent's ``ServiceSettings``: the child builds its own service from them."""
        self._sink = sink
        self._lock = threading.Lock()
        self._commands: BinaryIO | None = None
        self._early: list[tuple] = []
        self._paused = False
        self._bandwidth = settings.engine.max_bandwidth

    # control (the same calls as TransferEngine) --------------------------------
    def pause(self) -> None:
        self._paused = True
        self._send("pause")

    def resume(self) -> None:
        self._paused = False
        self._send("resume")

    @property
    def paused(self) -> bool:
        return self._paused

    def cancel(self, reason: str | None = None) -> None:
        self._send("cancel", reason)

    def set_bandwidth(self, bytes_per_second: int | None) -> None:
        self._bandwidth = bytes_per_second
        self._send("bandwidth", bytes_per_second)

    @property
    def bandwidth(self) -> int | None:
        return self._bandwidth

    # run -----------------------------------------------------------------------
    def run(self, plan: Plan) -> ev.RunFinished:
        """Start the child, relay its events to the sink until the run is over."""
        child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert child.stdin is not None and child.stdout is not None
        with self._lock:
            _put(child.stdin, (self._settings, plan))
            for command in self._early:
                _put(child.stdin, command)
            self._early.clear()
            self._commands = child.stdin
        try:
            while True:
                try:
                    kind, payload = pickle.load(child.stdout)
                except (EOFError, pickle.UnpicklingError):
                    raise LaionFmriError(f"the transfer process ended unexpectedly (exit code {child.wait()}); "
                                         "partial files are kept, start the download again to resume") from None
                if kind == "error":
                    raise LaionFmriError(payload)
                self._sink(payload)
                if isinstance(payload, ev.RunFinished):
                    return payload
        finally:
            with self._lock:
                self._commands = None
            child.stdin.close()  # the child cancels (keeping every .part) if it still runs
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            child.stdout.close()

    def _send(self, *command) -> None:
        with self._lock:
            if self._commands is None:
                self._early.append(command)
                return
            try:
                _put(self._commands, command)
            except OSError:  # the child has just finished
                pass


def _put(stream: BinaryIO, message: object) -> None:
    pickle.dump(message, stream, protocol=pickle.HIGHEST_PROTOCOL)
    stream.flush()


def serve(commands: BinaryIO, events: BinaryIO) -> None:
    """The child's side: build the engine, obey commands, send every event."""
    from laion_fmri_tui.core.service import DownloadService

    settings, plan = pickle.load(commands)
    try:
        os.nice(NICENESS)  # the transfers yield the CPU to the app the user is typing into
    except OSError:
        pass
    lock = threading.Lock()

    def send(event: ev.Event) -> None:
        with lock:
            _put(events, ("event", event))

    try:
        engine = DownloadService(settings).engine(send, plan)
    except LaionFmriError as error:
        _put(events, ("error", str(error)))
        return
    threading.Thread(target=_obey, args=(engine, commands), name="commands", daemon=True).start()
    engine.run(plan)


def _obey(engine, commands: BinaryIO) -> None:
    calls = {"pause": engine.pause, "resume": engine.resume, "cancel": engine.cancel,
             "bandwidth": engine.set_bandwidth}
    while True:
        try:
            name, *args = pickle.load(commands)
        except (EOFError, OSError, pickle.UnpicklingError):  # the app is gone: keep every .part, stop
            engine.cancel()
            return
        calls[name](*args)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
