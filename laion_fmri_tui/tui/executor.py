"""The executor the app's thread workers run on: never waited for at exit.

Textual runs a thread worker with ``loop.run_in_executor(None, ...)``, and
``asyncio.run`` ends by joining the loop's default executor. A worker blocked
in the network (a listing waiting out ``--retry-for`` against an endpoint
that does not answer, the access service being retried) held the terminal
blank after ``q`` for as long as it took (seconds, up to minutes); and
``concurrent.futures`` joins its pool threads again when the interpreter
exits. Here each call gets a daemon thread of its own that nobody joins:
what a worker was doing when the app quit is dropped, as a cancelled worker's
result is anyway. No worker writes a file that matters half-written (the
engine, which does, is a child process that :class:`EngineProcess` stops).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor


class DaemonExecutor(ThreadPoolExecutor):
    """A daemon thread per call; :meth:`shutdown` returns at once.

    A ``ThreadPoolExecutor`` only because asyncio's ``set_default_executor``
    accepts nothing else; none of its pool is used."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - handed to whoever awaits the future
                future.set_exception(error)
            else:
                future.set_result(result)

        threading.Thread(target=run, name="app-worker", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to join: the threads are daemons, dropped when the process ends."""
