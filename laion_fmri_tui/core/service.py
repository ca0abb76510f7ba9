"""The one object both front ends hold: catalog, planner and access.

It owns the one S3 connection pool, sized to the workers and listing
threads, that listings, whole files and ranged parts share; and the one
access-service client. The app injects one
of these into its App; ``--batch`` builds one from its flags.

It builds no engine: :meth:`DownloadService.run_spec` checks access once and
returns the :class:`~laion_fmri_tui.core.run.spec.RunSpec` that
:func:`laion_fmri_tui.core.run.factory.build_engine` makes an engine from
(``--batch`` in its process, the app in a child process). So importing this
module loads none of the engine's modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from laion_fmri_tui.core.plan import planner
from laion_fmri_tui.core.s3.catalog import Catalog, pool_settings, unreachable
from laion_fmri_tui.core.models import Plan, PlanItem
from laion_fmri_tui.core.s3.client import ListingError, S3Http
from laion_fmri_tui.core.plan.selection import Selection
from laion_fmri_tui.core.run.spec import RunSpec
from laion_fmri_tui.core.settings import ServiceSettings

if TYPE_CHECKING:
    # Loaded when first used: the access client needs httpx (stimuli and the form only).
    from laion_fmri_tui.core.access.client import AccessClient, Grant, Manifest
    from laion_fmri_tui.core.access.form import AccessForm

class DownloadService:
    """Catalog + planner + access over one set of S3 connections."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._http = S3Http(pool_settings(settings))
        self.catalog = Catalog(self._http, settings.s3.bucket)
        self._access: AccessClient | None = None
        self._manifest: Manifest | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def connections(self) -> S3Http:
        """The service's S3 connections, for ``--batch`` to share with its engine
        (:func:`laion_fmri_tui.core.run.factory.build_engine`)."""
        return self._http

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

    def first_part_size(self, item: PlanItem) -> int | None:
        """The part size of ``item``'s multipart upload as the bucket tells it
        (None: it cannot say), for ``--verify`` (see :mod:`.integrity.checkup`)."""
        if item.source != "s3":
            return None
        return self._http.first_part_size(self._http.object_url(self.settings.s3.bucket, item.key), item.etag)

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

    def request_access(self, form: AccessForm) -> Grant:
        """Submit the data-use agreement and keep the request id in ``auth.json``."""
        from laion_fmri_tui.core.access.enrol import submit_form

        return submit_form(self.access, form)

    def run_spec(self, plan: Plan, grant: Grant | None = None) -> RunSpec:
        """Everything a run of ``plan`` needs, with access checked, once.

        When ``plan`` still needs stimulus files, the stored request id is
        refreshed for signed URLs now (network I/O), so access problems (no id,
        unknown id...) surface before any transfer starts; ``grant``: one just
        obtained (the data-use form's), used instead of asking again.

        Raises:
            AccessRequiredError: no request id is stored.
            AccessServiceError: the service refused or could not be reached.
        """
        if not any(i.source == "access" for i in plan.pending):
            return RunSpec(plan, self.settings)
        from laion_fmri_tui.core.access import auth
        from laion_fmri_tui.core.access.errors import AccessRequiredError, MalformedResponseError

        if grant is None:
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
        return RunSpec(plan, self.settings, grant)
