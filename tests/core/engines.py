"""The engine a test drives in-process: built as ``--batch`` builds it.

Every test builds its engine here, through the one public factory
(:func:`laion_fmri_tui.core.run.factory.build_engine`), so the engine's
constructor can change without touching a test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.models import Plan
from laion_fmri_tui.core.run.factory import build_engine
from laion_fmri_tui.core.run.spec import RunSpec
from laion_fmri_tui.core.settings import EngineSettings, S3Settings, ServiceSettings
from laion_fmri_tui.core.service import DownloadService
from laion_fmri_tui.core.transfer.engine import TransferEngine
from laion_fmri_tui.core.transfer.sources import Source


def engine_for(service: DownloadService, sink: ev.EventSink, plan: Plan | None = None) -> TransferEngine:
    """The factory's engine over ``service``'s connections, for ``plan``'s spec
    (access checked when it has stimulus files; None: a plan of S3 objects)."""
    spec = service.run_spec(plan if plan is not None else Plan(service.data_dir, ()))
    return build_engine(spec, sink, service.connections)


def engine_at(endpoint: str | None, data_dir: Path, sink: ev.EventSink, settings: EngineSettings | None = None,
              bucket: str = "bucket", sources: Mapping[str, Source] | None = None) -> TransferEngine:
    """The factory's engine for S3 objects of ``bucket`` at ``endpoint`` (a
    server on 127.0.0.1), or for ``sources`` (a test's stand-in source)."""
    service = ServiceSettings(data_dir=data_dir, s3=S3Settings(endpoint_url=endpoint, bucket=bucket),
                              engine=settings or EngineSettings())
    return build_engine(RunSpec(Plan(data_dir, ()), service), sink, sources=sources)


class Recorder:
    """A sink that keeps every event and lets a test wait for one (instead of
    polling with sleeps): ``wait_for`` wakes at each event."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: ev.Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type) -> list:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, found: Callable[[ev.Event], bool], timeout: float = 60.0) -> ev.Event:
        """The first event (already here or to come) ``found`` accepts; fails
        the test after ``timeout`` seconds (a failure bound, not a measure)."""
        seen = 0
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[seen:]:
                    if found(event):
                        return event
                seen = len(self.events)
                left = deadline - time.monotonic()
                assert left > 0 and self._cond.wait(left), "the awaited event never came"

    def bytes_of(self, key: str) -> int:
        """Bytes of ``key`` the last Progress event counted as done."""
        for progress in reversed(self.of(ev.Progress)):
            for active in progress.active:
                if active.key == key:
                    return active.done
        return 0


LANE_TICK = 0.1
"""The longest a lane's turn waits for its sockets (``lane._TICK``): a lane
sees a pause at its next turn, so within this much after ``pause()``."""


def window(seconds: float = 3 * LANE_TICK) -> None:
    """Let time pass for what a test cannot see begin or end: a lane's turn in
    progress when the run was paused, or a window in which a broken engine
    would act. Nothing is asserted about time; a slow machine only makes the
    window less likely to catch a broken engine."""
    threading.Event().wait(seconds)


def allocated(path: Path) -> int:
    """Bytes a (sparse) ``.part`` file holds on disk: parts land at their offsets."""
    return path.stat().st_blocks * 512
