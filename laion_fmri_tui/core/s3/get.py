"""Ranged, ETag-pinned anonymous GETs of the public bucket's objects.

The :class:`~laion_fmri_tui.core.transfer.sources.Source` for S3: it
describes each object's GET (URL, ``If-Match``, the service's network
settings and timeouts) and the lane (:mod:`laion_fmri_tui.core.transfer.lane`)
sends it. A failure is classified by its HTTP status, so the engine's
retries, resume and skip rules decide what happens next.
"""

from __future__ import annotations

from laion_fmri_tui.core.models import PlanItem
from laion_fmri_tui.core.s3.client import S3Http
from laion_fmri_tui.core.transfer.sources import Request, Source


class S3GetSource(Source):
    """GETs of one bucket's objects, with the service's endpoint and network settings.

    ``If-Match`` pins every range to the planned ETag, so an object replaced
    mid-transfer answers 412 instead of silently mixing two versions.
    """

    def __init__(self, http: S3Http, bucket: str) -> None:
        self._http = http
        self._bucket = bucket

    def lane_request(self, item: PlanItem) -> Request:
        """``item``'s GET for the lane (which adds the Range when resuming or fetching a part)."""
        connect, read = self._http.timeouts
        headers = (f'If-Match: "{item.etag}"',) if item.etag else ()
        return Request(self._http.object_url(self._bucket, item.key), headers, self._http.network, connect, read)

    def first_part_size(self, item: PlanItem) -> int | None:
        """The part size of ``item``'s multipart upload, as the bucket tells it."""
        return self._http.first_part_size(self._http.object_url(self._bucket, item.key), item.etag)
