"""Where bytes come from: the source protocol and its failure kinds.

A source (anonymous S3 GETs in :mod:`.s3_get`, presigned URLs in
:mod:`.access_source`) opens a byte range of one planned file and classifies failures so
the engine can act on them without knowing the protocol: ``denied`` skips
the file, ``changed`` discards the ``.part``, ``expired`` asks for new URLs,
``transient`` retries from the current offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from laion_fmri_tui.core.plan import PlanItem

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class SourceError(Exception):
    """A classified failure to open or read a range."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        """``denied``, ``missing``, ``changed``, ``expired`` or ``transient``."""


class Body(Protocol):
    """A response body; one may also offer ``readinto(view) -> int`` (used when there)."""

    def read(self, amt: int) -> bytes: ...
    def close(self) -> None: ...


@dataclass
class Opened:
    """An open response body and the object offset of its first byte."""

    body: Body
    start: int


class Source(Protocol):
    def open(self, item: PlanItem, start: int, end: int | None) -> Opened:
        """Open bytes ``start..end`` (inclusive; None = to the end)."""
        ...


def content_range_start(header: str | None) -> int | None:
    """The first byte offset of a ``Content-Range`` header, None if absent."""
    match = _CONTENT_RANGE.match(header or "")
    return int(match.group(1)) if match else None


def wrong_start(answered: int, asked: int) -> SourceError:
    """An answer that starts at a byte other than the one asked for (nor 0)."""
    return SourceError("transient", f"server answered from byte {answered}, asked {asked}")


def unexpected_failure(error: BaseException) -> tuple[str, str]:
    """(kind, message) of an error nothing expected: a bug, reported as one."""
    return ("error", f"unexpected error: {type(error).__name__}: {error}")


def classify_status(status: int | None, name: str) -> SourceError:
    """Turn an HTTP status into the engine's failure kinds."""
    if status == 403:
        return SourceError("denied", "access denied (HTTP 403)")
    if status == 404:
        return SourceError("missing", "not in the bucket any more (HTTP 404)")
    if status in (409, 412):
        return SourceError("changed", "changed on the server since it was listed")
    if status == 416:
        return SourceError("changed", "shorter on the server than listed (HTTP 416)")
    return SourceError("transient", f"HTTP {status}")
