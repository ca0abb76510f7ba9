"""Bytes of the gated stimulus files, through the access service's signed URLs.

One more :class:`~laion_fmri_tui.core.transfer.sources.Source` for the same
engine and the same lane as the bucket's objects, so the stimuli get the same
``.part`` files, Range resume, retries, verification, proxy and CA rules
(:mod:`laion_fmri_tui.core.http`). Signed URLs are short-lived: when storage
answers 403, the source asks the service for fresh ones (``/refresh``) and
reports ``expired`` so the engine retries the range at once, from the byte
it had reached. Nothing it raises carries the request id or a URL signature.
"""

from __future__ import annotations

import threading

from laion_fmri_tui.core.events import FailKind
from laion_fmri_tui.core.access.errors import AccessServiceError
from laion_fmri_tui.core.settings import NetworkSettings
from laion_fmri_tui.core.models import PlanItem
from laion_fmri_tui.core.redact import redact
from laion_fmri_tui.core.transfer.sources import Request, Source
from laion_fmri_tui.core.http.answers import SourceError, classify_status

CONNECT_TIMEOUT, READ_TIMEOUT = 15.0, 60.0


class AccessSource(Source):
    """Ranged GETs on signed URLs, re-minted through ``refresh`` when they expire."""

    def __init__(self, client, request_id: str, grant) -> None:
        self._client = client
        self._request_id = request_id
        self._lock = threading.Lock()
        self._urls = {f.name: f.url for f in grant.files}
        self._generation = 0
        self._network: NetworkSettings = getattr(client, "network", None) or NetworkSettings()

    def lane_request(self, item: PlanItem) -> Request:
        """The signed GET for the lanes, the same lane as the bucket's objects
        (its proxy, CA and address rules: :mod:`laion_fmri_tui.core.http`)."""
        with self._lock:
            url = self._urls.get(item.dest.name)
        if url is None:
            raise SourceError(FailKind.MISSING, f"the access service did not grant {item.dest.name}")
        return Request(url, (), self._network, CONNECT_TIMEOUT, READ_TIMEOUT)

    def status_failure(self, item: PlanItem, status: int, url: str) -> SourceError:
        """What a refusal of the signed URL ``url`` means: 403 is an expired
        link (fresh ones are fetched, once however many transfers saw it)."""
        if status == 403:
            with self._lock:
                current = url in self._urls.values()
                generation = self._generation
            if current:
                self._renew(generation)
            return SourceError(FailKind.EXPIRED, "the download link expired; fetched a fresh one from the access service")
        return classify_status(status, item.dest.name)

    def _renew(self, seen_generation: int) -> None:
        """Swap in fresh URLs once, however many transfers saw the old ones fail."""
        with self._lock:
            if self._generation != seen_generation:
                return
            try:
                grant = self._client.refresh(self._request_id)
            except AccessServiceError as error:
                raise SourceError(FailKind.ACCESS, redact(str(error))) from None
            self._urls = {f.name: f.url for f in grant.files}
            self._generation += 1
