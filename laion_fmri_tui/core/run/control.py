"""The controls of a running download, the same wherever its engine runs.

``--batch`` holds the :class:`~laion_fmri_tui.core.transfer.engine.TransferEngine`
itself; the app holds an
:class:`~laion_fmri_tui.core.run.engine_process.EngineProcess`, whose engine
runs in a child process. Both offer these calls, thread-safe, so a front end
(and a test) drives either the same way.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class EngineControl(Protocol):
    """Pause, resume, cancel and the bandwidth cap of one run."""

    def pause(self) -> None:
        """Hold every transfer between reads; connections stay open."""

    def resume(self) -> None: ...

    @property
    def paused(self) -> bool: ...

    def cancel(self, reason: str | None = None) -> None:
        """Stop the run; every ``.part`` is kept for the next one."""

    def set_bandwidth(self, bytes_per_second: int | None) -> None:
        """Cap all transfers together at this many bytes per second (None: no cap), now."""

    @property
    def bandwidth(self) -> int | None: ...
