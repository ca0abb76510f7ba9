"""Every value a user can set, in one place: plain frozen dataclasses, data and validation only.

The modules that act on these values take them as arguments: the proxy and
the TLS context (:func:`laion_fmri_tui.core.http.network.proxy_for`,
:func:`~laion_fmri_tui.core.http.network.tls_context`), the retry policy
(:class:`laion_fmri_tui.core.http.retry.RetryPolicy`), the S3 connection
pool's size (:func:`laion_fmri_tui.core.s3.catalog.pool_settings`), the
engine's lanes and part sizes (:mod:`laion_fmri_tui.core.transfer.sizing`).
This module imports none of them (an import-linter contract in
``pyproject.toml`` checks it), so the app can hold and show the settings of a
download without loading the HTTP layer or the engine, and a
:class:`ServiceSettings` pickles to the app's engine process inside its
:class:`~laion_fmri_tui.core.run.spec.RunSpec`.

Where each value comes from
---------------------------
The front ends parse the flags (``batch/args.py``, shared by ``--batch``,
``info`` and the app) and build these values; the environment is read where
noted, never by the dataclasses themselves.

- ``--data-dir`` (else the saved config, ``laion-fmri-tui config``):
  :attr:`ServiceSettings.data_dir`.
- ``--access-url``: :attr:`ServiceSettings.access_url`; None: the access
  client reads ``LAION_FMRI_ACCESS_URL``, then uses production.
- ``--endpoint-url``, else ``LAION_FMRI_S3_ENDPOINT_URL``:
  :attr:`S3Settings.endpoint_url`
  (:func:`laion_fmri_tui.core.s3.endpoint.endpoint_from_env`).
- ``--proxy``: :attr:`NetworkSettings.proxy`; when None, ``https_proxy`` /
  ``http_proxy`` / ``all_proxy`` (lower case first, then upper case) are
  read per request; ``no_proxy`` / ``NO_PROXY`` applies to ``--proxy`` too.
- ``--ca-bundle``: :attr:`NetworkSettings.ca_bundle`; when None,
  ``AWS_CA_BUNDLE``, then ``REQUESTS_CA_BUNDLE``. ``SSL_CERT_FILE`` and
  ``SSL_CERT_DIR`` (the system store, read by OpenSSL) are trusted as well.
- ``--n-jobs`` / ``--jobs``: :attr:`EngineSettings.jobs`.
- ``--part-size``: :attr:`EngineSettings.part_size` (``--batch`` only).
- ``--max-bandwidth`` (and the app's ``w``): :attr:`EngineSettings.max_bandwidth`.
- ``--retry-for``: :attr:`EngineSettings.retry_for`, and through
  :attr:`EngineSettings.retry` the listings' :attr:`S3Settings.retry`
  (:attr:`RetrySettings.budget`).
- ``--retries``: :attr:`EngineSettings.retries`, and likewise
  :attr:`RetrySettings.max_attempts` of :attr:`S3Settings.retry` (``--batch`` only).
- ``--no-fsync``: :attr:`EngineSettings.fsync` = False (``--batch`` only).

The other fields have no flag: tests, the demo and ``bench/`` set them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.redact import register_secret

BUCKET = "laion-fmri"
"""The dataset's public bucket."""


# ---- retries (used by core/http/retry.py's RetryPolicy) ----
@dataclass(frozen=True)
class RetrySettings:
    """How long and how often to retry (the ``--retry-for`` and ``--retries`` flags)."""

    budget: float = 300.0
    """Seconds a unit keeps retrying throttling, 5xx and dropped connections
    since its first failure without progress (``--retry-for``; default 5 minutes)."""
    max_attempts: int | None = None
    """``--retries N``: also stop after N attempts in all; None: only the budget counts."""
    base: float = 0.5
    """Seconds: attempt n waits up to ``base * 2**n`` (before the cap)."""
    cap: float = 20.0
    """The longest backoff between two attempts (without a Retry-After)."""
    retry_after_cap: float = 60.0
    """A server's Retry-After is honoured up to this many seconds."""
    quick_attempts: int = 4
    """Attempts for an unreachable host or an expired link."""


# ---- the network (used by core/http/network.py) ----
@dataclass(frozen=True)
class NetworkSettings:
    """What the user set for the network; the environment fills in the rest
    (see :mod:`laion_fmri_tui.core.http.network` for the rules)."""

    proxy: str | None = None
    """``--proxy``: replaces the environment's proxies (``no_proxy`` still applies);
    ``""`` means no proxy at all, whatever the environment says."""
    ca_bundle: str | None = None
    """``--ca-bundle``: a PEM file (or a directory of hashed certificates) trusted too."""

    def __post_init__(self) -> None:
        """A malformed ``--proxy`` is a usage error at once, not a failed
        request later blamed on the endpoint. The environment's proxies are
        checked when a request needs one: a site may set
        ``ALL_PROXY=socks5://...`` for other tools next to a usable ``HTTPS_PROXY``."""
        if self.proxy:
            proxy_parts(self.proxy, "--proxy")


@functools.lru_cache(maxsize=16)
def proxy_parts(url: str, source: str = "--proxy") -> tuple[str, int, str | None, str]:
    """(host, port, user, password) of a proxy URL as a flag or the environment
    gives it (``host:port`` means ``http://``; no user: None).

    The password is registered as a secret at once, so no log, screen or error
    shows it. Raises :class:`UsageError` naming ``source``, never the
    credentials, when it is not an ``http://host[:port]`` URL (only http
    proxies are spoken)."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname
    except ValueError:  # an unclosed [IPv6 literal, a port out of range
        parts, port, host = None, -1, None
    if parts is None or parts.scheme.lower() != "http" or not host or port == -1:
        if parts is not None and host:
            shown = f"the proxy {parts.scheme}://{f'[{host}]' if ':' in host else host}"
        else:
            shown = "the proxy URL"
        raise UsageError(f"{shown} (from {source}) is not an http://host:port URL (only http:// proxies "
                         f"are supported); check {source}")
    user = password = None
    if parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
        register_secret(password)
    return host, port or 80, user, password or ""


# ---- the bucket (used by core/s3/) ----
@dataclass(frozen=True)
class S3Settings:
    """Where the bucket is and how hard to push it."""

    endpoint_url: str | None = None
    """None means real AWS S3; tests and the demo point this at 127.0.0.1."""
    bucket: str = BUCKET
    max_connections: int = 32
    """Size of the one connection pool; the service raises it to cover every
    transfer worker and listing thread
    (:func:`laion_fmri_tui.core.s3.catalog.pool_settings`)."""
    retry: RetrySettings = field(default_factory=RetrySettings)
    """How long listing pages are retried (``--retry-for``, ``--retries``); object
    GETs are retried by the engine by the same rules, from the byte they reached."""
    max_attempts: int | None = None
    """Attempts per listing page, if set (overrides ``retry.max_attempts``)."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    network: NetworkSettings = field(default_factory=NetworkSettings)
    """Proxy and CA bundle (``--proxy``, ``--ca-bundle``; the environment fills in the rest)."""


# ---- the transfer engine (used by core/transfer/) ----
@dataclass(frozen=True)
class EngineSettings:
    """How hard to push; defaults suit a shared login node on real S3."""

    jobs: int = 96
    """Ranged parts in flight at once (shared out among the lanes). S3 serves
    each connection at tens of MB/s after tens of ms, so filling a fast link
    takes about this many requests in flight (measured in ``bench/``: at
    20 MB/s a connection, 32 held large files near 500 MB/s; a subject of
    64 MiB files went 15% faster at 96 than at 64)."""
    part_size: int | None = None
    """Ranged-part size; None adapts it to the object (8-64 MiB)."""
    threshold: int | None = None
    """Objects above this are fetched as parallel parts; None = 2 x part size (min 16 MiB)."""
    retries: int | None = None
    """``--retries N``: attempts per unit in all; None: only ``retry_for`` counts."""
    retry_for: float = 300.0
    """``--retry-for``: seconds a unit keeps retrying throttling, 5xx and
    dropped connections without progress (see :mod:`laion_fmri_tui.core.http.retry`)."""
    max_bandwidth: int | None = None
    """Bytes per second over all lanes together; None = no cap. The starting
    value: the engine's ``set_bandwidth`` changes it live."""
    progress_interval: float = 0.25
    lane_jobs: int | None = None
    """GETs in flight on the lanes (parts and whole small files together);
    None = 4 x ``jobs``; at least 1 (every GET of a run goes through the lanes)."""

    fsync: bool = True
    """Flush a file's data to stable storage (fdatasync) before its ``.part``
    is renamed, so that a node crash on a parallel filesystem cannot leave a
    right-sized file with holes that a rerun trusts. Done for files fetched
    as ranged parts (their ``.part`` has its full size from the start, so
    holes are possible) and files above 1 MiB; not for small files written
    front to back: one fdatasync costs about 3 ms on ext4 (measured), which
    would cap a run of small files at a few hundred a second, and a crash
    leaves such a file short, which the size check catches."""

    lanes: int | None = None
    """Threads that run the lanes' GETs, sharing them out; None = one
    per CPU this process may use, at most two. Their bytes cross the kernel
    twice (socket to buffer, buffer to page cache): on one thread that copy
    was a whole core, and the download's pace on a shared 2-core node."""

    @property
    def retry(self) -> RetrySettings:
        """The same ``--retry-for`` and ``--retries`` as retry settings (for the
        engine's units and the listings alike)."""
        return RetrySettings(budget=self.retry_for, max_attempts=self.retries)


# ---- one service (core/service.py) and one run (core/run/spec.py) ----
@dataclass(frozen=True)
class ServiceSettings:
    """Everything a run needs to know besides the selection. Frozen: it
    crosses to the app's engine process inside a ``RunSpec``; the app keeps
    its session's changing values in its own context and makes one of these
    from them."""

    data_dir: Path
    s3: S3Settings = field(default_factory=S3Settings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    access_url: str | None = None
    """Access-service base URL; None: ``LAION_FMRI_ACCESS_URL`` or production."""
