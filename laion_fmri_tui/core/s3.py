"""Where the bucket is, and how hard to push it.

The bucket is public: every request is anonymous and unsigned, and nothing
reads the user's AWS configuration (a broken ``~/.aws/config``, an
``AWS_PROFILE`` naming a missing profile, or an ``AWS_ENDPOINT_URL`` meant for
another service changes nothing here). The endpoint comes only from
``--endpoint-url`` or ``LAION_FMRI_S3_ENDPOINT_URL``. The requests themselves
are made by :mod:`laion_fmri_tui.core.s3_http`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from laion_fmri_tui.core.http.network import NetworkSettings

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
    max_attempts: int = 6
    """Attempts per listing page (throttling, 5xx, dropped connections); object
    GETs are retried by the engine, from the byte they reached."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    network: NetworkSettings = field(default_factory=NetworkSettings)
    """Proxy and CA bundle (``--proxy``, ``--ca-bundle``; the environment fills in the rest)."""


def endpoint_from_env(explicit: str | None) -> str | None:
    """The endpoint override: the flag first, then the environment."""
    value = explicit or os.environ.get(ENDPOINT_ENV, "").strip()
    return value.rstrip("/") or None
