"""HTTP/1.1 on the wire for the lane: one GET's bytes, one answer's head.

S3 answers a GET with a ``Content-Length`` body, so this is all the lane
needs of HTTP; anything else (a chunked 2xx, a head that never ends) is
refused with a message rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from laion_fmri_tui import __version__
from laion_fmri_tui.core.http.connect import MAX_HEAD, Origin
from laion_fmri_tui.core.transfer.sources import SourceError, content_range_start

__all__ = ["AGENT", "MAX_HEAD", "Head", "Origin", "parse_head", "request", "target"]

_DIGITS = re.compile(r"[0-9]+")  # not str.isdigit: it takes "²", which int() refuses
AGENT = f"laion-fmri-tui/{__version__}"
"""The ``User-Agent`` of every request (the lane's and the listings')."""
_AGENT = f"User-Agent: {AGENT}"


def target(url: str) -> tuple[Origin, str, str]:
    """(origin, the ``Host`` header's value, path with query) of an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError("denied", f"cannot fetch {parts.scheme or 'a'} URL (http or https only)")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    if parts.port:
        shown += f":{parts.port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Origin(tls, host, port), shown, path


def request(host: str, path: str, headers: tuple[str, ...], first: int, last: int | None) -> bytes:
    """A GET of bytes ``first..last`` (``last`` None: to the end; no Range for a whole object)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", _AGENT, "Accept: */*", *headers]
    if first or last is not None:
        lines.append(f"Range: bytes={first}-{'' if last is None else last}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True)
class Head:
    """What the lane reads of an answer's head."""

    status: int
    length: int | None
    """The body's length; None: to the connection's close."""
    first: int | None
    """Object offset of the body's first byte (``Content-Range``); None if whole."""
    keep_alive: bool


def parse_head(head: bytes) -> Head:
    """Parse a head (status line and headers, without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not _DIGITS.fullmatch(code):
        raise SourceError("transient", "the server's answer is not HTTP/1.1")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    status = int(code)
    connection = {token.strip() for token in fields.get("connection", "").lower().split(",")}
    keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    if "chunked" in fields.get("transfer-encoding", "").lower():
        if 200 <= status < 300:
            raise SourceError("transient", "the server sent a chunked answer (S3 sends a length)")
        return Head(status, None, None, False)  # an error's body: the connection is closed instead
    length = fields.get("content-length")
    if length is not None and not _DIGITS.fullmatch(length):
        raise SourceError("transient", "the server's answer has a malformed Content-Length")
    return Head(status, int(length) if length is not None else None,
                content_range_start(fields.get("content-range")), keep_alive and length is not None)
