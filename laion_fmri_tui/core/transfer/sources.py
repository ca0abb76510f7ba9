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

from laion_fmri_tui.core.http.retry import FailureKind, kind_of_status, retry_after
from laion_fmri_tui.core.models import PlanItem

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class SourceError(Exception):
    """A classified failure to open or read a range."""

    def __init__(self, kind: str, message: str, *, retry: FailureKind | None = None,
                 after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        """``denied``, ``missing``, ``changed``, ``expired``, ``transient`` or ``error``."""
        self.retry = retry
        """For ``transient``: which rule of :mod:`laion_fmri_tui.core.http.retry`
        applies (None: a dropped connection)."""
        self.after = after
        """The server's ``Retry-After``, in seconds, if it named one."""

    @property
    def retry_kind(self) -> FailureKind:
        if self.kind == "expired":
            return FailureKind.EXPIRED
        return self.retry or FailureKind.DROPPED


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


def classify_status(status: int | None, name: str, *, after: str | None = None,
                    region: str | None = None) -> SourceError:
    """Turn an HTTP status into the engine's failure kinds; ``after`` is the
    answer's ``Retry-After``, ``region`` its ``x-amz-bucket-region``."""
    if status == 403:
        return SourceError("denied", "access denied (HTTP 403)")
    if status == 404:
        return SourceError("missing", "not in the bucket any more (HTTP 404)")
    if status in (409, 412):
        return SourceError("changed", "changed on the server since it was listed")
    if status == 416:
        return SourceError("changed", "shorter on the server than listed (HTTP 416)")
    if region and status in (301, 307, 400):  # no retry mends it: the bucket is elsewhere
        return SourceError("error", wrong_region(status, region))
    retry = kind_of_status(status) if status is not None else None
    if retry is FailureKind.THROTTLED:
        return SourceError("transient", f"throttled by the server (HTTP {status})", retry=retry,
                           after=retry_after(after))
    return SourceError("transient", f"HTTP {status}", retry=retry, after=retry_after(after))


def wrong_region(status: int, region: str) -> str:
    """The message for an answer that names the bucket's region (S3's 301/307/400)."""
    return (f"the bucket is in region {region} (HTTP {status}); "
            f"use --endpoint-url https://s3.{region}.amazonaws.com")
