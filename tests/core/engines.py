"""The engine a test drives in-process: built as ``--batch`` builds it."""

from __future__ import annotations

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.models import Plan
from laion_fmri_tui.core.run.factory import build_engine
from laion_fmri_tui.core.service import DownloadService
from laion_fmri_tui.core.transfer.engine import TransferEngine


def engine_for(service: DownloadService, sink: ev.EventSink, plan: Plan | None = None) -> TransferEngine:
    """The factory's engine over ``service``'s connections, for ``plan``'s spec
    (access checked when it has stimulus files; None: a plan of S3 objects)."""
    spec = service.run_spec(plan if plan is not None else Plan(service.data_dir, ()))
    return build_engine(spec, sink, service.connections)
