"""The one object both front ends hold: catalog, planner and engine, wired once.

It owns the single S3 client (and therefore the single connection pool,
sized to the worker count) so that listings, whole-file GETs and ranged parts
share connections. The app injects one of these into its App; ``--batch``
builds one from its flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.catalog import Catalog
from laion_fmri_tui.core.plan import Plan
from laion_fmri_tui.core.planner import build_plan
from laion_fmri_tui.core.s3 import S3Settings, make_client
from laion_fmri_tui.core.selection import Selection
from laion_fmri_tui.core.transfer.engine import EngineSettings, TransferEngine
from laion_fmri_tui.core.transfer.sources import S3Source


@dataclass
class ServiceSettings:
    """Everything a run needs to know besides the selection."""

    data_dir: Path
    s3: S3Settings = field(default_factory=S3Settings)
    engine: EngineSettings = field(default_factory=EngineSettings)


class DownloadService:
    """Catalog + planner + transfer engine over one S3 client."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        pool = max(settings.s3.max_connections, settings.engine.jobs + 4)
        self._client = make_client(S3Settings(**{**vars(settings.s3), "max_connections": pool}))
        self.catalog = Catalog(self._client, settings.s3.bucket)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def plan(self, selection: Selection) -> Plan:
        """List what the selection covers and classify what is on disk."""
        return build_plan(self.catalog, selection, self.data_dir)

    def engine(self, sink: ev.EventSink) -> TransferEngine:
        """A fresh engine for one run, reporting to ``sink``."""
        sources = {"s3": S3Source(self._client, self.settings.s3.bucket)}
        return TransferEngine(sources, sink, self.settings.engine)
