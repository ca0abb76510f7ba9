"""Plain data shared by the catalog, the planner and the transfer engine.

A bucket object as listed (:class:`RemoteObject`), and the plan of a run
(:class:`Plan`, :class:`PlanItem`, :class:`LocalState`): every file, its size,
and what is already on disk. The plan is complete before any byte moves, so a
front end can show totals, check free space and ask for confirmation; it is
made by :mod:`laion_fmri_tui.core.plan.planner`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

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


class LocalState(str, enum.Enum):
    """How much of a planned file is on disk."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    ABSENT = "absent"


@dataclass(frozen=True)
class PlanItem:
    """One file of the plan."""

    key: str
    """The S3 key (verbatim) or, for gated stimuli, the stimulus file name."""
    dest: Path
    """Absolute final path inside the data directory."""
    size: int
    etag: str
    component: str
    """``dataset``, a per-subject component, ``embeddings``, ``segmentations``,
    ``captions`` or ``stimuli``."""
    state: LocalState = LocalState.ABSENT
    present: int = 0
    """Bytes already on disk: ``size`` when complete, the resumable part otherwise."""
    sha256: str | None = None
    """Known sha256 (stimuli), verified after the transfer."""
    source: str = "s3"
    """``s3`` (anonymous GET) or ``access`` (a presigned URL from the access service)."""
    replaces_bad: bool = False
    """``--verify --repair`` found the final file of the right size but wrong
    content: fetch it although its size matches, and rename over it."""

    @property
    def to_fetch(self) -> int:
        return 0 if self.state is LocalState.COMPLETE else self.size - self.present


@dataclass(frozen=True)
class Plan:
    """The whole run, in fetch order."""

    data_dir: Path
    items: tuple[PlanItem, ...]
    held_out: tuple[str, ...] = ()
    """Keys dropped because their session is held out (never requested)."""
    refused: tuple[tuple[str, str], ...] = ()
    """(key, reason) for keys that would map outside the data directory."""
    blocked: tuple[tuple[str, str], ...] = ()
    """(key, reason) for files that cannot be written safely: a symbolic link at
    the file's path or its temp path, or a key that maps to the same local path
    as another (``label-`` de-hyphenation). Each one fails the run."""
    skipped_subjects: tuple[str, ...] = ()
    """With ``--subject all``: subjects that had nothing matching the selection."""

    @property
    def files(self) -> int:
        return len(self.items)

    @property
    def bytes_total(self) -> int:
        return sum(i.size for i in self.items)

    @property
    def bytes_present(self) -> int:
        return sum(i.size if i.state is LocalState.COMPLETE else i.present for i in self.items)

    @property
    def bytes_to_fetch(self) -> int:
        return sum(i.to_fetch for i in self.items)

    @property
    def pending(self) -> tuple[PlanItem, ...]:
        """Items that still need a transfer."""
        return tuple(i for i in self.items if i.state is not LocalState.COMPLETE)
