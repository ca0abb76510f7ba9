"""Where the bucket is: its endpoint (a flag, the environment, or AWS) and region.

The bucket is public: every request is anonymous and unsigned, and nothing
reads the user's AWS configuration (a broken ``~/.aws/config``, an
``AWS_PROFILE`` naming a missing profile, or an ``AWS_ENDPOINT_URL`` meant for
another service changes nothing here). The endpoint comes only from
``--endpoint-url`` or ``LAION_FMRI_S3_ENDPOINT_URL``. The requests themselves
are made by :mod:`laion_fmri_tui.core.s3.client`; the bucket's settings
(:class:`~laion_fmri_tui.core.settings.S3Settings`) live with every other
setting in :mod:`laion_fmri_tui.core.settings`.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from laion_fmri_tui.core.errors import UsageError

REGION = "us-west-2"
ENDPOINT_ENV = "LAION_FMRI_S3_ENDPOINT_URL"


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
