"""The run's gate as the lanes see it: running, paused or cancelled.

The engine owns the gate (its ``pause``/``resume``/``cancel`` flip it from
any thread); the lanes look at it once a turn, and the bandwidth cap looks
at it while it holds a lane back, raising :class:`Paused` or
:class:`Cancelled` so that the lane returns to its loop instead of blocking
its thread (the loop then holds or drops every transfer it has).
"""

from __future__ import annotations

import enum


class GateState(enum.Enum):
    """What the lanes do this turn."""

    RUN = "run"
    """Admit, send and read."""
    PAUSE = "pause"
    """Hold every transfer (stop reading: TCP holds the server); admit nothing."""
    CANCEL = "cancel"
    """Close every connection; every unit ends as cancelled, every ``.part`` stays."""


class Supply(enum.Enum):
    """Why a lane was handed no part (instead of a part to fetch)."""

    OPENING = "opening"
    """Another lane is opening a file whose parts may be shared: ask again soon."""
    EXHAUSTED = "exhausted"
    """No file is left to open and no part to take: this lane's parts are done."""


class Paused(Exception):
    """The run was paused while the lane waited for the bandwidth cap."""


class Cancelled(Exception):
    """The run was cancelled while the lane waited for the bandwidth cap."""
