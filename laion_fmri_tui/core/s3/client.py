"""Plain anonymous HTTP to the public bucket: kept connections for listings and GETs.

The bucket is public, so the whole protocol we need is two unsigned requests:
``GET /?list-type=2`` (ListObjectsV2) and ``GET /<key>`` with ``Range`` and
``If-Match``. botocore did both, at a cost measured in ``bench/``: about
1-2 ms of CPU per call before a byte moved (most of a core for thousands of
small sidecars), 25-50 ms to parse a 1,000-key listing page where
ElementTree takes 9, and 0.3 s to import and build a client. The standard
library's ``http.client`` does the rest; urllib3 on top of it cost another
40-50 ms to import, a twentieth of a batch run of 2,000 small files, for
a pool of a few lines (:class:`_Pool`). Object bytes all go through the
lanes' own sockets instead (``transfer/lane.py``). Listing pages
are retried here, object GETs by the engine, both by the rules of
:mod:`laion_fmri_tui.core.http.retry` (throttling, 5xx and dropped
connections back off with jitter for ``--retry-for``).
Nothing here reads the user's AWS configuration.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from urllib.parse import quote, unquote_plus, urlencode, urlsplit

from laion_fmri_tui.core.errors import BucketUnreachableError
from laion_fmri_tui.core.http.connect import (
    UNTRUSTED,
    ProxyRefused,
    ProxyUnreachable,
    certificate_problem,
    open_blocking,
)
from laion_fmri_tui.core.http.retry import AdaptiveLimit, RetryKind, RetryPolicy, RetryState, kind_of_status, \
    retry_after
from laion_fmri_tui.core.s3.endpoint import REGION
from laion_fmri_tui.core.settings import NetworkSettings, S3Settings
from laion_fmri_tui.core.http.wire import AGENT, Origin, target
from laion_fmri_tui.core.http.answers import SourceError, wrong_region

_DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
"""What a kept connection the server closed while it was idle raises on reuse."""


MALFORMED = "the endpoint's URL is malformed"
NOT_S3 = ("the endpoint did not answer like S3 (its reply to a listing is not a ListBucketResult); "
          "check --endpoint-url")
_UNREACHABLE = ("host not found", "connection failed")
"""Reasons with no connection at all: a few quick attempts, not the whole --retry-for."""


class ListingError(Exception):
    """A listing failed for good: ``status`` is the HTTP status, None if unreachable.

    ``whole``: the reason is the whole message (a proxy's refusal, an untrusted
    certificate), not a detail of "could not reach"."""

    def __init__(self, status: int | None, reason: str, whole: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.whole = whole


class NetworkRefused(ConnectionError):
    """A failure no retry mends: the proxy refused, or the certificate is not trusted."""


class NetworkUnreachable(ConnectionError):
    """The proxy could not be reached: retried like any dropped connection,
    but its text (naming the proxy) is the whole message."""


_PROXY_STATUSES = frozenset({401, 403, 407, 502, 503, 504})
"""Statuses a forward proxy answers itself when it refuses or cannot reach the endpoint."""


def proxy_answered(answer: http.client.HTTPResponse, body: bytes | None) -> bool:
    """Whether an error answer to a plain-http request sent through a proxy
    came from the proxy, not from S3. S3 marks every answer with
    ``x-amz-request-id`` and explains errors in XML (``<Error>``); a proxy's
    own page (HTML, or nothing) has neither. ``Proxy-Authenticate`` is always
    the proxy's. (Over https the proxy only sees ``CONNECT``, whose refusal
    :class:`ProxyRefused` reports.)"""
    if answer.getheader("Proxy-Authenticate") is not None or answer.status == 407:
        return True
    if answer.status not in _PROXY_STATUSES or answer.getheader("x-amz-request-id") is not None:
        return False
    return body is not None and b"<Error>" not in body


class Response:
    """An answer whose body is read by the caller; its connection goes back to
    the pool only once the body is read to its end."""

    def __init__(self, pool: _Pool, origin: Origin, conn: http.client.HTTPConnection,
                 answer: http.client.HTTPResponse, body: bytes | None = None) -> None:
        self._pool, self._origin, self._conn, self._answer = pool, origin, conn, answer
        self._body = body
        """An error answer's body already read (to tell a proxy's from S3's)."""
        self.status = answer.status
        self._clean = True
        """No read failed or ended short: a body read to its end leaves the
        connection at the next answer (http.client marks a truncated body
        closed too)."""

    def header(self, name: str) -> str | None:
        return self._answer.getheader(name)

    def read(self) -> bytes:
        """The whole body (``Content-Length`` or chunked); the connection is then kept."""
        if self._body is not None:
            self.close()
            return self._body
        try:
            return self._answer.read()
        except (OSError, http.client.HTTPException, ValueError) as error:
            self._clean = False
            if isinstance(error, http.client.IncompleteRead):
                reason = "the answer broke off"
            else:
                reason = reason_of(error) if isinstance(error, OSError) else "the server's answer is malformed"
            raise ConnectionError(reason) from None
        finally:
            self.close()

    def readinto(self, view: memoryview) -> int:
        """Body bytes straight into ``view``; 0 at its end (or where it broke off)."""
        if self._body is not None:
            got = min(len(view), len(self._body))
            view[:got], self._body = self._body[:got], self._body[got:]
            return got
        try:
            got = self._answer.readinto(view)
        except BaseException:
            self._clean = False
            raise
        if not got and view and self._answer.length:  # closed before its Content-Length
            self._clean = False
        return got

    def close(self) -> None:
        """Keep the connection when the body was read to its end, else drop it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._clean and self._answer.isclosed() and not self._answer.will_close:
            self._pool.release(self._origin, conn)
        else:
            self._answer.close()
            conn.close()


class _Pool:
    """Kept-alive connections per origin, each used by one thread at a time."""

    def __init__(self, connect_timeout: float, read_timeout: float, maxsize: int,
                 network: NetworkSettings) -> None:
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._maxsize = max(1, maxsize)
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._network = network

    def get(self, url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Response:
        """Send a GET (or a HEAD) and read the answer's head. A kept connection the server
        dropped while idle is replaced once, at no cost; other failures raise
        ``ConnectionError`` with a short reason (never the URL)."""
        try:
            origin, _, path = target(url)
        except (SourceError, ValueError):  # not http(s), no host, a port out of range
            raise ConnectionError(MALFORMED) from None
        sent = {"User-Agent": AGENT, "Accept-Encoding": "identity", **(headers or {})}
        while True:
            conn: http.client.HTTPConnection | None = None
            try:
                conn, kept = self._take(origin)
                if conn.sock is None:
                    conn.sock, route = open_blocking(self._network, url, origin, self._connect_timeout,
                                                     self._read_timeout)
                    conn.route = route  # type: ignore[attr-defined]
                route = conn.route  # type: ignore[attr-defined]
                if route.forward:  # plain http through a proxy: the absolute URI, the proxy's credentials
                    assert route.proxy is not None
                    conn.request(method, url, headers={**sent, **dict(
                        line.split(": ", 1) for line in route.proxy.headers())})
                else:
                    conn.request(method, path, headers=sent)
                answer = conn.getresponse()
                body = None
                if route.forward and answer.status >= 400:
                    assert route.proxy is not None
                    body = answer.read() if method != "HEAD" else None
                    if proxy_answered(answer, body):
                        conn.close()
                        raise NetworkRefused(str(ProxyRefused(route.proxy, answer.status, answer.reason)))
                return Response(self, origin, conn, answer, body)
            except _DROPPED as error:
                conn.close()  # type: ignore[union-attr] - _take does not raise these
                if not kept:
                    raise ConnectionError(reason_of(error)) from None
            except NetworkRefused:
                raise
            except ProxyRefused as error:
                raise NetworkRefused(str(error)) from None
            except ProxyUnreachable as error:
                raise NetworkUnreachable(str(error)) from None
            except ssl.SSLCertVerificationError as error:
                raise NetworkRefused(certificate_problem(error, origin.host)) from None
            except (OSError, http.client.HTTPException, ValueError) as error:  # UnicodeError: a bad host name
                if conn is not None:
                    conn.close()
                raise ConnectionError(reason_of(error)) from None

    def _take(self, origin: Origin) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(origin)
            if idle:
                return idle.pop(), True
        # The socket (proxy tunnel and TLS included) comes from core/http/connect.py:
        # http.client only speaks HTTP over it.
        return http.client.HTTPConnection(origin.host, origin.port, timeout=self._connect_timeout), False

    def release(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._maxsize:
                idle.append(conn)
                return
        conn.close()


class S3Http:
    """The connection pool and URL rules of one endpoint; thread-safe."""

    def __init__(self, settings: S3Settings) -> None:
        self.endpoint = settings.endpoint_url or f"https://s3.{REGION}.amazonaws.com"
        """For messages: where requests go."""
        self._custom = settings.endpoint_url is not None
        self.timeouts = (settings.connect_timeout, settings.read_timeout)
        """(connect, read) seconds, for every client of this endpoint."""
        retry = settings.retry if settings.max_attempts is None else replace(
            settings.retry, max_attempts=max(1, settings.max_attempts))
        self.retry_policy = RetryPolicy(retry, AdaptiveLimit(settings.max_connections))
        """The listings' retry rule (the engine has one of the same settings for GETs)."""
        self._listings = max(1, settings.max_connections)
        """Listing requests at once at most (the pool's size); fewer while the server throttles."""
        self.network = settings.network
        """Proxy and CA settings, for every connection of this endpoint (the lane's too)."""
        self._pool = _Pool(settings.connect_timeout, settings.read_timeout, settings.max_connections,
                           settings.network)

    def bucket_url(self, bucket: str) -> str:
        """Real S3 is addressed virtual-host style (the bucket name is DNS-safe);
        any other endpoint path style."""
        if self._custom:
            return f"{self.endpoint.rstrip('/')}/{bucket}/"
        return f"https://{bucket}.s3.{REGION}.amazonaws.com/"

    def contacted(self, bucket: str) -> str:
        """For messages: the scheme and host requests for ``bucket`` really go to."""
        parts = urlsplit(self.bucket_url(bucket))
        return f"{parts.scheme}://{parts.netloc}"

    def object_url(self, bucket: str, key: str) -> str:
        return self.bucket_url(bucket) + quote(key, safe="/~")

    def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        """One GET over a kept connection (raises ``ConnectionError`` when there is no answer)."""
        return self._pool.get(url, headers)

    def head_status(self, url: str) -> int:
        """The HTTP status of a HEAD of ``url`` (no body moves); raises ``ConnectionError``."""
        response = self._pool.get(url, method="HEAD")
        response.read()  # empty: hands the connection back
        return response.status

    def first_part_size(self, url: str, etag: str) -> int | None:
        """The length of part 1 of the multipart upload of the object at ``url``
        (``HEAD ?partNumber=1``, pinned to ``etag``): the upload's part size.
        None when the server cannot say (an error, no answer, or a server that
        ignores ``partNumber`` and gives the whole object's length: the caller
        checks that the length fits the ETag's part count)."""
        headers = {"If-Match": f'"{etag}"'} if etag else {}
        try:
            response = self._pool.get(url + "?partNumber=1", headers, method="HEAD")
            response.read()  # empty: hands the connection back
        except ConnectionError:
            return None
        length = response.header("Content-Length")
        if not 200 <= response.status < 300 or length is None or not length.strip().isdigit():
            return None
        return int(length)

    def reach(self, url: str) -> None:
        """HEAD ``url`` with the listings' retries; any HTTP answer will do.

        A ``--plan`` run lists nothing, so without this its first sign of an
        endpoint that does not answer would be every file failing in turn.

        Raises:
            ListingError: no answer after every attempt (``status`` None), the
                same error an unreachable listing raises.
        """
        state = RetryState()
        while True:
            try:
                self.head_status(url)
                return
            except NetworkRefused as error:
                raise ListingError(None, str(error), whole=True) from None
            except ConnectionError as error:
                reason, whole = str(error), isinstance(error, NetworkUnreachable)
            if reason == MALFORMED:
                raise ListingError(None, reason)
            kind = RetryKind.UNREACHABLE if reason in _UNREACHABLE or whole else RetryKind.DROPPED
            decision = self.retry_policy.decide(state, kind)
            if decision.delay is None:
                raise ListingError(None, reason, whole=whole)
            time.sleep(decision.delay)

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "", Delimiter: str | None = None,  # noqa: N803
                        ContinuationToken: str | None = None) -> dict:
        """One ListObjectsV2 page, shaped like botocore's answer (the fields we read)."""
        query = {"list-type": "2", "prefix": Prefix, "encoding-type": "url"}
        if Delimiter:
            query["delimiter"] = Delimiter
        if ContinuationToken:
            query["continuation-token"] = ContinuationToken
        body = self._get(self.bucket_url(Bucket) + "?" + urlencode(query, quote_via=quote))
        try:
            return parse_listing(body)
        except (BucketUnreachableError, ValueError) as error:  # a portal's login page, a body cut short
            page = "an HTML page" if body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")) else "not it"
            reason = str(error) if isinstance(error, BucketUnreachableError) else NOT_S3
            raise ListingError(200, f"{reason} ({self.contacted(Bucket)} answered {page}: a proxy or a "
                                    "network login page may be in the way; see --proxy)", whole=True) from None

    def _get(self, url: str) -> bytes:
        """A listing page's body; throttling, 5xx and dropped connections are
        retried as the retry policy says, anything else raises at once."""
        state = RetryState()
        policy = self.retry_policy
        whole = False
        while True:
            after = None
            try:
                with policy.limit.slot(self._listings) as state.ticket:  # fewer at once while throttled
                    response = self._pool.get(url)
                    body = response.read()
            except NetworkRefused as error:
                raise ListingError(None, str(error), whole=True) from None
            except ConnectionError as error:
                status, reason, whole = None, str(error), isinstance(error, NetworkUnreachable)
                if reason == MALFORMED:
                    raise ListingError(None, reason) from None
                kind = RetryKind.UNREACHABLE if reason in _UNREACHABLE or whole else RetryKind.DROPPED
            else:
                status, reason = response.status, f"HTTP {response.status}"
                if status == 200:
                    policy.limit.succeeded()
                    return body
                region = response.header("x-amz-bucket-region")
                if region and status in (301, 307, 400):
                    raise ListingError(status, wrong_region(status, region), whole=True)
                retry = kind_of_status(status)
                if retry is None:
                    raise ListingError(status, reason)
                kind, after = retry, retry_after(response.header("Retry-After"))
                whole = False
            decision = policy.decide(state, kind, after=after)
            if decision.delay is None:
                raise ListingError(status, reason, whole=whole)
            time.sleep(decision.delay)


def parse_listing(body: bytes) -> dict:
    """ListObjectsV2 XML -> ``Contents`` (Key, Size, ETag), ``CommonPrefixes``,
    ``IsTruncated`` and ``NextContinuationToken``; url-encoded names decoded.

    Fields are found by their namespaced tags (ElementTree's C ``findtext``):
    a Python loop over every field of 1,000 entries per page, stripping the
    namespace from each tag, was most of a 100,000-key plan's parsing.

    A 200 that is no ListBucketResult (JSON or HTML from a wrong endpoint)
    is :class:`~laion_fmri_tui.core.errors.BucketUnreachableError`: one line,
    exit 4, not a parser's traceback."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        root = None
    if root is None or not root.tag.endswith("ListBucketResult"):
        raise BucketUnreachableError(NOT_S3)
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
        # S3 form-encodes (a space as ``+``, a literal ``+`` as ``%2B``), as
        # botocore decodes; moto's ``%20`` for a space decodes the same way.
        for entry in contents:
            entry["Key"] = unquote_plus(entry["Key"])
        for entry in prefixes:
            entry["Prefix"] = unquote_plus(entry["Prefix"])
    return page


def reason_of(error: BaseException) -> str:
    """A short cause of a failed request, never its URL."""
    if isinstance(error, TimeoutError):  # socket.timeout too
        return "timed out"
    if isinstance(error, ssl.SSLCertVerificationError):
        return UNTRUSTED
    if isinstance(error, socket.gaierror):
        return "host not found"
    if isinstance(error, _DROPPED):
        return "connection dropped"
    if isinstance(error, OSError):
        return "connection failed"
    if isinstance(error, UnicodeError):
        return "host not found"
    if isinstance(error, (ValueError, http.client.InvalidURL)):
        return MALFORMED
    return type(error).__name__
