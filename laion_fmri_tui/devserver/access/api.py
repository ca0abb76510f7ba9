"""The three JSON endpoints: manifest, access request, refresh.

Kept apart from the HTTP plumbing so each answer is a plain
``(status, payload, headers)`` and the error model of UPSTREAM.md §5
(422 details, 404 unknown id, 403 revoked / terms_outdated) reads in one place.
"""

from __future__ import annotations

import time
from typing import Any

from .files import iso_utc
from .forms import parse_body, validate_refresh, validate_request
from .state import ServiceState
from .store import Grant

Answer = tuple[int, Any, dict[str, str]]
REVOKED = "Access for this request_id has been revoked."
UNKNOWN = "Unknown request_id."


def grant_files(svc: ServiceState, grant: Grant) -> dict[str, Any]:
    """Fresh signed URLs for every gated file, all expiring together."""
    issued, ttl = time.time(), svc.url_ttl
    files = [{"name": e.name, "url": svc.signer.mint(svc.url, e.name, grant, issued, ttl),
              "size": e.size, "sha256": e.sha256} for e in svc.catalog.values()]
    return {"expires_at": iso_utc(issued + ttl), "files": files}


def manifest(svc: ServiceState, raw: bytes) -> Answer:
    return 200, {"dataset": "laion-fmri", "current_terms_version": svc.store.terms_version,
                 "versions": ["v1"], "files": [e.public() for e in svc.catalog.values()]}, {}


def request_access(svc: ServiceState, raw: bytes) -> Answer:
    body, errors = parse_body(raw)
    if body is not None:
        errors = validate_request(body, svc.store.terms_version)
    if body is None or errors:
        return 422, {"detail": errors}, {}
    request_id, grant = svc.store.issue(body["email"].strip(), body["terms_version"])
    return 200, {"request_id": request_id, **grant_files(svc, grant)}, {}


def refresh(svc: ServiceState, raw: bytes) -> Answer:
    body, errors = parse_body(raw)
    if body is not None:
        errors = validate_refresh(body)
    if body is None or errors:
        return 422, {"detail": errors}, {}
    grant = svc.store.lookup(body["request_id"])
    if grant is None:
        return 404, {"detail": UNKNOWN}, {}
    if grant.revoked:
        return 403, {"detail": REVOKED}, {}
    current = svc.store.terms_version
    if grant.terms_version != current:
        return 403, {"detail": {"error": "terms_outdated", "accept_url": f"{svc.url}/terms/accept",
                                "current_terms_version": current}}, {}
    return 200, grant_files(svc, grant), {}


ROUTES = {
    "/api/v1/manifest": ("GET", manifest),
    "/api/v1/access/request": ("POST", request_access),
    "/api/v1/refresh": ("POST", refresh),
}


def rate_limited(svc: ServiceState) -> Answer | None:
    """The 429 answer when the rate limiter is armed, else None."""
    if not svc.limiter.hit():
        return None
    return 429, {"detail": "Rate limit exceeded."}, {"Retry-After": str(svc.limiter.retry_after)}
