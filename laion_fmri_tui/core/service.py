"""The one object both front ends hold: catalog, planner, access and engine.

It owns the one S3 connection pool, sized to the workers and listing
threads, that listings, whole files and ranged parts share; and the one
access-service client. The app injects one
of these into its App; ``--batch`` builds one from its flags.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from laion_fmri_tui.core.plan import planner
from laion_fmri_tui.core.s3.catalog import LISTING_THREADS, Catalog, unreachable
from laion_fmri_tui.core.models import Plan, PlanItem
from laion_fmri_tui.core.s3.endpoint import S3Settings
from laion_fmri_tui.core.s3.client import ListingError, S3Http
from laion_fmri_tui.core.plan.selection import Selection
from laion_fmri_tui.core.transfer.settings import EngineSettings

if TYPE_CHECKING:
    # Loaded when first used: the access client needs httpx (stimuli and the
    # form only), and the engine's modules load while the first listings are
    # in flight (see load_engine).
    from laion_fmri_tui.core import events as ev
    from laion_fmri_tui.core.access.client import AccessClient, Grant, Manifest
    from laion_fmri_tui.core.access.form import AccessForm
    from laion_fmri_tui.core.transfer.access_source import AccessSource
    from laion_fmri_tui.core.transfer.engine import TransferEngine
    from laion_fmri_tui.core.s3.get import S3GetSource


@dataclass
class ServiceSettings:
    """Everything a run needs to know besides the selection."""

    data_dir: Path
    s3: S3Settings = field(default_factory=S3Settings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    access_url: str | None = None
    """Access-service base URL; None: ``LAION_FMRI_ACCESS_URL`` or production."""


class DownloadService:
    """Catalog + planner + access + transfer engine over one set of S3 connections."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        pool = max(settings.s3.max_connections, settings.engine.jobs + LISTING_THREADS)
        self._http = S3Http(dataclasses.replace(settings.s3, max_connections=pool))
        self._objects: S3GetSource | None = None
        self.catalog = Catalog(self._http, settings.s3.bucket)
        self._access: AccessClient | None = None
        self._manifest: Manifest | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def access(self) -> AccessClient:
        """The access-service client, made on first use (most runs never need it)."""
        if self._access is None:
            from laion_fmri_tui.core.access.client import AccessClient

            self._access = AccessClient(self.settings.access_url, network=self.settings.s3.network)
        return self._access

    def list_ahead(self, selection: Selection) -> None:
        """Start the listings :meth:`plan` will read first, and return at once."""
        planner.list_ahead(self.catalog, selection)

    @staticmethod
    def load_engine() -> None:
        """Import the transfer engine's modules now.

        They take tens of milliseconds to load: ``--batch`` loads them between
        :meth:`list_ahead` and :meth:`plan`, while the listings' round trip
        would otherwise leave the CPU idle."""
        from laion_fmri_tui.core.transfer import engine  # noqa: F401
        from laion_fmri_tui.core.s3 import get  # noqa: F401

    def plan(self, selection: Selection) -> Plan:
        """List what the selection covers and classify what is on disk.

        Stimulus images are planned from the public manifest: no request id
        is needed to learn that they are already complete.
        """
        plan = planner.build_plan(self.catalog, selection, self.data_dir)
        if not selection.stimuli:
            return plan
        from laion_fmri_tui.core import stimuli

        if self._manifest is None:  # cached for the run, like the catalog's listings
            self._manifest = self.access.manifest()
        extra = stimuli.plan_items(self._manifest, plan.data_dir)
        return dataclasses.replace(plan, items=plan.items + extra)

    def plan_many(self, selections: Iterable[Selection]) -> Plan:
        """One plan for several selections (the app's ticked nodes), de-duplicated."""
        plans = [self.plan(s) for s in selections]
        if not plans:
            return Plan(Path(self.data_dir).resolve(), ())
        seen: dict[str, PlanItem] = {}
        for plan in plans:
            for item in plan.items:
                seen.setdefault(item.key, item)
        return Plan(
            plans[0].data_dir, tuple(seen.values()),
            held_out=tuple(dict.fromkeys(k for p in plans for k in p.held_out)),
            refused=tuple(dict.fromkeys(r for p in plans for r in p.refused)),
            skipped_subjects=tuple(dict.fromkeys(k for p in plans for k in p.skipped_subjects)),
        )

    def refuses(self, item: PlanItem) -> bool:
        """Whether the bucket refuses ``item``'s key now (HTTP 403 to a HEAD;
        no body moves). ``--verify`` asks it for files it finds missing. A key
        served through the access service is never "refused" here.

        Raises:
            ConnectionError: no answer from the endpoint.
        """
        if item.source != "s3":
            return False
        return self._http.head_status(self._http.object_url(self.settings.s3.bucket, item.key)) == 403

    def check_reachable(self, plan: Plan) -> None:
        """Raise what an unreachable listing raises (exit 4, one line) when the
        endpoint does not answer a HEAD of the first file ``plan`` fetches.

        A frozen plan (``--plan``) lists nothing: without this, an endpoint
        that does not answer would fail every file in turn, with retries, and
        end with exit 1 as if some files were bad. A plan with nothing to
        fetch from S3 asks nothing.
        """
        item = next((i for i in plan.pending if i.source == "s3"), None)
        if item is None:
            return
        bucket = self.settings.s3.bucket
        try:
            self._http.reach(self._http.object_url(bucket, item.key))
        except ListingError as error:
            raise unreachable(error, self._http.contacted(bucket), f"s3://{bucket}/") from None

    def check_access(self, plan: Plan) -> None:
        """Raise the access error a run of ``plan`` would meet (no id, unknown id...)."""
        if any(i.source == "access" for i in plan.pending):
            self._access_source(plan).close()

    def request_access(self, form: AccessForm) -> Grant:
        """Submit the data-use agreement and keep the request id in ``auth.json``."""
        from laion_fmri_tui.core.access.enrol import submit_form

        return submit_form(self.access, form)

    def engine(self, sink: ev.EventSink, plan: Plan | None = None) -> TransferEngine:
        """A fresh engine for one run, reporting to ``sink``.

        When ``plan`` still needs stimulus files, signed URLs are obtained now
        (``refresh`` with the stored request id), so access problems surface
        before any transfer starts.
        """
        from laion_fmri_tui.core.transfer.engine import TransferEngine
        from laion_fmri_tui.core.s3.get import S3GetSource

        if self._objects is None:
            self._objects = S3GetSource(self._http, self.settings.s3.bucket)
        sources = {"s3": self._objects}
        if plan is not None and any(i.source == "access" for i in plan.pending):
            sources["access"] = self._access_source(plan)
        return TransferEngine(sources, sink, self.settings.engine)

    def _access_source(self, plan: Plan) -> AccessSource:
        from laion_fmri_tui.core.access import auth
        from laion_fmri_tui.core.access.errors import AccessRequiredError, MalformedResponseError
        from laion_fmri_tui.core.transfer.access_source import AccessSource

        request_id = auth.load_request_id()
        if request_id is None:
            raise AccessRequiredError()
        grant = self.access.refresh(request_id)
        for item in plan.pending:
            if item.source != "access":
                continue
            signed = grant.file(item.dest.name)
            if signed is None or signed.size != item.size or signed.sha256 != item.sha256:
                raise MalformedResponseError(
                    f"the access service granted {item.dest.name} with a size or sha256 that "
                    "differs from its public manifest; try again later"
                )
        return AccessSource(self.access, request_id, grant)
