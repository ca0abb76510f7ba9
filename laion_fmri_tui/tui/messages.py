"""Messages the app's screens exchange; events are named in the past tense.

The transfer message wraps the core's typed event (:mod:`laion_fmri_tui.core.events`)
rather than copying its fields, so the dashboard and ``--batch`` read the very
same values. It carries the ``run`` it belongs to: a retry starts a new run,
and a late message of the old one must not be mistaken for the new. (Progress
and file events are not messages: the dashboard takes them from
:mod:`laion_fmri_tui.tui.bridge` when it renders.)

It is posted straight to the screen that runs the transfer, so it does not
bubble. :class:`~textual.message.Message` initialises itself in
``__post_init__``, which is what lets them be plain dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from laion_fmri_tui.core import events as ev


@dataclass
class TransferFinished(Message, bubble=False):
    """The engine's run is over: completed, with failures, or cancelled."""

    run: int
    """Which run of the screen this belongs to."""
    result: ev.RunFinished
    """Counts, bytes, failures and whether it was cancelled."""
