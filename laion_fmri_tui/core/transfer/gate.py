"""The run's gate as the lanes see it: running, paused or cancelled.

The engine owns the gate (its ``pause``/``resume``/``cancel`` flip it from
any thread); the lanes look at it once a turn, and the bandwidth cap looks
at it while it holds a lane back, raising :class:`Paused` or
:class:`Cancelled` so that the lane returns to its loop instead of blocking
its thread (the loop then holds or drops every transfer it has).
"""

from __future__ import annotations


class Paused(Exception):
    """The run was paused while the lane waited for the bandwidth cap."""


class Cancelled(Exception):
    """The run was cancelled while the lane waited for the bandwidth cap."""
