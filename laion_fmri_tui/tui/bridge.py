"""The engine's ``sink(event)`` callback, turned into messages for the UI thread.

The engine calls its sink from its own worker and ticker threads and must
never block in it. ``post_message`` is thread-safe (it hands the message to
the event loop with ``call_soon_threadsafe``), so the bridge only picks the
message type and posts it; every widget update happens on the UI thread.
"""

from __future__ import annotations

from textual.message_pump import MessagePump

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.tui.messages import TransferFinished, TransferProgressed, TransferReported


class EngineBridge:
    """An :data:`~laion_fmri_tui.core.events.EventSink` that posts to ``target``."""

    def __init__(self, target: MessagePump, run: int) -> None:
        self._target = target
        self._run = run

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Progress):
            message: TransferProgressed | TransferFinished | TransferReported = (
                TransferProgressed(self._run, event))
        elif isinstance(event, ev.RunFinished):
            message = TransferFinished(self._run, event)
        else:
            message = TransferReported(self._run, event)
        try:
            self._target.post_message(message)
        except RuntimeError:
            # The app closed its event loop while the engine was winding down
            # (quit during a run); nobody is left to show the event.
            pass
