"""Run bookkeeping of the transfer dashboard that involves no widget.

:class:`EngineHandle` exists because the engine is made in the worker thread
(making it may call the access service), so a key can be pressed before
there is an engine to pause or cancel; the wish is kept and applied the
moment the engine appears. :func:`retry_plan` builds the plan that ``r`` runs.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Collection

from laion_fmri_tui.core.plan import LocalState, Plan
from laion_fmri_tui.core.transfer import tempnames
from laion_fmri_tui.core.transfer.filelock import UnsafePathError
from laion_fmri_tui.core.engine_process import EngineProcess


class EngineHandle:
    """The engine of the current run, or the pause/cancel wishes made before it exists."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: EngineProcess | None = None
        self.paused = False
        """Whether the user wants the run paused."""
        self._cancelled = False
        self.bandwidth: int | None = None
        """The cap the user asked for (bytes/s), None: the settings' default."""
        self._bandwidth_set = False

    def set_bandwidth(self, bytes_per_second: int | None) -> None:
        """Change the shared cap now (or as soon as the engine exists)."""
        with self._lock:
            self.bandwidth, self._bandwidth_set = bytes_per_second, True
            if self._engine is not None:
                self._engine.set_bandwidth(bytes_per_second)

    def attach(self, engine: EngineProcess) -> None:
        """Called by the worker once the engine exists; applies earlier wishes."""
        with self._lock:
            self._engine = engine
            if self._bandwidth_set:
                engine.set_bandwidth(self.bandwidth)
            if self.paused:
                engine.pause()
            if self._cancelled:
                engine.cancel()

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self.paused = paused
            if self._engine is not None and paused:
                self._engine.pause()
            elif self._engine is not None:
                self._engine.resume()

    def stop(self) -> None:
        """Cancel and wait until the engine's process has ended (killed after a
        moment if it does not answer): the app is quitting."""
        with self._lock:
            self._cancelled = True
            engine = self._engine
        if engine is not None:
            engine.stop()

    def cancel(self) -> None:
        """Stop the run; every ``.part`` is kept for the next one."""
        with self._lock:
            self._cancelled = True
            if self._engine is not None:
                self._engine.cancel()


def retry_plan(plan: Plan, keys: Collection[str]) -> Plan:
    """A plan of just ``keys``, their on-disk state measured again (a ``.part`` resumes)."""
    items = []
    for item in plan.items:
        if item.key in keys:
            try:
                state, present = tempnames.local_state(item.dest, item.size, item.etag,
                                                       has_sha256=item.sha256 is not None)
            except UnsafePathError:
                state, present = LocalState.PARTIAL, 0  # the engine opens it and says why it refuses
            items.append(dataclasses.replace(item, state=state, present=present))
    return Plan(plan.data_dir, tuple(items))
