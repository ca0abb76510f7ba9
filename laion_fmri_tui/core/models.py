"""Plain data shared by the catalog, the planner and the transfer engine."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART = re.compile(r"^([0-9a-f]{32})-(\d+)$")


@dataclass(frozen=True)
class RemoteObject:
    """One object as a bucket listing reports it."""

    key: str
    """The S3 key, verbatim (never de-hyphenated)."""
    size: int
    """Size in bytes from the listing."""
    etag: str = ""
    """ETag without quotes: a plain MD5, ``<md5>-<parts>`` for multipart, or empty."""

    @property
    def plain_md5(self) -> str | None:
        """The object's MD5 when its ETag is one (single-part upload)."""
        return self.etag if _PLAIN_MD5.match(self.etag) else None

    @property
    def multipart_parts(self) -> int | None:
        """The part count of a multipart ETag, else None."""
        match = _MULTIPART.match(self.etag)
        return int(match.group(2)) if match else None


@dataclass(frozen=True)
class Listing:
    """One level of a bucket prefix (a ``Delimiter="/"`` listing, all pages)."""

    prefix: str
    """The listed prefix, ending in ``/`` (or empty for the bucket root)."""
    prefixes: tuple[str, ...]
    """Full child prefixes, each ending in ``/``."""
    objects: tuple[RemoteObject, ...]
    """Objects directly at this level."""

    @property
    def names(self) -> tuple[str, ...]:
        """Child folder names without the parent prefix or trailing slash."""
        return tuple(p[len(self.prefix):].rstrip("/") for p in self.prefixes)


def normalise_etag(raw: str | None) -> str:
    """Strip the quotes S3 puts around ETags; lower-case the hex."""
    return (raw or "").strip().strip('"').lower()
