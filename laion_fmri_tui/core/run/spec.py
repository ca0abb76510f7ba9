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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from laion_fmri_tui.core.models import Plan
from laion_fmri_tui.core.settings import ServiceSettings

if TYPE_CHECKING:  # httpx is loaded only by runs that need the access service
    from laion_fmri_tui.core.access.client import Grant


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
