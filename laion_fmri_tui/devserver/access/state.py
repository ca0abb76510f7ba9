"""What the request handlers see of the running service: its state and its request log.

``service`` builds the HTTP server from ``app.Handler``, and the handlers (``app``,
``api``, ``download``) read the service's grants, signer, catalog and test knobs. Were
they to name ``AccessService`` in their type hints, ``service`` and the handlers would
import each other; they name :class:`ServiceState` instead, which ``AccessService``
satisfies, and ``download`` names the one request it answers by :class:`FileRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from .files import FileEntry, Signer
from .store import GrantStore, RateLimiter


@dataclass
class AccessRecord:
    """One request as the service saw it; never holds a query string or a body."""

    method: str
    path: str  # without the query string
    range: str | None  # the Range header, verbatim
    status: int = 0  # 0 until answered
    bytes_sent: int = 0  # body bytes written to the socket
    time: float = 0.0  # time.monotonic() on arrival
    duration: float | None = None  # seconds until the answer was done


class ServiceState(Protocol):
    """The service's grants, signing, catalog and knobs (see ``AccessService``)."""

    store: GrantStore
    signer: Signer
    limiter: RateLimiter
    catalog: dict[str, FileEntry]
    url_ttl: float
    ignore_range: bool
    corrupt: bool
    throttle: int | None
    clock_skew: float
    admin: Any

    @property
    def url(self) -> str: ...

    def _begin(self, method: str, path: str, range_header: str | None) -> AccessRecord: ...


class FileRequest(Protocol):
    """The request ``download`` answers (``app.Handler``)."""

    service: ServiceState
    record: AccessRecord
    command: str
    headers: Any
    wfile: BinaryIO
    close_connection: bool

    def send_head(self, status: int, length: int, content_type: str, headers: dict[str, str]) -> None: ...

    def send_bytes(self, status: int, body: bytes, content_type: str,
                   headers: dict[str, str] | None = None) -> None: ...
