"""HTTP client for the stimulus access service (protocol: UPSTREAM.md §5).

Differences from upstream, on purpose: transient failures (connection errors,
timeouts, 5xx, 429 with ``Retry-After``) are retried with backoff; every
answer is checked against the protocol and turned into typed, frozen records,
so a proxy's HTML page surfaces as :class:`MalformedResponseError` rather
than a ``KeyError``; the form post is only retried when the service surely
did not act on it, so one click never files two access requests.
"""

from __future__ import annotations

import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from laion_fmri_tui import __version__
from laion_fmri_tui.core.access.errors import (
    AccessNotFoundError, AccessRevokedError, AccessServiceError, FormRejectedError,
    MalformedResponseError, RateLimitedError, ServiceUnreachableError, TermsOutdatedError, one_line,
)
from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.http.connect import ProxyRefused, certificate_problem
from laion_fmri_tui.core.http.network import Proxy, httpx_options, proxy_for
from laion_fmri_tui.core.settings import NetworkSettings
from laion_fmri_tui.core.redact import register_secret, redact_url

DEFAULT_ACCESS_URL = "https://laion-fmri.hebartlab.com"
ENV_ACCESS_URL = "LAION_FMRI_ACCESS_URL"
DATASET_VERSION = "v1"
PAGES = {"terms": "/terms", "privacy": "/privacy", "takedown": "/takedown",
         "request": "/request", "accept": "/terms/accept"}
MAX_RETRY_AFTER = 30.0
MAX_BACKOFF = 30.0
# Connection never made: safe to resend even a non-idempotent POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_GATEWAY = frozenset({502, 503, 504})
_PROXY_STATUSES = frozenset({401, 403, 407, 502, 503, 504})
"""Statuses a forward proxy answers itself (same rule as the bucket's, core/s3/client.py)."""
_SHA256 = re.compile(r"[0-9a-f]{64}")


def resolve_base_url(explicit: str | None = None) -> str:
    """``--access-url``, else ``LAION_FMRI_ACCESS_URL``, else production; no trailing ``/``."""
    for candidate in (explicit, os.environ.get(ENV_ACCESS_URL)):
        if candidate and candidate.strip():
            return candidate.strip().rstrip("/")
    return DEFAULT_ACCESS_URL


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date); None if absent or garbage."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@dataclass(frozen=True)
class FileSpec:
    """A stimulus file as the public manifest describes it."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """``GET /api/v1/manifest``: what exists and which terms are current."""

    dataset: str
    current_terms_version: str
    versions: tuple[str, ...]
    files: tuple[FileSpec, ...]

    def file(self, name: str) -> FileSpec | None:
        return next((f for f in self.files if f.name == name), None)


@dataclass(frozen=True)
class SignedFile:
    """One presigned download; ``repr`` hides the URL's signature."""

    name: str
    url: str
    size: int
    sha256: str

    def __repr__(self) -> str:
        return f"SignedFile(name={self.name!r}, url={redact_url(self.url)!r}, size={self.size}, sha256={self.sha256!r})"


@dataclass(frozen=True)
class Grant:
    """Signed URLs for a request id; ``repr`` leaves the id out."""

    request_id: str = field(repr=False)
    expires_at: str
    files: tuple[SignedFile, ...]

    def file(self, name: str) -> SignedFile | None:
        return next((f for f in self.files if f.name == name), None)


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    """``obj[key]`` if it has type ``kind`` (bool is no int; "" is no str), else malformed."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) or value == "":
        raise MalformedResponseError(f"the access service's answer to {where} lacks a valid {key!r}")
    return value


def _file_fields(entry: Any, where: str) -> tuple[str, int, str]:
    name, size = _get(entry, "name", str, where), _get(entry, "size", int, where)
    sha256 = _get(entry, "sha256", str, where).lower()
    if "/" in name or "\\" in name or name in (".", "..") or size < 0 or not _SHA256.fullmatch(sha256):
        raise MalformedResponseError(f"the access service's answer to {where} lists an invalid file entry")
    return name, size, sha256


def _from_proxy(response: httpx.Response) -> bool:
    """Whether an answer to a plain-http request through a proxy is the
    proxy's own: a 407 or ``Proxy-Authenticate``, or a refusal status whose
    body is not the service's JSON. (Over https the proxy only answers
    ``CONNECT``, which httpx reports as ``ProxyError``.)"""
    if response.request.url.scheme != "http":
        return False
    if response.status_code == 407 or "proxy-authenticate" in response.headers:
        return True
    return (response.status_code in _PROXY_STATUSES
            and "json" not in response.headers.get("content-type", ""))


def _parse_manifest(body: Any, where: str) -> Manifest:
    versions = _get(body, "versions", list, where)
    if not all(isinstance(v, str) for v in versions):
        raise MalformedResponseError(f"the access service's answer to {where} lacks a valid 'versions'")
    return Manifest(
        dataset=_get(body, "dataset", str, where),
        current_terms_version=_get(body, "current_terms_version", str, where),
        versions=tuple(versions),
        files=tuple(FileSpec(*_file_fields(e, where)) for e in _get(body, "files", list, where)),
    )


def _parse_grant(body: Any, request_id: str | None, where: str) -> Grant:
    files = []
    for entry in _get(body, "files", list, where):
        name, size, sha256 = _file_fields(entry, where)
        url = _get(entry, "url", str, where)
        if not url.startswith(("https://", "http://")):
            raise MalformedResponseError(f"the access service's answer to {where} has a non-HTTP URL for {name}")
        files.append(SignedFile(name, url, size, sha256))
    return Grant(
        request_id=request_id if request_id is not None else _get(body, "request_id", str, where),
        expires_at=_get(body, "expires_at", str, where),
        files=tuple(files),
    )


class AccessClient:
    """One pooled ``httpx.Client`` speaking the access-service protocol."""

    def __init__(
        self, base_url: str | None = None, *, timeout: float = 30.0, retries: int = 4,
        backoff: float = 0.5, transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep, max_retry_after: float = MAX_RETRY_AFTER,
        network: NetworkSettings | None = None,
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        if not self.base_url.startswith(("http://", "https://")):
            raise UsageError(f"the access service URL {self.base_url!r} must start with http:// or https://")
        self._retries = max(0, retries)
        self._backoff = backoff
        self._sleep = sleep
        self._max_retry_after = max_retry_after
        self.network = network or NetworkSettings()
        """Proxy and CA rules, the same as the bucket's (see core/http/network.py)."""
        try:
            self._http = httpx.Client(
                base_url=self.base_url, timeout=timeout, transport=transport, follow_redirects=True,
                headers={"Accept": "application/json", "User-Agent": f"laion-fmri-tui/{__version__}"},
                **httpx_options(self.network, self.base_url),
            )
        except httpx.InvalidURL as error:
            raise UsageError(f"the access service URL {self.base_url!r} is not valid: {error}") from None

    def page_url(self, name: str) -> str:
        """The human page ``terms``, ``privacy``, ``takedown`` (or ``request``, ``accept``)."""
        if name not in PAGES:
            raise ValueError(f"unknown access-service page {name!r}; one of {', '.join(PAGES)}")
        return self.base_url + PAGES[name]

    def manifest(self) -> Manifest:
        """The public file list and current terms version (no credentials)."""
        return _parse_manifest(self._call("GET", "/api/v1/manifest"), "GET /api/v1/manifest")

    def request_access(self, form_payload: dict[str, Any]) -> Grant:
        """Post the Data Use Agreement form; the answer carries a new request id."""
        body = self._call("POST", "/api/v1/access/request", form_payload, idempotent=False)
        grant = _parse_grant(body, None, "POST /api/v1/access/request")
        register_secret(grant.request_id)
        return grant

    def refresh(self, request_id: str) -> Grant:
        """Fresh signed URLs for a known request id."""
        register_secret(request_id)
        body = {"request_id": request_id, "dataset_version": DATASET_VERSION}
        answer = self._call("POST", "/api/v1/refresh", body, unknown_id=True)
        return _parse_grant(answer, request_id, "POST /api/v1/refresh")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AccessClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing -------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, *,
              idempotent: bool = True, unknown_id: bool = False) -> Any:
        """One protocol call: retried while transient, then decoded or mapped to an error."""
        attempt = 0
        while True:
            proxy = proxy_for(self.network, self.base_url)
            try:
                response = self._http.request(method, path, json=body)
            except httpx.TransportError as error:
                final = self._transport_problem(error, proxy)
                if final is not None:
                    raise ServiceUnreachableError(final) from None
                retry = idempotent or isinstance(error, _NOT_SENT)
                if retry and attempt < self._retries and not isinstance(error, httpx.UnsupportedProtocol):
                    self._pause(attempt, None)
                    attempt += 1
                    continue
                reason = str(error) or type(error).__name__
                if proxy is not None:  # the failed connection may be the proxy's: name it too
                    raise ServiceUnreachableError(
                        f"could not reach the access service at {self.base_url} through the proxy "
                        f"{proxy.shown} ({reason}); check {proxy.source}") from None
                raise ServiceUnreachableError(
                    f"could not reach the access service at {self.base_url}: {reason}") from None
            except httpx.HTTPError as error:  # redirect loops, undecodable bodies
                raise MalformedResponseError(
                    f"the access service at {self.base_url} gave an unusable answer to {path}: "
                    f"{error or type(error).__name__}") from None
            status = response.status_code
            if proxy is not None and _from_proxy(response):
                raise ServiceUnreachableError(str(ProxyRefused(proxy, status, response.reason_phrase)))
            wait = retry_after_seconds(response.headers.get("retry-after"))
            transient = status == 429 or status in _GATEWAY or (idempotent and status >= 500)
            if transient and attempt < self._retries:
                self._pause(attempt, wait)
                attempt += 1
                continue
            if status == 429:
                raise RateLimitedError(wait)
            if 200 <= status < 300:
                try:
                    return response.json()
                except ValueError:
                    raise MalformedResponseError(
                        f"the access service at {self.base_url} answered {path} with something that is "
                        f"not JSON (HTTP {status}, {response.headers.get('content-type', 'no content type')})"
                    ) from None
            raise self._error(status, response, unknown_id)

    def _transport_problem(self, error: httpx.TransportError, proxy: Proxy | None) -> str | None:
        """The whole line for a failure no retry mends: a certificate that
        fails its check, a proxy that refused the tunnel (``CONNECT``)."""
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return certificate_problem(cause, httpx.URL(self.base_url).host)
            cause = cause.__cause__ or cause.__context__
        if proxy is not None and isinstance(error, httpx.ProxyError):
            found = re.match(r"(\d{3})\s*(.*)", str(error))
            return str(ProxyRefused(proxy, int(found.group(1)), found.group(2)) if found
                       else ProxyRefused(proxy, None))
        return None

    def _pause(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(retry_after, self._max_retry_after)
        else:
            delay = min(self._backoff * (2 ** attempt), MAX_BACKOFF)
        self._sleep(delay)

    def _error(self, status: int, response: httpx.Response, unknown_id: bool) -> AccessServiceError:
        try:
            parsed = response.json()
        except ValueError:  # never an HTML page's markup on the screen: its status says enough
            parsed = "" if "html" in response.headers.get("content-type", "") else response.text.strip()
        detail = parsed.get("detail", parsed) if isinstance(parsed, dict) else parsed
        if status == 403 and isinstance(detail, dict) and detail.get("error") == "terms_outdated":
            url, version = detail.get("accept_url"), detail.get("current_terms_version")
            return TermsOutdatedError(
                url if isinstance(url, str) and url else self.page_url("accept"),
                version if isinstance(version, str) and version else "?",
            )
        if status == 403 and "revoked" in str(detail).lower():
            return AccessRevokedError(one_line(detail, limit=200))
        if status == 404 and unknown_id:
            return AccessNotFoundError()
        if status == 422:
            return FormRejectedError.from_detail(detail)
        hint = f" (is {self.base_url} the LAION-fMRI access service?)" if status == 404 else ""
        return AccessServiceError(f"HTTP {status}: {one_line(detail, limit=200) or response.reason_phrase}{hint}")
