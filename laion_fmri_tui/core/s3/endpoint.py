"""Where the bucket is, and how hard to push it.

The bucket is public: every request is anonymous and unsigned, and nothing
reads the user's AWS configuration (a broken ``~/.aws/config``, an
``AWS_PROFILE`` naming a missing profile, or an ``AWS_ENDPOINT_URL`` meant for
another service changes nothing here). The endpoint comes only from
``--endpoint-url`` or ``LAION_FMRI_S3_ENDPOINT_URL``. The requests themselves
are made by :mod:`laion_fmri_tui.core.s3.client`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.http.network import NetworkSettings
from laion_fmri_tui.core.http.retry import RetrySettings

BUCKET = "laion-fmri"
REGION = "us-west-2"
ENDPOINT_ENV = "LAION_FMRI_S3_ENDPOINT_URL"


@dataclass(frozen=True)
class S3Settings:
    """Where the bucket is and how hard to push it."""

    endpoint_url: str | None = None
    """None means real AWS S3; tests and the demo point this at 127.0.0.1."""
    bucket: str = BUCKET
    max_connections: int = 32
    """Size of the one connection pool; the service raises it to cover every
    transfer worker and listing thread."""
    retry: RetrySettings = field(default_factory=RetrySettings)
    """How long listing pages are retried (``--retry-for``, ``--retries``); object
    GETs are retried by the engine by the same rules, from the byte they reached."""
    max_attempts: int | None = None
    """Attempts per listing page, if set (overrides ``retry.max_attempts``)."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    network: NetworkSettings = field(default_factory=NetworkSettings)
    """Proxy and CA bundle (``--proxy``, ``--ca-bundle``; the environment fills in the rest)."""


def endpoint_from_env(explicit: str | None) -> str | None:
    """The endpoint override: the flag first, then the environment.

    Raises:
        UsageError: it is not an http(s) URL with a host (and a valid port):
            a typo, told at once rather than after a round of retries.
    """
    value = explicit or os.environ.get(ENDPOINT_ENV, "").strip()
    value = value.rstrip("/")
    if not value:
        return None
    source = "--endpoint-url" if explicit else ENDPOINT_ENV
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{source} {value!r} is not an http(s) URL with a host; "
                         "give e.g. https://s3.us-west-2.amazonaws.com")
    return value
