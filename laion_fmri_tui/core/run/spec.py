"""What one download needs, in one picklable value: plan, access grant, settings.

The access service is asked once per download, by
:meth:`~laion_fmri_tui.core.service.DownloadService.run_spec`, which returns
a :class:`RunSpec`; whatever runs the download (``--batch`` in its own
process, the app in a child process) builds its engine from that value with
:func:`laion_fmri_tui.core.run.factory.build_engine` and asks nothing again
before the first byte. A spec crosses a pipe to the app's engine process, so
every field pickles; this module imports nothing of the engine, so the app
can hold one without loading the engine's modules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from laion_fmri_tui.core.models import Plan
from laion_fmri_tui.core.s3.catalog import LISTING_THREADS
from laion_fmri_tui.core.s3.endpoint import S3Settings
from laion_fmri_tui.core.transfer.settings import EngineSettings

if TYPE_CHECKING:  # httpx is loaded only by runs that need the access service
    from laion_fmri_tui.core.access.client import Grant


@dataclass
class ServiceSettings:
    """Everything a run needs to know besides the selection."""

    data_dir: Path
    s3: S3Settings = field(default_factory=S3Settings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    access_url: str | None = None
    """Access-service base URL; None: ``LAION_FMRI_ACCESS_URL`` or production."""

    @property
    def s3_pool(self) -> S3Settings:
        """The S3 settings with a pool that fits the engine's workers and the listing threads."""
        pool = max(self.s3.max_connections, self.engine.jobs + LISTING_THREADS)
        return dataclasses.replace(self.s3, max_connections=pool)


@dataclass(frozen=True)
class RunSpec:
    """One run: the plan, the settings, and the access grant its stimulus files need."""

    plan: Plan
    settings: ServiceSettings
    grant: Grant | None = field(default=None, repr=False)
    """Signed URLs (and the request id, for fresh ones when they expire) for
    the plan's access-service files; None when the plan has none pending."""

    def with_plan(self, plan: Plan) -> RunSpec:
        """The same run over another plan (the app's retry of the files that
        failed): no new access check, the source renews expired links itself."""
        return RunSpec(plan, self.settings, self.grant)
