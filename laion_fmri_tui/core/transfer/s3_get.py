"""Anonymous GETs of the public bucket's objects over one urllib3 pool.

botocore spends one to two milliseconds of CPU on every call (parameter
validation, endpoint rules, event hooks, header parsing) before a byte moves;
for a bucket of thousands of small sidecars that is most of a core. A public
object needs none of it: an unsigned ``GET`` of its URL, with ``Range`` and
``If-Match``, is the whole protocol. Listings stay on botocore
(:mod:`laion_fmri_tui.core.catalog`), where its pagination and parsing earn
their cost. Failures are classified exactly like the botocore path, so the
engine's retries, resume and skip rules are unchanged.
"""

from __future__ import annotations

from urllib.parse import quote

import certifi
import urllib3

from laion_fmri_tui.core.plan import PlanItem
from laion_fmri_tui.core.s3 import REGION, S3Settings
from laion_fmri_tui.core.transfer.sources import Opened, SourceError, classify_status, content_range_start


def object_url_base(settings: S3Settings) -> str:
    """The URL prefix that a quoted key is appended to.

    Real S3 is addressed virtual-host style (the bucket name is DNS-safe);
    any other endpoint (a local server, a mirror) path style, as the botocore
    client is configured for it.
    """
    if settings.endpoint_url:
        return f"{settings.endpoint_url.rstrip('/')}/{settings.bucket}/"
    return f"https://{settings.bucket}.s3.{REGION}.amazonaws.com/"


class _Body:
    """A streaming response that goes back to the pool only when read to the end."""

    __slots__ = ("_response", "_left")

    def __init__(self, response: urllib3.BaseHTTPResponse, length: int | None) -> None:
        self._response = response
        self._left = length

    def read(self, amt: int) -> bytes:
        data = self._response.read(amt)
        if self._left is not None:
            self._left -= len(data)
        return data

    def close(self) -> None:
        if self._left != 0:
            self._response.close()  # unread bytes: the connection cannot be reused
        self._response.release_conn()


class S3GetSource:
    """Ranged, ETag-pinned GETs of public objects, sharing one connection pool."""

    def __init__(self, settings: S3Settings) -> None:
        self._base = object_url_base(settings)
        self._pool = urllib3.PoolManager(
            num_pools=2, maxsize=settings.max_connections, block=False, retries=False,
            timeout=urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
            ca_certs=certifi.where(),
        )

    def url(self, key: str) -> str:
        return self._base + quote(key, safe="/~")

    def open(self, item: PlanItem, start: int, end: int | None) -> Opened:
        headers = {}
        if start or (end is not None and end < item.size - 1):
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        if item.etag:
            headers["If-Match"] = f'"{item.etag}"'
        try:
            response = self._pool.request("GET", self.url(item.key), headers=headers,
                                          preload_content=False, decode_content=False, redirect=False)
        except urllib3.exceptions.HTTPError as error:
            raise SourceError("transient", f"network error: {_reason(error)}") from None
        if response.status not in (200, 206):
            response.drain_conn()
            response.release_conn()
            raise classify_status(response.status, item.key)
        first = content_range_start(response.headers.get("Content-Range"))
        length = response.headers.get("Content-Length")
        return Opened(_Body(response, int(length) if length and length.isdigit() else None),
                      first if first is not None else 0)

    def close(self) -> None:
        self._pool.clear()


def _reason(error: Exception) -> str:
    """A short cause without the URL (urllib3 puts the whole request in its messages)."""
    inner = getattr(error, "reason", None)
    return type(inner or error).__name__
