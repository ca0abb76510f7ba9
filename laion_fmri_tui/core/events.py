"""Typed events the transfer engine reports; every front end consumes these.

The engine calls one ``sink(event)`` callable from its own threads. Front ends
must not block in it: ``--batch`` queues it for its printer's own thread
(``batch.output.PrinterThread``), the app's engine child for the thread that
writes its pipe (``core.run.engine_process``), so an output that blocks never
holds a transfer.
Progress is coalesced by the engine (a :class:`Progress` at most every
``progress_interval`` seconds), never one event per chunk.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Union
from collections.abc import Callable

from laion_fmri_tui.core.models import Plan


@dataclass(frozen=True)
class PlanReady:
    """The plan is known; no byte has moved yet."""

    plan: Plan


@dataclass(frozen=True)
class FileStarted:
    """A worker began (or resumed) fetching one file."""

    key: str
    size: int
    resume_from: int = 0
    """Bytes already on disk in the ``.part`` and kept (0 = fresh start)."""


@dataclass(frozen=True)
class ActiveFile:
    """Progress of one in-flight file inside a :class:`Progress` event."""

    key: str
    done: int
    size: int


@dataclass(frozen=True)
class Progress:
    """A coalesced snapshot of the whole run."""

    bytes_done: int
    """Bytes of the plan now on disk (including what was present before)."""
    bytes_total: int
    """Bytes of every planned file."""
    bytes_fetched: int
    """Bytes received over the network in this run."""
    rate: float
    """Recent throughput in bytes per second (a sliding window)."""
    eta_seconds: float | None
    """Seconds to finish at the recent rate, None when unknown."""
    files_done: int
    files_total: int
    active: tuple[ActiveFile, ...] = ()
    paused: bool = False


@dataclass(frozen=True)
class FileDone:
    """A file is verified and renamed to its final path."""

    key: str
    size: int
    fetched: int
    """Bytes transferred for it in this run (less than size after a resume)."""
    verified: str
    """What was checked: ``md5``, ``etag`` (multipart MD5), ``sha256`` or ``size``."""


class SkipKind(enum.Enum):
    """Why a file was skipped: what the exit code and the screens make of it."""

    COMPLETE = "complete"
    """Already on disk (checked by size, or by sha256 for stimuli)."""
    REFUSED = "refused"
    """The bucket refused the key (HTTP 403): no rerun fetches it (exit 5)."""
    UNSAFE = "unsafe"
    """The planner refused the key: its path would leave the data directory."""
    ELSEWHERE = "elsewhere"
    """Another run on the same data directory fetched it meanwhile."""


@dataclass(frozen=True)
class FileSkipped:
    """A file was not fetched, and that is not an error of the run."""

    key: str
    kind: SkipKind
    reason: str
    """Why, for people: ``complete``, or the refusal's words."""
    size: int = 0


class FailKind(enum.Enum):
    """What went wrong with a file: what the engine does next, and what a
    front end says. The values are what ``--json`` prints as ``kind`` (scripts
    read them: never change one; the README lists them).

    What the engine does with each kind is declared here, next to it
    (:attr:`retried`, :attr:`discards_part`, :attr:`skips`): adding a kind is
    this one edit plus the place that classifies an error as it."""

    DENIED = "denied"
    """The server refused it (HTTP 403): skipped, not failed (:attr:`SkipKind.REFUSED`)."""
    MISSING = "missing"
    """Not in the bucket any more (HTTP 404), or not granted by the access service."""
    CHANGED = "changed"
    """The object is no longer the planned one (412, 416): its ``.part`` is discarded."""
    EXPIRED = "expired"
    """A signed link expired: fresh ones are fetched and the range retried at once."""
    TRANSIENT = "transient"
    """Throttling, 5xx, a dropped connection: retried from the byte reached, until the budget is spent."""
    ACCESS = "access"
    """The access service could not renew the signed links."""
    ERROR = "error"
    """No retry mends it (an untrusted certificate, a refusing proxy, the wrong region) or a bug of ours."""
    UNSAFE = "unsafe"
    """Its local path is unsafe (a symbolic link, outside the data directory, shared with another key)."""
    DISK = "disk"
    """Writing or reading back the ``.part`` failed (a full disk cancels the run)."""
    VERIFY = "verify"
    """Its bytes did not match the size, MD5/ETag or sha256: the ``.part`` is removed."""
    CANCELLED = "cancelled"
    """The run was cancelled: every byte stays in the ``.part`` for the next run (never reported)."""

    @property
    def retried(self) -> bool:
        """The run's retry rules decide what comes next (else the file ends with it)."""
        return self in _RETRIED

    @property
    def discards_part(self) -> bool:
        """The ``.part`` (and its record) is useless afterwards: removed."""
        return self in _DISCARDS_PART

    @property
    def skips(self) -> bool:
        """The file is skipped (:attr:`SkipKind.REFUSED`), not counted as failed."""
        return self is FailKind.DENIED


_RETRIED = frozenset({FailKind.TRANSIENT, FailKind.EXPIRED})
_DISCARDS_PART = frozenset({FailKind.DENIED, FailKind.CHANGED, FailKind.MISSING})


@dataclass(frozen=True)
class Failure:
    """Why one file (or one of its units) failed: the kind, and the words for people."""

    kind: FailKind
    message: str


CANCELLED = Failure(FailKind.CANCELLED, "cancelled")


@dataclass(frozen=True)
class FileFailed:
    """A file could not be fetched or verified; the other files go on."""

    key: str
    error: str
    kind: FailKind = FailKind.ERROR
    """What went wrong (``changed``: the object in the bucket is no longer the
    planned one; ``missing``, ``transient`` ...)."""


@dataclass(frozen=True)
class Notice:
    """A warning or note for the log: a retry, a re-minted URL, a resumed file."""

    message: str
    level: str = "warning"


@dataclass(frozen=True)
class Retrying(Notice):
    """One request is sent again after throttling, a 5xx or a dropped connection.

    A :class:`Notice` whose ``message`` names the key, the byte and the wait,
    with the same facts as fields, so a front end can sum many of them up: a
    throttling server makes hundreds a second, which ``--batch`` coalesces
    into a line every few seconds while ``--json`` keeps one object each."""

    key: str = ""
    position: int = 0
    """The byte the unit had reached: it is asked for again from there."""
    delay: float = 0.0
    """Seconds until the next attempt."""
    attempt: int = 0
    """The attempt that comes next (2 after the first failure)."""
    kind: enum.Enum | None = None
    """Why, as the retry rules see it: a :class:`~laion_fmri_tui.core.http.retry.RetryKind`
    (not imported here: the HTTP layer imports this module)."""
    reason: str = ""
    """The failure, for people: ``throttled by the server (HTTP 503)``."""
    retried_for: float = 0.0
    """Seconds since this unit's first failure without progress."""
    gives_up_in: float = 0.0
    """Seconds of ``--retry-for`` it has left."""


@dataclass(frozen=True)
class RunFinished:
    """The run is over (completed, failed files, or cancelled)."""

    done: int
    skipped: int
    failed: int
    bytes_fetched: int
    elapsed: float
    cancelled: bool = False
    failures: tuple[tuple[str, str], ...] = field(default_factory=tuple)


Event = Union[PlanReady, FileStarted, Progress, FileDone, FileSkipped, FileFailed, Notice, Retrying, RunFinished]
EventSink = Callable[[Event], None]
