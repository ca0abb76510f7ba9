"""Object GETs answered from the data folder itself, for the shaping proxy.

``rclone serve s3`` answers listings well, but every byte of an object GET
costs it about 1.5-2 CPU s/GB here (measured per run in ``run.py``), and the
proxy relaying those bytes through Python about as much again: on two cores
the rig then takes more than one core, so a client's CPU per byte, not its way
with a slow link, decided the race. Real S3 costs the client's machine
nothing. So the proxy answers ``GET`` and ``HEAD`` of an object key itself,
with ``sendfile`` from the tmpfs folder (no byte passes through Python), and
forwards everything else (listings, unknown keys) to rclone.

What it answers follows S3: ``Range`` (``a-b``, ``a-``, ``-n``; 206 with
``Content-Range``, 416 past the end), ``If-Match`` (412 when the ETag
differs, which rclone ignores), ``If-None-Match`` (304), the object's ETag
(its MD5, or the multipart ETag an ``aws s3 cp`` upload would give it, also
written into the listings rclone sends), and ``Last-Modified``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from stat import S_ISREG
from urllib.parse import parse_qsl, unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_LISTED_ETAG = re.compile(rb"(<ETag>(?:&#34;|&quot;|\")?)([0-9a-f]{32})((?:&#34;|&quot;|\")?</ETag>)")
_PASS_QUERY = {"x-id"}
"""Query parameters a client may add to a plain GetObject (botocore adds ``x-id``)."""


@dataclass(frozen=True)
class Object:
    path: Path
    size: int
    etag: str
    """The object's MD5, unquoted."""
    modified: float


@dataclass(frozen=True)
class Answer:
    """What to send for one request: a status, its headers, and which bytes of the file."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    path: Path | None = None
    offset: int = 0
    count: int = 0
    body: bytes = b""


class LocalObjects:
    """Objects of the folder that rclone serves (``<root>/<bucket>/<key>``)."""

    def __init__(self, root: Path, md5s: Mapping[str, str] | None = None, bucket: str | None = None,
                 etags: Mapping[str, str] | None = None) -> None:
        self.root = Path(root).resolve()
        self._md5s = dict(etags or md5s or {})
        """key (``bucket/key`` without ``bucket``) -> its ETag (the MD5 unless ``etags``
        says otherwise); other files are hashed once, when first asked for."""
        self._bucket = bucket
        self._listed = {md5s[k]: etag for k, etag in (etags or {}).items() if md5s and etag != md5s.get(k)}
        """MD5 -> ETag, for the listings rclone writes with MD5s."""

    @property
    def rewrites_listings(self) -> bool:
        return bool(self._listed)

    def rewrite_listing(self, body: bytes) -> bytes:
        """A listing from rclone with each object's ETag as S3 would give it
        (the bench's files have distinct MD5s, so the MD5 names the object)."""
        def etag(match: re.Match) -> bytes:
            md5 = match.group(2).decode()
            return match.group(1) + self._listed.get(md5, md5).encode() + match.group(3)

        return _LISTED_ETAG.sub(etag, body)

    def find(self, method: str, target: str) -> Object | None:
        """The object a ``GET``/``HEAD`` of ``target`` names, None to forward it upstream."""
        if method not in ("GET", "HEAD"):
            return None
        parts = urlsplit(target)
        if any(name not in _PASS_QUERY for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
            return None
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        if not bucket or not key or key.endswith("/") or (self._bucket and bucket != self._bucket):
            return None
        path = (self.root / bucket / key).resolve()
        if self.root not in path.parents:
            return None
        try:
            info = path.stat()
        except OSError:
            return None
        if not S_ISREG(info.st_mode):
            return None
        known = key if self._bucket else f"{bucket}/{key}"
        etag = self._md5s.get(known)
        if etag is None:
            etag = self._md5s[known] = _md5(path)
        return Object(path, info.st_size, etag, info.st_mtime)

    def answer(self, obj: Object, method: str, headers: Mapping[str, str]) -> Answer:
        """The response to a GET/HEAD of ``obj`` with these request headers (lower-case names)."""
        common = [("Accept-Ranges", "bytes"), ("ETag", f'"{obj.etag}"'),
                  ("Last-Modified", formatdate(obj.modified, usegmt=True)),
                  ("Date", formatdate(usegmt=True)), ("Server", "bench-objects")]
        wanted = headers.get("if-match")
        if wanted is not None and not _etag_in(obj.etag, wanted):
            return _error(412, "Precondition Failed", "PreconditionFailed",
                          "At least one of the pre-conditions you specified did not hold", common)
        unwanted = headers.get("if-none-match")
        if unwanted is not None and _etag_in(obj.etag, unwanted):
            return Answer(304, "Not Modified", common)
        start, end = 0, obj.size - 1
        status, reason = 200, "OK"
        ranged = _parse_range(headers.get("range"), obj.size)
        if ranged == "unsatisfiable":
            return _error(416, "Requested Range Not Satisfiable", "InvalidRange",
                          "The requested range is not satisfiable", common + [("Content-Range", f"bytes */{obj.size}")])
        if ranged is not None:
            start, end = ranged
            status, reason = 206, "Partial Content"
            common.append(("Content-Range", f"bytes {start}-{end}/{obj.size}"))
        count = end - start + 1 if obj.size else 0
        head = [*common, ("Content-Type", "application/octet-stream"), ("Content-Length", str(count))]
        if method == "HEAD":
            return Answer(status, reason, head)
        return Answer(status, reason, head, obj.path, start, count)


def _parse_range(value: str | None, size: int):
    """(start, end) inclusive, None for the whole object (absent or a form S3 ignores),
    or ``"unsatisfiable"``."""
    if value is None:
        return None
    match = _RANGE.match(value.strip().replace(" ", ""))
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = size - 1 if last == "" else min(int(last), size - 1)
    if end < start:
        return None
    return start, end


def _etag_in(etag: str, header: str) -> bool:
    tags = [t.strip().removeprefix("W/").strip('"') for t in header.split(",")]
    return "*" in tags or etag in tags


def _error(status: int, reason: str, code: str, message: str, headers: list[tuple[str, str]]) -> Answer:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()
    return Answer(status, reason, [*headers, ("Content-Type", "application/xml"),
                                   ("Content-Length", str(len(body)))], body=body)


def _md5(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()
