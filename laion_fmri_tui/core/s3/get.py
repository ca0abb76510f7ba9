"""Ranged, ETag-pinned anonymous GETs of the public bucket's objects.

The :class:`~laion_fmri_tui.core.transfer.sources.Source` for S3, over the
service's kept connections (:mod:`laion_fmri_tui.core.s3.client`, which says
why it is plain HTTP). The multi lane fetches from the requests that
:meth:`S3GetSource.lane_request` describes; :meth:`S3GetSource.open` serves
the worker threads when the lane is off (``EngineSettings(lane_jobs=0)``).
A failure is classified by its HTTP status, so the engine's retries, resume
and skip rules decide what happens next.
"""

from __future__ import annotations

from laion_fmri_tui.core.models import PlanItem
from laion_fmri_tui.core.s3.client import Response, S3Http
from laion_fmri_tui.core.transfer.lane_transfer import Request
from laion_fmri_tui.core.transfer.sources import Opened, SourceError, classify_status, content_range_start


class _Body:
    """A streaming answer; its connection is kept only when read to the end."""

    __slots__ = ("_response",)

    def __init__(self, response: Response) -> None:
        self._response = response

    def read(self, amt: int) -> bytes:
        view = memoryview(bytearray(amt))
        return bytes(view[:self._response.readinto(view)])

    def readinto(self, view: memoryview) -> int:
        return self._response.readinto(view)

    def close(self) -> None:
        self._response.close()


class S3GetSource:
    """GETs of one bucket's objects, sharing the service's connections.

    ``If-Match`` pins every range to the planned ETag, so an object replaced
    mid-transfer answers 412 instead of silently mixing two versions.
    """

    def __init__(self, http: S3Http, bucket: str) -> None:
        self._http = http
        self._bucket = bucket

    def lane_request(self, item: PlanItem) -> Request:
        """The same GET for the multi lane (which adds the Range when resuming)."""
        connect, read = self._http.timeouts
        headers = (f'If-Match: "{item.etag}"',) if item.etag else ()
        return Request(self._http.object_url(self._bucket, item.key), headers, self._http.network, connect, read)

    def open(self, item: PlanItem, start: int, end: int | None) -> Opened:
        headers = {}
        if start or (end is not None and end < item.size - 1):
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        if item.etag:
            headers["If-Match"] = f'"{item.etag}"'
        try:
            response = self._http.get(self._http.object_url(self._bucket, item.key), headers)
        except ConnectionError as error:
            raise SourceError("transient", f"network error: {error}") from None
        if response.status not in (200, 206):
            try:
                response.read()  # an error's short body: the connection stays usable
            except ConnectionError:
                pass
            raise classify_status(response.status, item.key, after=response.header("Retry-After"),
                                  region=response.header("x-amz-bucket-region"))
        first = content_range_start(response.header("Content-Range"))
        return Opened(_Body(response), first if first is not None else 0)
