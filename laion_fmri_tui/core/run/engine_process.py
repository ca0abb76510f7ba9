"""The transfer engine in a child process: what the app runs its downloads with.

In one process, the app's event loop and the engine's worker threads share
one GIL. Every socket read wakes a worker, and the loop has to win the GIL
back at each of its awaits, so while 32 workers stream, a key press waited
more than a second and the rate halved (``bench/app_bench.py``). A child
process gives the engine its own interpreter: the same events (already
coalesced by the engine) come back over a pipe, and pause, resume, cancel and
the bandwidth cap go the other way. ``--batch`` has no event loop to starve
and keeps the engine in-process.

The child is this interpreter running :func:`main` of this very package
(:data:`CHILD_CODE`), whatever its working directory holds; pickled
messages go over its stdin (settings, plan, then commands) and stdout
(events, a batch at a time: :class:`_Outbox`). Plain ``subprocess`` rather than ``multiprocessing``: the app
replaces ``sys.stderr`` with a capture that has no file descriptor, which
multiprocessing's helper process cannot start with.

What crosses the pipe first is the run's
:class:`~laion_fmri_tui.core.run.spec.RunSpec` (plan, access grant,
settings): the child builds its engine from it with
:func:`~laion_fmri_tui.core.run.factory.build_engine`, as ``--batch`` does in
its own process, and asks the access service nothing more. This module loads
none of the engine's modules in the app's process: the child imports the
factory when it starts.

Starting a child and importing the engine takes about a third of a second of
CPU, which the first seconds of a download paid for (and a key pressed then
waited behind it). :meth:`SpareEngine.prewarm` starts one spare child while the user is
still choosing what to fetch; it imports everything, then waits for its plan.
The next run takes it; a spare nobody takes ends when :meth:`SpareEngine.discard`
closes its stdin, or when the app's process ends and the pipe closes. The App
owns its :class:`SpareEngine`.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.errors import LaionFmriError
from laion_fmri_tui.core.run.spec import RunSpec

STOP_GRACE = 0.5
"""Seconds a child has to end after it was told to stop (a cancel, a quit, a
spare no longer wanted); then it is killed. Quitting mid-transfer has to give
the shell back within a second, and a child that does not answer (stopped,
swapping, stuck in a system call) must not hold the app's process. A kill
loses nothing that resumes: the child writes each ``.part`` and its resume
record as the bytes come (see README, "Resumable and verified")."""

PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
"""The directory that holds the running ``laion_fmri_tui`` package. The child
imports the package from here, never from its working directory: ``python -m``
puts the working directory first on ``sys.path``, so a child started in a
source checkout ran that checkout's code under an app of another version."""
CHILD_CODE = ("import sys; sys.path[0] = {root!r}; "
              "from laion_fmri_tui.core.run.engine_process import main; main()")
"""What the child runs (``python -c``, whose ``sys.path[0]`` is the working
directory: replaced by :data:`PACKAGE_ROOT`)."""


def _spawn() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD_CODE.format(root=PACKAGE_ROOT)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


class SpareEngine:
    """At most one engine process started ahead of the run that will take it.

    Owned by whoever starts runs (the App): one spare per owner, ended by
    :meth:`discard` when the owner goes. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: tuple[subprocess.Popen, dict[str, str]] | None = None
        """The spare child and the environment it was started with."""

    def prewarm(self) -> int:
        """Start a spare engine process now, unless one is waiting already; its pid."""
        with self._lock:
            if self._spare is None or self._spare[0].poll() is not None:
                self._spare = (_spawn(), dict(os.environ))
            return self._spare[0].pid

    def discard(self, *, wait: bool = True) -> Callable[[], None]:
        """End the spare engine process, if any: its stdin is closed, and it exits on that.

        With ``wait``, return once it has (killed after :data:`STOP_GRACE`);
        without, at once: the returned call does that wait (an app quitting
        gives the terminal back first)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return lambda: None
        child = spare[0]
        try:
            child.stdin.close()  # type: ignore[union-attr]
        except OSError:  # it had already gone
            pass
        ended = lambda: _close(child)  # noqa: E731 - closing again is a no-op
        if wait:
            ended()
        return ended

    def take(self) -> subprocess.Popen:
        """The spare engine process if it is alive and has this environment (the
        child reads its cache folder and configuration from it), else a new one."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and spare[0].poll() is None and spare[1] == dict(os.environ):
            return spare[0]
        if spare is not None:
            _close(spare[0])
        return _spawn()


class EngineProcess:
    """An :class:`~laion_fmri_tui.core.run.control.EngineControl` whose engine
    runs in a child process. Usable once; thread-safe. Commands given before
    :meth:`run` has a child are kept and sent first.

    Quitting never waits for a child that does not answer: :meth:`cancel`
    tells the child to stop and kills it if it has not ended
    :data:`STOP_GRACE` seconds later (:meth:`run` then returns a cancelled
    ``RunFinished`` counted from the events already relayed), and
    :meth:`stop` does the same and waits for it."""

    def __init__(self, sink: ev.EventSink, spare: SpareEngine | None = None) -> None:
        """``spare``: where to take a started child from (None: start one)."""
        self._sink = sink
        self._spare = spare
        self._lock = threading.Lock()
        self._child: subprocess.Popen | None = None
        self._commands: BinaryIO | None = None
        self._early: list[tuple] = []
        self._paused = False
        self._cancelled = False
        self._reaper: threading.Thread | None = None
        self._tally = _Tally()
        self._bandwidth: int | None = None
        self._bandwidth_set = False
        self.pid: int | None = None
        """The child's process id, once the run has started."""

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
        """Stop the run, keeping every ``.part``: the child is told to, and
        killed if it has not ended within :data:`STOP_GRACE` seconds."""
        self._send("cancel", reason)
        with self._lock:
            self._cancelled = True
            if self._child is not None:
                self._reap_later(self._child)

    def stop(self) -> None:
        """Cancel, and return once the child has ended: at most
        :data:`STOP_GRACE` seconds, then it is killed (the app is quitting:
        it cancels first, gives the terminal back, then calls this)."""
        self.cancel()
        with self._lock:
            child = self._child
        if child is not None:
            _end(child)

    def set_bandwidth(self, bytes_per_second: int | None) -> None:
        with self._lock:
            self._bandwidth, self._bandwidth_set = bytes_per_second, True
        self._send("bandwidth", bytes_per_second)

    @property
    def bandwidth(self) -> int | None:
        """The cap now: the one set last, else the run's settings' (None before the run, or no cap)."""
        return self._bandwidth

    # run -----------------------------------------------------------------------
    def run(self, spec: RunSpec) -> ev.RunFinished:
        """Start the child (or take the spare), relay its events to the sink until the run is over.

        Raises:
            LaionFmriError: the run did not start, or its child died (unless
                after a cancel: then the run ends cancelled).
        """
        started = time.monotonic()
        child = self._spare.take() if self._spare is not None else _spawn()
        try:
            return self._exchange(child, spec)
        except LaionFmriError:
            if not self._cancelled:
                raise
        finally:
            with self._lock:
                self._commands = None
            _close(child)
        # Killed (or ended) after a cancel without its last word: the run was
        # cancelled, and what it reported so far is its account.
        finished = self._tally.finished(time.monotonic() - started)
        self._sink(finished)
        return finished

    def _exchange(self, child: subprocess.Popen, spec: RunSpec) -> ev.RunFinished:
        """Hand ``child`` the spec and relay its events until its ``RunFinished``."""
        self.pid = child.pid
        assert child.stdin is not None and child.stdout is not None
        with self._lock:
            self._child = child
            if not self._bandwidth_set:
                self._bandwidth = spec.settings.engine.max_bandwidth
            if self._cancelled:
                self._reap_later(child)
        try:
            # Not under the lock: a large plan fills the pipe until the child reads
            # it, and a cancel must still get through (to kill it, if need be).
            _put(child.stdin, spec)
            with self._lock:
                for command in self._early:
                    _put(child.stdin, command)
                self._early.clear()
                self._commands = child.stdin
        except OSError:  # it died, or was killed after a cancel: reading says which
            pass
        while True:
            try:
                kind, payload = pickle.load(child.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                raise LaionFmriError(f"the transfer process ended unexpectedly (exit code {child.wait()}); "
                                     "partial files are kept, start the download again to resume") from None
            if kind == "error":
                raise LaionFmriError(payload)
            for event in payload:
                self._tally.count(event)
                self._sink(event)
                if isinstance(event, ev.RunFinished):
                    return event

    def _reap_later(self, child: subprocess.Popen) -> None:
        """Kill ``child`` unless it ends within STOP_GRACE (caller holds the lock)."""
        if self._reaper is None:
            self._reaper = threading.Thread(target=_end, args=(child,), name="engine-reaper", daemon=True)
            self._reaper.start()

    def _send(self, *command) -> None:
        with self._lock:
            if self._commands is None:
                self._early.append(command)
                return
            try:
                _put(self._commands, command)
            except (OSError, ValueError):  # the child has just finished
                pass


class _Tally:
    """What the relayed events said so far: the account of a run whose child
    was killed before it could give its own."""

    def __init__(self) -> None:
        self.done = self.skipped = 0
        self.failures: list[tuple[str, str]] = []
        self.fetched = 0

    def count(self, event: ev.Event) -> None:
        if isinstance(event, ev.FileDone):
            self.done += 1
        elif isinstance(event, ev.FileSkipped):
            self.skipped += 1
        elif isinstance(event, ev.FileFailed):
            self.failures.append((event.key, event.error))
        elif isinstance(event, ev.Progress):
            self.fetched = event.bytes_fetched

    def finished(self, elapsed: float) -> ev.RunFinished:
        return ev.RunFinished(done=self.done, skipped=self.skipped, failed=len(self.failures),
                              bytes_fetched=self.fetched, elapsed=elapsed, cancelled=True,
                              failures=tuple(self.failures))


def _close(child: subprocess.Popen) -> None:
    """Close the child's stdin (it cancels, keeping every .part, if it still runs)
    and reap it, killing it after STOP_GRACE."""
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.close()
    except OSError:  # it had already gone
        pass
    _end(child)
    child.stdout.close()


def _end(child: subprocess.Popen) -> None:
    """Wait STOP_GRACE for ``child`` to end, then kill it; reap it."""
    try:
        child.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _put(stream: BinaryIO, message: object) -> None:
    pickle.dump(message, stream, protocol=pickle.HIGHEST_PROTOCOL)
    stream.flush()


def serve(commands: BinaryIO, events: BinaryIO) -> None:
    """The child's side: build the engine, obey commands, send every event."""
    import gc

    # Imported here, not above: the app's process imports this module and must
    # not load the engine; a spare loads it now, before its spec comes.
    from laion_fmri_tui.core.run.factory import build_engine

    gc.freeze()  # as --batch does: the collector's walks skip what the imports made
    try:
        spec: RunSpec = pickle.load(commands)
    except (EOFError, pickle.UnpicklingError):  # a spare that was never used
        return
    # The child keeps the app's CPU priority. At nice +5 (key presses a median 31
    # against 57 ms) it lost two saturated cores to the bench's server once the
    # engine moved bytes for half the CPU: the app fell to 0.76-0.79x of --batch,
    # against 0.89-0.92x at 0, with key presses still a median 20-39 ms and a
    # worst of 55-94 ms (bench/app_bench.py, 3 runs each).
    outbox = _Outbox(events)
    try:
        engine = build_engine(spec, outbox.put)
    except LaionFmriError as error:
        outbox.close()
        _put(events, ("error", str(error)))
        return
    threading.Thread(target=_obey, args=(engine, commands), name="commands", daemon=True).start()
    try:
        engine.run(spec.plan)
    finally:
        outbox.close()


FLUSH_INTERVAL = 0.05
"""Seconds the child lets events gather before one write sends them all. The
app shows them twice a second; a pickled write per event (about a
thousand for a subject) cost the engine's threads a system call each and
woke the app's reading thread as often, on cores the download needed."""


class _Outbox:
    """The child's events, queued by the engine's threads and written in batches
    by one thread of their own; the end of the run goes out at once."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._wake = threading.Condition()
        self._queued: list[ev.Event] = []
        self._closed = False
        self._final = False
        """The end of the run is queued: send without waiting for more."""
        self._thread = threading.Thread(target=self._send, name="events", daemon=True)
        self._thread.start()

    def put(self, event: ev.Event) -> None:
        with self._wake:
            if self._closed:
                return
            self._queued.append(event)
            if isinstance(event, ev.RunFinished):
                self._final = True
                self._wake.notify()
            elif len(self._queued) == 1:
                self._wake.notify()

    def close(self) -> None:
        """Send what is queued and stop."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _send(self) -> None:
        while True:
            with self._wake:
                while not self._queued and not self._closed:
                    self._wake.wait()
                if self._queued and not (self._closed or self._final):
                    self._wake.wait(FLUSH_INTERVAL)  # a burst gathers
                batch, self._queued, closed = self._queued, [], self._closed
            if batch:
                try:
                    data = pickle.dumps(("events", batch), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:  # noqa: BLE001 - an event that cannot be sent ends the run
                    data, closed = self._sendable_then_error(batch), True
                try:
                    self._stream.write(data)
                    self._stream.flush()
                except OSError:  # the app is gone; the engine sees its commands close
                    return
            if closed:
                return

    def _sendable_then_error(self, batch: list[ev.Event]) -> bytes:
        """The batch's events that pickle, then an error that ends the run;
        later events are dropped (the app stops the engine on the error)."""
        with self._wake:
            self._closed = True
        good, failure = [], None
        for event in batch:
            try:
                pickle.dumps(event)
            except Exception as error:  # noqa: BLE001
                failure = failure or error
            else:
                good.append(event)
        text = (f"the transfer process could not report its progress ({failure!r}); "
                "partial files are kept, start the download again to resume")
        return pickle.dumps(("events", good)) + pickle.dumps(("error", text))


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


def main() -> None:
    """The child's entry point (see :data:`CHILD_CODE`).

    Once :func:`serve` returns, every file is closed or parked and the last
    event written: the process ends at once. The interpreter's own ending
    (freeing the engine's heap, joining what is left) took more than half a
    second after a cancel, and a child that slow to end is killed."""
    code = 0
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except BaseException:  # noqa: BLE001 - a bug of ours: the parent reports the child's end
        code = 1
    try:
        sys.stdout.flush()
    except OSError:
        pass
    os._exit(code)


if __name__ == "__main__":
    main()
