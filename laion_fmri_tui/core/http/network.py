"""Which proxy a request goes through, and which certificates it trusts.

Every request of the tool takes these two answers from here: the listings
and object GETs (:mod:`.connect` opens their sockets), presigned stimulus
GETs (on the same lane), and the access service's JSON API (httpx, given the
same answers by :func:`httpx_options`). Cluster sites reach the internet
through a proxy named in the environment and often inspect TLS with their
own CA; aws-cli, s5cmd and rclone honour both, so users take them for granted.

Proxies: ``--proxy URL`` first, else the environment as curl and urllib read
it (``https_proxy``/``HTTPS_PROXY`` for https, ``http_proxy``/``HTTP_PROXY``
for http, ``all_proxy``/``ALL_PROXY`` for either; lower case first).
``no_proxy``/``NO_PROXY`` exempts hosts (domain suffixes, ``*``, ``host:port``,
literal addresses) by the standard library's rules, with ``--proxy`` too.
Only ``http://`` proxies are spoken: https goes through a ``CONNECT`` tunnel
with TLS to the origin inside it, plain http as an absolute URI.

Certificates: certifi's bundle plus the system store (OpenSSL reads
``SSL_CERT_FILE``/``SSL_CERT_DIR`` for the latter), plus one more bundle when
given, in aws-cli's order: ``--ca-bundle``, ``AWS_CA_BUNDLE``,
``REQUESTS_CA_BUNDLE``. It is added, not substituted: a site's file often
holds only the site's CA, and hosts exempted by ``no_proxy`` still present
public certificates. Verification and host names are always checked; no
setting turns them off.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi

from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.redact import register_secret
from laion_fmri_tui.core.settings import NetworkSettings, proxy_parts

_HASHED = re.compile(r"[0-9a-f]{8}\.r?[0-9]+")
"""A certificate's (or CRL's) name in a hashed directory, as ``openssl rehash`` writes it."""
CA_ENV = ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE")
"""Environment variables naming a CA bundle, first wins (after ``--ca-bundle``)."""


def proxy_for(settings: NetworkSettings, url: str) -> Proxy | None:
    """The proxy a request to ``url`` goes through; None: straight to the host."""
    if settings.proxy == "" or (not settings.proxy
                                and not any(name.lower().endswith("_proxy") for name in os.environ)):
        return None  # no proxy anywhere: spare the 6 ms import of urllib.request
    from urllib.request import getproxies_environment, proxy_bypass_environment

    parts = urlsplit(url)
    host = parts.hostname or ""
    environment = getproxies_environment()
    chosen = (settings.proxy, "--proxy") if settings.proxy else (
        _from_environment(parts.scheme) or _from_environment("all"))
    if not chosen:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port out of range: the request fails on its own, with its own message
        return None
    if environment.get("no") and proxy_bypass_environment(f"{host}:{port}", environment):
        return None
    return parse_proxy(*chosen)


def tls_context(settings: NetworkSettings) -> ssl.SSLContext:
    """The one client TLS context for these settings (made once, shared)."""
    return _context(settings.ca_bundle)


@dataclass(frozen=True)
class Proxy:
    """An ``http://`` proxy; ``shown`` names it without credentials."""

    host: str
    port: int
    authorization: str | None = None
    """The ``Proxy-Authorization`` header's value (Basic), from ``user:pass@``."""
    source: str = "--proxy"
    """Where it was set (``--proxy``, ``HTTPS_PROXY``, ...): what a message tells to check."""

    @property
    def shown(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def headers(self) -> tuple[str, ...]:
        """Header lines a request through this proxy carries."""
        return (f"Proxy-Authorization: {self.authorization}",) if self.authorization else ()

    def __repr__(self) -> str:  # never the credentials, even in a traceback
        return f"Proxy({self.shown})"


def _from_environment(scheme: str) -> tuple[str, str] | None:
    """(URL, variable) of the environment's proxy for ``scheme`` (lower case first, as urllib reads it)."""
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
        value = os.environ.get(name, "").strip()
        if value:
            return value, name
    return None


@functools.lru_cache(maxsize=16)
def parse_proxy(url: str, source: str = "--proxy") -> Proxy:
    """A proxy URL as the environment gives it (``host:port`` means ``http://``);
    a malformed one is a :class:`UsageError` naming ``source``, never its
    credentials (the rule: :func:`laion_fmri_tui.core.settings.proxy_parts`)."""
    host, port, user, password = proxy_parts(url, source)
    authorization = None
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        register_secret(token)
        authorization = f"Basic {token}"
    return Proxy(host, port, authorization, source)


def _bundle(flag: str | None) -> tuple[str, str] | None:
    if flag:
        return flag, "--ca-bundle"
    for name in CA_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value, name
    return None


@functools.lru_cache(maxsize=8)
def _context(flag: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    context.load_default_certs()  # the system store (SSL_CERT_FILE / SSL_CERT_DIR when set)
    extra = _bundle(flag)
    if extra is not None:
        path, where = extra
        try:
            if os.path.isdir(path):  # like SSL_CERT_DIR: certificates named by their hash (openssl rehash)
                if not any(_HASHED.fullmatch(name) for name in os.listdir(path)):
                    raise UsageError(f"the CA bundle {path} (from {where}) cannot be used: a directory without "
                                     "hashed certificates (run openssl rehash on it, or give a PEM file)")
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as error:
            reason = "no such file" if isinstance(error, FileNotFoundError) else "not a PEM bundle"
            raise UsageError(f"the CA bundle {path} (from {where}) cannot be used: {reason}") from None
    return context


def httpx_options(settings: NetworkSettings, url: str) -> dict:
    """``httpx.Client`` keywords that make it follow these rules for ``url``'s host."""
    proxy = proxy_for(settings, url)
    options: dict = {"verify": tls_context(settings), "trust_env": False}
    if proxy is not None:
        import httpx

        auth = None
        if proxy.authorization:
            auth = {"Proxy-Authorization": proxy.authorization}
        options["proxy"] = httpx.Proxy(proxy.shown, headers=auth)
    return options

