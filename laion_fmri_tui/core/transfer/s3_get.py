"""Ranged, ETag-pinned anonymous GETs of the public bucket's objects.

The :class:`~laion_fmri_tui.core.transfer.sources.Source` for S3, over the
service's one connection pool (:mod:`laion_fmri_tui.core.s3_http`, which
says why it is plain HTTP). A failure is classified by its HTTP status, so
the engine's retries, resume and skip rules decide what happens next.
"""

from __future__ import annotations

import certifi
import urllib3

from laion_fmri_tui.core.plan import PlanItem
from laion_fmri_tui.core.s3_http import S3Http, reason_of
from laion_fmri_tui.core.transfer.lane_transfer import Request
from laion_fmri_tui.core.transfer.sources import Opened, SourceError, classify_status, content_range_start


class _Body:
    """A streaming response that goes back to the pool only when read to the end."""

    __slots__ = ("_response", "_left", "_raw")

    def __init__(self, response: urllib3.BaseHTTPResponse, length: int | None) -> None:
        self._response = response
        self._left = length
        raw = getattr(response, "_fp", None)  # http.client's response under urllib3's
        self._raw = raw if length is not None and hasattr(raw, "readinto") else None

    def read(self, amt: int) -> bytes:
        data = self._response.read(amt)
        if self._left is not None:
            self._left -= len(data)
        return data

    def readinto(self, view: memoryview) -> int:
        """Read straight into the caller's buffer: no new object per read, no copy
        (urllib3's own ``readinto`` reads a new bytes object and copies it)."""
        if self._raw is None:
            data = self.read(len(view))
            view[:len(data)] = data
            return len(data)
        got = self._raw.readinto(view[:min(len(view), self._left)]) if self._left else 0
        self._left -= got
        return got

    def close(self) -> None:
        if self._left != 0:
            self._response.close()  # unread bytes: the connection cannot be reused
        self._response.release_conn()


class S3GetSource:
    """GETs of one bucket's objects, sharing the service's connection pool.

    ``If-Match`` pins every range to the planned ETag, so an object replaced
    mid-transfer answers 412 instead of silently mixing two versions.
    """

    def __init__(self, http: S3Http, bucket: str) -> None:
        self._http = http
        self._bucket = bucket
        self._ca_file = certifi.where()

    def lane_request(self, item: PlanItem) -> Request:
        """The same GET for the multi lane (which adds the Range when resuming)."""
        connect, read = self._http.timeouts
        headers = (f'If-Match: "{item.etag}"',) if item.etag else ()
        return Request(self._http.object_url(self._bucket, item.key), headers, self._ca_file, connect, read)

    def open(self, item: PlanItem, start: int, end: int | None) -> Opened:
        headers = {}
        if start or (end is not None and end < item.size - 1):
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        if item.etag:
            headers["If-Match"] = f'"{item.etag}"'
        try:
            host, path = self._http.object_target(self._bucket, item.key)
            response = host.urlopen("GET", path, headers=headers, preload_content=False,
                                    decode_content=False, redirect=False, retries=False)
        except urllib3.exceptions.HTTPError as error:
            raise SourceError("transient", f"network error: {reason_of(error)}") from None
        if response.status not in (200, 206):
            response.drain_conn()
            response.release_conn()
            raise classify_status(response.status, item.key)
        first = content_range_start(response.headers.get("Content-Range"))
        length = response.headers.get("Content-Length")
        return Opened(_Body(response, int(length) if length and length.isdigit() else None),
                      first if first is not None else 0)
