"""``AccessService``: start/stop the reference service and turn its test knobs."""

from __future__ import annotations

import secrets
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from ..s3server import LocalS3Server
from ..serving import BackgroundServer, QuietErrors
from .app import Handler
from .files import FileEntry, Signer, read_catalog
from .state import AccessRecord
from .store import GrantStore, RateLimiter

DEFAULT_TERMS_VERSION = "2026-05-11"
DEFAULT_URL_TTL = 3600.0


class _Server(QuietErrors, ThreadingHTTPServer):
    daemon_threads = True
    service: AccessService


class AccessService(BackgroundServer):
    """The stimulus access service on 127.0.0.1, backed by a started local S3.

    Knobs (plain attributes, settable while running): ``url_ttl`` seconds a
    minted download URL lives; ``ignore_range`` answers 200 + whole body to
    ranged GETs; ``corrupt`` flips the middle byte of every download body;
    ``throttle`` paces download bodies in bytes/second (None = full speed);
    ``clock_skew`` seconds are added to the time at which a URL's expiry is
    checked, so a test can expire URLs at a chosen moment (for example while a
    body is streaming) instead of racing a short TTL on a loaded machine.
    """

    def __init__(self, s3: LocalS3Server, *, host: str = "127.0.0.1", port: int = 0,
                 url_ttl: float = DEFAULT_URL_TTL, terms_version: str = DEFAULT_TERMS_VERSION,
                 secret: bytes | None = None) -> None:
        super().__init__(host, port)
        self.s3 = s3
        self.default_url_ttl, self.default_terms_version = url_ttl, terms_version
        secret = secret if secret is not None else secrets.token_bytes(32)
        self.store = GrantStore(secret, terms_version)
        self.signer = Signer(secret)
        self.limiter = RateLimiter()
        self.url_ttl = url_ttl
        self.ignore_range = False
        self.corrupt = False
        self.throttle: int | None = None
        self.clock_skew = 0.0
        self.catalog: dict[str, FileEntry] = {}
        self.admin: Any = None
        self._log: list[AccessRecord] = []
        self._log_lock = threading.Lock()

    # ---- life cycle ----------------------------------------------------------

    def start(self) -> AccessService:
        """Read the gated files' sizes and hashes from S3, bind, serve from a daemon thread."""
        if self._server is None:
            self.admin = self.s3.admin()  # built here, once: lazy creation in threads would race
            self.reload_files()
        return super().start()

    def _make_server(self) -> _Server:
        server = _Server((self.host, self.port), Handler)
        server.service = self
        return server

    def reload_files(self) -> None:
        """Re-read sizes and sha256 from the bucket (after a test replaced an object)."""
        self.catalog = read_catalog(self.admin or self.s3.admin())

    # ---- knobs -------------------------------------------------------------

    @property
    def terms_version(self) -> str:
        return self.store.terms_version

    def bump_terms(self, version: str) -> None:
        """Publish new terms: ids that accepted an older version get ``terms_outdated``."""
        self.store.terms_version = version

    def accept_terms(self, request_id: str) -> None:
        """What ``/terms/accept`` would do: the id's holder accepts the current terms."""
        self.store.accept_terms(request_id)

    def revoke(self, request_id: str) -> None:
        """Revoke an id: refresh answers 403 and URLs minted for it stop working."""
        self.store.revoke(request_id)

    def rate_limit(self, count: int | None, retry_after: int = 1) -> None:
        """The next ``count`` API calls answer 429 with ``Retry-After``; None switches it off."""
        self.limiter.arm(count, retry_after)

    def stored_keys(self) -> list[str]:
        """What the service stores per id: HMAC-SHA256 hex digests, never raw ids."""
        return self.store.keys()

    def reset(self) -> None:
        """Back to defaults: empty log, no rate limit, flags off, default TTL, clock and terms (ids kept)."""
        with self._log_lock:
            self._log.clear()
        self.limiter.arm(None)
        self.url_ttl = self.default_url_ttl
        self.ignore_range = self.corrupt = False
        self.throttle = None
        self.clock_skew = 0.0
        self.store.terms_version = self.default_terms_version

    # ---- request log -------------------------------------------------------

    def _begin(self, method: str, path: str, range_header: str | None) -> AccessRecord:
        record = AccessRecord(method, path, range_header, time=time.monotonic())
        with self._log_lock:
            self._log.append(record)
        return record

    @property
    def requests(self) -> list[AccessRecord]:
        """A snapshot of the request log, in arrival order."""
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def downloads(self, name: str | None = None) -> list[AccessRecord]:
        """GET records of ``/files/...`` (of one file name when given)."""
        return [r for r in self.requests if r.method == "GET" and r.path.startswith("/files/")
                and (name is None or r.path == f"/files/{name}")]
