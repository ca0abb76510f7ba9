"""The engine's ``sink(event)`` callback, turned into messages for the UI thread.

The engine calls its sink from its own worker and ticker threads and must
never block in it. ``post_message`` is thread-safe (it hands the message to
the event loop with ``call_soon_threadsafe``), so the bridge only picks the
message type and posts it; every widget update happens on the UI thread.

File events (started, done, skipped...) arrive in bursts: hundreds at the
start of a run of small files. One message each kept the UI loop busy for
hundreds of milliseconds while a key press waited. So they queue in the
bridge, and one :class:`TransferReported` is on its way while the queue is
not empty; the screen takes the whole queue when it handles it. Order is
kept: the run's end is posted after every file event it follows.
"""

from __future__ import annotations

import threading

from textual.message_pump import MessagePump

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.tui.messages import TransferFinished, TransferProgressed, TransferReported


class EngineBridge:
    """An :data:`~laion_fmri_tui.core.events.EventSink` that posts to ``target``."""

    def __init__(self, target: MessagePump, run: int) -> None:
        self._target = target
        self._run = run
        self._lock = threading.Lock()
        self._queued: list[ev.Event] = []
        """File events not yet taken by the screen; a message is on its way while not empty."""

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Progress):
            message: TransferProgressed | TransferFinished | TransferReported = (
                TransferProgressed(self._run, event))
        elif isinstance(event, ev.RunFinished):
            message = TransferFinished(self._run, event)
        else:
            with self._lock:
                self._queued.append(event)
                if len(self._queued) > 1:
                    return
            message = TransferReported(self._run, self.take)
        try:
            self._target.post_message(message)
        except RuntimeError:
            # The app closed its event loop while the engine was winding down
            # (quit during a run); nobody is left to show the event.
            pass

    def take(self) -> list[ev.Event]:
        """Every queued file event, oldest first (called on the UI thread)."""
        with self._lock:
            events, self._queued = self._queued, []
        return events
