"""Plain anonymous HTTP to the public bucket: one urllib3 pool for listings and GETs.

The bucket is public, so the whole protocol we need is two unsigned requests:
``GET /?list-type=2`` (ListObjectsV2) and ``GET /<key>`` with ``Range`` and
``If-Match``. botocore did both, at a cost measured in ``bench/``: about
1-2 ms of CPU per call before a byte moved (most of a core for thousands of
small sidecars), 25-50 ms to parse a 1,000-key listing page where
ElementTree takes 9, and 0.3 s to import and build a client. Retries are ours
(here for listings, in the engine for objects) and follow botocore's
standard mode: 5xx, 429 and dropped connections back off and try again.
Nothing here reads the user's AWS configuration.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote, urlencode

import certifi
import urllib3

from laion_fmri_tui.core.s3 import REGION, S3Settings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ListingError(Exception):
    """A listing failed for good: ``status`` is the HTTP status, None if unreachable."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class S3Http:
    """The connection pool and URL rules of one endpoint; thread-safe."""

    def __init__(self, settings: S3Settings) -> None:
        self.endpoint = settings.endpoint_url or f"https://s3.{REGION}.amazonaws.com"
        """For messages: where requests go."""
        self._custom = settings.endpoint_url is not None
        self.timeouts = (settings.connect_timeout, settings.read_timeout)
        """(connect, read) seconds, for every client of this endpoint."""
        self._attempts = max(1, settings.max_attempts)
        self._hosts: dict[str, urllib3.HTTPConnectionPool] = {}
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=settings.max_connections, block=False, retries=False,
            timeout=urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
            ca_certs=certifi.where(),
        )

    def bucket_url(self, bucket: str) -> str:
        """Real S3 is addressed virtual-host style (the bucket name is DNS-safe);
        any other endpoint path style."""
        if self._custom:
            return f"{self.endpoint.rstrip('/')}/{bucket}/"
        return f"https://{bucket}.s3.{REGION}.amazonaws.com/"

    def object_url(self, bucket: str, key: str) -> str:
        return self.bucket_url(bucket) + quote(key, safe="/~")

    def object_target(self, bucket: str, key: str) -> tuple[urllib3.HTTPConnectionPool, str]:
        """The host's pool and the request path of one object: a GET per small
        file should not parse its own URL again to find the pool."""
        url = self.object_url(bucket, key)
        host = self._hosts.get(bucket)
        if host is None:
            host = self._hosts[bucket] = self._pool.connection_from_url(url)
        return host, url[url.index("/", url.index("//") + 2):]

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "", Delimiter: str | None = None,  # noqa: N803
                        ContinuationToken: str | None = None) -> dict:
        """One ListObjectsV2 page, shaped like botocore's answer (the fields we read)."""
        query = {"list-type": "2", "prefix": Prefix, "encoding-type": "url"}
        if Delimiter:
            query["delimiter"] = Delimiter
        if ContinuationToken:
            query["continuation-token"] = ContinuationToken
        return parse_listing(self._get(self.bucket_url(Bucket) + "?" + urlencode(query, quote_via=quote)))

    def _get(self, url: str) -> bytes:
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._pool.request("GET", url, redirect=False)
            except urllib3.exceptions.HTTPError as error:
                status, reason = None, reason_of(error)
            else:
                if response.status == 200:
                    return response.data
                status, reason = response.status, f"HTTP {response.status}"
                if status not in RETRY_STATUSES:
                    raise ListingError(status, reason)
            if attempt < self._attempts:
                time.sleep(min(5.0, 0.2 * 2 ** (attempt - 1)))
        raise ListingError(status, reason)


def parse_listing(body: bytes) -> dict:
    """ListObjectsV2 XML -> ``Contents`` (Key, Size, ETag), ``CommonPrefixes``,
    ``IsTruncated`` and ``NextContinuationToken``; url-encoded names decoded.

    Fields are found by their namespaced tags (ElementTree's C ``findtext``):
    a Python loop over every field of 1,000 entries per page, stripping the
    namespace from each tag, was most of a 100,000-key plan's parsing."""
    root = ET.fromstring(body)
    ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    key, size, etag = ns + "Key", ns + "Size", ns + "ETag"
    contents = [{"Key": entry.findtext(key) or "", "Size": int(entry.findtext(size) or 0),
                 "ETag": entry.findtext(etag) or ""} for entry in root.iterfind(ns + "Contents")]
    prefixes = [{"Prefix": entry.findtext(ns + "Prefix") or ""} for entry in root.iterfind(ns + "CommonPrefixes")]
    page: dict = {"Contents": contents, "CommonPrefixes": prefixes,
                  "IsTruncated": (root.findtext(ns + "IsTruncated") or "").strip() == "true"}
    token = root.findtext(ns + "NextContinuationToken")
    if token is not None:
        page["NextContinuationToken"] = token
    if (root.findtext(ns + "EncodingType") or "").strip() == "url":  # a server may ignore encoding-type
        for entry in contents:
            entry["Key"] = unquote(entry["Key"])
        for entry in prefixes:
            entry["Prefix"] = unquote(entry["Prefix"])
    return page


def reason_of(error: Exception) -> str:
    """A short cause without the URL (urllib3 puts the whole request in its messages)."""
    inner = getattr(error, "reason", None)
    name = type(inner or error).__name__
    if "Connect" in name or "NewConnection" in name:
        return "connection failed"
    if "Timeout" in name:
        return "timed out"
    return name
