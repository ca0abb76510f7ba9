"""The engine's ``sink(event)`` callback, held for the dashboard's next render.

The engine's events reach this sink on a thread of the app (the one relaying
the engine process's pipe) and it must never block there. Progress snapshots
and file events (started, done, skipped, failed, notices) are only shown at
the dashboard's next render tick, so they wait here until the screen takes
them: the newest snapshot replaces the one before, file events queue in
order. A message per burst of file events (the way before) was hundreds of
messages per run of small files, and their dispatch was a fifth of the
app's CPU while it downloaded, CPU the transfers on a two-core node lacked.
Only the end of the run is posted as a message, after every event it
follows was queued: the screen takes the queue before it shows the result.
"""

from __future__ import annotations

import threading

from textual.message_pump import MessagePump

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.tui.messages import TransferFinished


class EngineBridge:
    """An :data:`~laion_fmri_tui.core.events.EventSink` for one run of a screen."""

    def __init__(self, target: MessagePump, run: int) -> None:
        self._target = target
        self._run = run
        self._lock = threading.Lock()
        self._latest: ev.Progress | None = None
        self._queued: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunFinished):
            try:
                self._target.post_message(TransferFinished(self._run, event))
            except RuntimeError:
                # The app closed its event loop while the engine was winding down
                # (quit during a run); nobody is left to show the end.
                pass
            return
        with self._lock:
            if isinstance(event, ev.Progress):
                self._latest = event
            else:
                self._queued.append(event)

    def take(self) -> tuple[ev.Progress | None, list[ev.Event]]:
        """The newest snapshot not yet taken (or None) and every queued file
        event, oldest first (called on the UI thread)."""
        with self._lock:
            latest, events = self._latest, self._queued
            self._latest, self._queued = None, []
        return latest, events
