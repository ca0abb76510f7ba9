"""What an HTTP answer means for a fetch: the failure kinds of S3 and signed links.

Listings (:mod:`laion_fmri_tui.core.s3.client`) and the transfer lane read
answers through :mod:`.wire`; a status or an answer that starts at the wrong
byte becomes a :class:`SourceError` of one :class:`~laion_fmri_tui.core.events.FailKind`,
so the engine can act without knowing the protocol: ``denied`` skips the
file, ``changed`` discards the ``.part``, ``expired`` asks for new URLs,
``transient`` retries from the current offset under :mod:`.retry`'s rules.
"""

from __future__ import annotations

import re

from laion_fmri_tui.core.events import FailKind, Failure
from laion_fmri_tui.core.http.retry import RetryKind, kind_of_status, retry_after

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class SourceError(Exception):
    """A classified failure to fetch a range (never carrying a URL's signature)."""

    def __init__(self, kind: FailKind, message: str, *, retry: RetryKind | None = None,
                 after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry = retry
        """For :attr:`FailKind.TRANSIENT`: which rule of :mod:`laion_fmri_tui.core.http.retry`
        applies (None: a dropped connection)."""
        self.after = after
        """The server's ``Retry-After``, in seconds, if it named one."""

    @property
    def failure(self) -> Failure:
        return Failure(self.kind, str(self))

    @property
    def retried(self) -> bool:
        """Whether the run's retry rules decide what comes next (else the file fails, or is skipped)."""
        return self.kind.retried

    @property
    def retry_kind(self) -> RetryKind:
        if self.kind is FailKind.EXPIRED:
            return RetryKind.EXPIRED
        return self.retry or RetryKind.DROPPED


def content_range_start(header: str | None) -> int | None:
    """The first byte offset of a ``Content-Range`` header, None if absent."""
    match = _CONTENT_RANGE.match(header or "")
    return int(match.group(1)) if match else None


def wrong_start(answered: int, asked: int) -> SourceError:
    """An answer that starts at a byte other than the one asked for (nor 0)."""
    return SourceError(FailKind.TRANSIENT, f"server answered from byte {answered}, asked {asked}")


def classify_status(status: int | None, name: str, *, after: str | None = None,
                    region: str | None = None) -> SourceError:
    """Turn an HTTP status into the engine's failure kinds; ``after`` is the
    answer's ``Retry-After``, ``region`` its ``x-amz-bucket-region``."""
    if status == 403:
        return SourceError(FailKind.DENIED, "access denied (HTTP 403)")
    if status == 404:
        return SourceError(FailKind.MISSING, "not in the bucket any more (HTTP 404)")
    if status in (409, 412):
        return SourceError(FailKind.CHANGED, "changed on the server since it was listed")
    if status == 416:
        return SourceError(FailKind.CHANGED, "shorter on the server than listed (HTTP 416)")
    if region and status in (301, 307, 400):  # no retry mends it: the bucket is elsewhere
        return SourceError(FailKind.ERROR, wrong_region(status, region))
    retry = kind_of_status(status) if status is not None else None
    if retry is RetryKind.THROTTLED:
        return SourceError(FailKind.TRANSIENT, f"throttled by the server (HTTP {status})", retry=retry,
                           after=retry_after(after))
    return SourceError(FailKind.TRANSIENT, f"HTTP {status}", retry=retry, after=retry_after(after))


def wrong_region(status: int, region: str) -> str:
    """The message for an answer that names the bucket's region (S3's 301/307/400)."""
    return (f"the bucket is in region {region} (HTTP {status}); "
            f"use --endpoint-url https://s3.{region}.amazonaws.com")
