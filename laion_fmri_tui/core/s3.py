"""The anonymous S3 client: unsigned, isolated from the user's AWS set-up.

The bucket is public, so we never sign. More than that, we never *read* the
user's AWS configuration: a broken ``~/.aws/config``, an ``AWS_PROFILE`` that
names a missing profile, or an ``AWS_ENDPOINT_URL`` meant for another service
must not change or break what this tool does. botocore is therefore built with
its profile and config-file lookups pointed at nothing and configured endpoint
URLs ignored; the endpoint comes only from ``--endpoint-url`` or
``LAION_FMRI_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import botocore.session
from botocore import UNSIGNED
from botocore.config import Config

BUCKET = "laion-fmri"
REGION = "us-west-2"
ENDPOINT_ENV = "LAION_FMRI_S3_ENDPOINT_URL"

# Session variables whose environment/config lookups are switched off:
# (config-file name, env var names, default, converter).
ISOLATED_SESSION_VARS = {
    "profile": (None, None, None, None),
    "config_file": (None, None, os.devnull, None),
    "credentials_file": (None, None, os.devnull, None),
    "region": (None, None, REGION, None),
}


@dataclass(frozen=True)
class S3Settings:
    """Where the bucket is and how hard to push it."""

    endpoint_url: str | None = None
    """None means real AWS S3; tests and the demo point this at 127.0.0.1."""
    bucket: str = BUCKET
    max_connections: int = 32
    """Size of a connection pool: the listings' (botocore) and, raised to the
    worker count, the object GETs' one pool shared by every worker and part."""
    max_attempts: int = 6
    """botocore attempts per request (throttling, 5xx, dropped connections)."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


def endpoint_from_env(explicit: str | None) -> str | None:
    """The endpoint override: the flag first, then the environment."""
    value = explicit or os.environ.get(ENDPOINT_ENV, "").strip()
    return value.rstrip("/") or None


def make_client(settings: S3Settings):
    """Build one thread-safe, unsigned S3 client for the whole run.

    Retries use botocore's ``standard`` mode, which backs off on 503 SlowDown,
    other throttling codes, 5xx and dropped connections.
    """
    session = botocore.session.Session(session_vars=ISOLATED_SESSION_VARS)
    # Listings are read for keys, sizes and ETags only: leaving LastModified
    # as text instead of parsing it into datetimes halves the cost of a page.
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    config = Config(
        signature_version=UNSIGNED,
        region_name=REGION,
        max_pool_connections=settings.max_connections,
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        ignore_configured_endpoint_urls=True,
        s3={"addressing_style": "path"} if settings.endpoint_url else None,
        tcp_keepalive=True,
    )
    return session.create_client(
        "s3",
        region_name=REGION,
        endpoint_url=settings.endpoint_url,
        config=config,
    )


def http_status(error: BaseException) -> int | None:
    """The HTTP status of a botocore ClientError (moto's 403s have no code)."""
    response = getattr(error, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")
