"""Where the dashboard's run is: one enum, read by the screen and its widgets.

The phase is the app's view of a run, set only by
:class:`~laion_fmri_tui.tui.screens.transfers.TransfersScreen` from the
engine's events and the user's keys; the totals widget and the footer's
bindings only read it. It is a ``StrEnum`` so that a phase reads as its name
in logs and test failures; compare members, not strings, in the code.
"""

from __future__ import annotations

import enum


class RunPhase(enum.StrEnum):
    STARTING = "starting"
    """Asked to start; the engine has not reported its plan yet."""
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    """Cancel confirmed; the engine is stopping."""
    FINISHED = "finished"
    """Every file complete."""
    FAILED = "failed"
    """Ended with some files failed (``r`` retries them)."""
    CANCELLED = "cancelled"
    ERROR = "error"
    """Did not start, or stopped on an error of the run itself (not of a file)."""

    @property
    def active(self) -> bool:
        """A run that pause and cancel can act on."""
        return self in (RunPhase.STARTING, RunPhase.RUNNING, RunPhase.PAUSED)

    @property
    def running(self) -> bool:
        """A run not yet over (the app asks before quitting, escape waits)."""
        return self.active or self is RunPhase.CANCELLING
