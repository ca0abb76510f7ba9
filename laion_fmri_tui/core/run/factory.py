"""The one way to build a transfer engine: from a :class:`~laion_fmri_tui.core.run.spec.RunSpec`.

``--batch`` calls :func:`build_engine` in its own process, passing the
service's S3 connections (the listings opened them); the app's engine
process calls it in the child, which opens its own. Nothing here asks the
access service: the spec carries the grant that was checked when it was made.
Importing this module loads the whole engine, which is why the app never does
(only its child process).
"""

from __future__ import annotations

from collections.abc import Mapping

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.run.spec import RunSpec
from laion_fmri_tui.core.s3.catalog import pool_settings
from laion_fmri_tui.core.s3.client import S3Http
from laion_fmri_tui.core.s3.get import S3GetSource
from laion_fmri_tui.core.transfer.engine import TransferEngine
from laion_fmri_tui.core.transfer.sources import Source


def connections(spec: RunSpec) -> S3Http:
    """The S3 connection pool a run of ``spec`` needs: its workers and the listing threads."""
    return S3Http(pool_settings(spec.settings))


def build_engine(spec: RunSpec, sink: ev.EventSink, http: S3Http | None = None,
                 sources: Mapping[str, Source] | None = None) -> TransferEngine:
    """A fresh engine for ``spec``, reporting to ``sink``; run it with ``engine.run(spec.plan)``.

    ``http``: S3 connections to share (``--batch``'s service); None opens a pool.
    ``sources``: where each plan item's ``source`` is fetched from, instead of
    the spec's bucket and grant (a test's stand-in server for an answer S3
    never gives on cue); the engine's constructor stays this module's alone.
    """
    settings = spec.settings
    if sources is not None:
        return TransferEngine(sources, sink, settings.engine)
    own: dict[str, Source] = {"s3": S3GetSource(http or connections(spec), settings.s3.bucket)}
    if spec.grant is not None:
        from laion_fmri_tui.core.access.client import AccessClient  # httpx: only runs with stimuli
        from laion_fmri_tui.core.transfer.access_source import AccessSource

        client = AccessClient(settings.access_url, network=settings.s3.network)
        own["access"] = AccessSource(client, spec.grant.request_id, spec.grant)
    return TransferEngine(own, sink, settings.engine)
