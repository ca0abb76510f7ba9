"""Messages the app's screens exchange; events are named in the past tense.

Transfer messages wrap the core's typed events (:mod:`laion_fmri_tui.core.events`)
rather than copying their fields, so the dashboard and ``--batch`` read the
very same values. Each carries the ``run`` it belongs to: a retry starts a new
run, and a late message of the old one must not be mistaken for the new.

They are posted straight to the screen that runs the transfer, so they do not
bubble. :class:`~textual.message.Message` initialises itself in
``__post_init__``, which is what lets them be plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from laion_fmri_tui.core import events as ev


@dataclass
class TransferProgressed(Message, bubble=False):
    """A coalesced progress snapshot arrived from the engine.

    Several may queue up while the UI is busy; only the newest matters, so a
    queued one is replaced by the next (``can_replace``) instead of being
    rendered in turn.
    """

    run: int
    """Which run of the screen (1, then 2 after a retry...) this belongs to."""
    progress: ev.Progress
    """The engine's snapshot: bytes, rate, ETA, active files, paused."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TransferProgressed) and message.run == self.run


@dataclass
class TransferReported(Message, bubble=False):
    """The engine reported something other than progress or the end of the run.

    Files starting, finishing, being skipped or failing, and notices (retries,
    re-minted links); none of these may be dropped. They are batched, not
    coalesced: ``take()`` returns every event queued since the last message
    was handled (see :mod:`laion_fmri_tui.tui.bridge`).
    """

    run: int
    """Which run of the screen this belongs to."""
    take: Callable[[], list[ev.Event]]
    """Hands over the queued core events, unchanged and in order."""


@dataclass
class TransferFinished(Message, bubble=False):
    """The engine's run is over: completed, with failures, or cancelled."""

    run: int
    """Which run of the screen this belongs to."""
    result: ev.RunFinished
    """Counts, bytes, failures and whether it was cancelled."""
