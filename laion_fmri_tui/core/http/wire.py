"""HTTP/1.1 on the wire, for the lane and the listings: one GET's bytes, one answer's head.

S3 answers a GET with a ``Content-Length`` body; a proxy or another
S3-compatible server may send it chunked instead, which :class:`ChunkReader`
undoes. Anything else (a head that never ends, a malformed chunk) is refused
with a message rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from laion_fmri_tui import __version__
from laion_fmri_tui.core.events import FailKind
from laion_fmri_tui.core.http.connect import MAX_HEAD, Origin
from laion_fmri_tui.core.http.answers import SourceError, content_range_start

__all__ = ["AGENT", "MAX_HEAD", "Head", "Origin", "parse_head", "request", "target"]

_DIGITS = re.compile(r"[0-9]+")  # not str.isdigit: it takes "²", which int() refuses
AGENT = f"laion-fmri-tui/{__version__}"
"""The ``User-Agent`` of every request (the lane's and the listings')."""
_AGENT = f"User-Agent: {AGENT}"


def target(url: str) -> tuple[Origin, str, str]:
    """(origin, the ``Host`` header's value, path with query) of an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(FailKind.DENIED, f"cannot fetch {parts.scheme or 'a'} URL (http or https only)")
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
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", _AGENT, "Accept: */*", "Accept-Encoding: identity", *headers]
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
    retry_after: str | None = None
    """An error's ``Retry-After``, as sent (see :func:`laion_fmri_tui.core.http.retry.retry_after`)."""
    region: str | None = None
    """An error's ``x-amz-bucket-region``: where the bucket really is."""
    chunked: bool = False
    """A 2xx body in ``Transfer-Encoding: chunked`` (read with :class:`ChunkReader`)."""


def parse_head(head: bytes) -> Head:
    """Parse a head (status line and headers, without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not _DIGITS.fullmatch(code):
        raise SourceError(FailKind.TRANSIENT, "the server's answer is not HTTP/1.1")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    status = int(code)
    connection = {token.strip() for token in fields.get("connection", "").lower().split(",")}
    keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    extra = {"retry_after": fields.get("retry-after"), "region": fields.get("x-amz-bucket-region")}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        if 200 <= status < 300:
            return Head(status, None, content_range_start(fields.get("content-range")), keep_alive,
                        chunked=True, **extra)
        return Head(status, None, None, False, **extra)  # an error's body: the connection is closed instead
    length = fields.get("content-length")
    if length is not None and not _DIGITS.fullmatch(length):
        raise SourceError(FailKind.TRANSIENT, "the server's answer has a malformed Content-Length")
    return Head(status, int(length) if length is not None else None,
                content_range_start(fields.get("content-range")), keep_alive and length is not None, **extra)


class ChunkReader:
    """Undoes ``Transfer-Encoding: chunked``, as the bytes come, for the lane.

    :meth:`feed` takes whatever the socket gave and returns the payload in it;
    :attr:`done` once the last chunk and the trailers are read (the connection
    is then at the next answer)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._left = 0
        """Payload bytes of the current chunk still to come."""
        self._crlf = False
        """A chunk's payload has ended: its CRLF comes next."""
        self._trailers = False
        """The last (empty) chunk was read: trailer lines until an empty one."""
        self.done = False

    def feed(self, data: bytes | memoryview) -> bytes:
        self._buffer += data
        out = bytearray()
        buffer = self._buffer
        while not self.done:
            if self._left:
                take = min(self._left, len(buffer))
                if not take:
                    break
                out += buffer[:take]
                del buffer[:take]
                self._left -= take
                self._crlf = not self._left
                continue
            if self._crlf:
                if len(buffer) < 2:
                    break
                if buffer[:2] != b"\r\n":
                    raise SourceError(FailKind.TRANSIENT, "the server's chunked answer is malformed")
                del buffer[:2]
                self._crlf = False
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise SourceError(FailKind.TRANSIENT, "the server's chunked answer is malformed")
                break
            line = bytes(buffer[:end])
            del buffer[:end + 2]
            if self._trailers:
                self.done = not line
                continue
            size = line.split(b";", 1)[0].strip()
            if not size or any(c not in b"0123456789abcdefABCDEF" for c in size):
                raise SourceError(FailKind.TRANSIENT, "the server's chunked answer is malformed")
            self._left = int(size, 16)
            self._trailers = not self._left
        return bytes(out)
