"""Who was granted access: request ids kept only as HMACs, plus the rate limiter.

A request id is a bearer credential, so the reference service behaves as the
real one should: it hands the raw id out once and keeps only
HMAC-SHA256(secret, id). A leaked store (or log) cannot be replayed, and tests
can prove it through :meth:`GrantStore.keys`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

ID_PREFIX = "lfm_"
HANDLE_CHARS = 20  # like an AWS access key id: names the grant in a URL without revealing it


@dataclass
class Grant:
    """What the service remembers about one request id (never the id itself)."""

    key: str  # HMAC-SHA256(secret, id), hex
    email: str
    terms_version: str  # the version accepted with the form
    revoked: bool = False

    @property
    def handle(self) -> str:
        """The public name of this grant inside signed URLs."""
        return self.key[:HANDLE_CHARS]


class GrantStore:
    """Thread-safe map HMAC -> Grant, the current terms version, revocations."""

    def __init__(self, secret: bytes, terms_version: str) -> None:
        self._secret = secret
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}
        self._by_handle: dict[str, Grant] = {}
        self.terms_version = terms_version

    def digest(self, request_id: str) -> str:
        """HMAC-SHA256 of a raw id under the server secret (hex)."""
        return hmac.new(self._secret, request_id.encode(), hashlib.sha256).hexdigest()

    def issue(self, email: str, terms_version: str) -> tuple[str, Grant]:
        """Mint a fresh id; return it (to be sent once) and its stored grant."""
        request_id = ID_PREFIX + secrets.token_urlsafe(32)  # 43 random characters
        grant = Grant(self.digest(request_id), email, terms_version)
        with self._lock:
            self._grants[grant.key] = grant
            self._by_handle[grant.handle] = grant
        return request_id, grant

    def lookup(self, request_id: str) -> Grant | None:
        """The grant of a raw id, or None when this server never issued it."""
        with self._lock:
            return self._grants.get(self.digest(request_id))

    def by_handle(self, handle: str) -> Grant | None:
        """The grant a signed URL names."""
        with self._lock:
            return self._by_handle.get(handle)

    def revoke(self, request_id: str) -> None:
        """Mark an id revoked (KeyError if unknown, so a test typo is loud)."""
        grant = self.lookup(request_id)
        if grant is None:
            raise KeyError("unknown request id")
        with self._lock:
            grant.revoked = True

    def accept_terms(self, request_id: str) -> None:
        """Record that the holder of ``request_id`` accepted the current terms."""
        grant = self.lookup(request_id)
        if grant is None:
            raise KeyError("unknown request id")
        with self._lock:
            grant.terms_version = self.terms_version

    def keys(self) -> list[str]:
        """Every stored key: HMAC hex digests, in issue order."""
        with self._lock:
            return list(self._grants)


class RateLimiter:
    """Answer the next ``count`` API calls with 429 (None = off)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self.retry_after = 1

    def arm(self, count: int | None, retry_after: int = 1) -> None:
        with self._lock:
            self._remaining = count if count and count > 0 else None
            self.retry_after = retry_after

    def hit(self) -> bool:
        """True when this call must be refused (and counts it)."""
        with self._lock:
            if not self._remaining:
                return False
            self._remaining -= 1
            return True
