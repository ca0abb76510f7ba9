"""What the bucket holds, per subject, and how much of it is already on disk.

The headless ``info`` command (the dataset package's ``laion-fmri info`` /
``describe()``, which only prints the subject list) renders an
:class:`Inventory`; nothing is downloaded. Listings go through the
:class:`~laion_fmri_tui.core.s3.catalog.Catalog`, started a few at once like a
plan's, and "on disk" is decided by the planner's own rule
(:func:`~laion_fmri_tui.core.disk.tempnames.local_state`: a final file of
the listed size is complete, a resumable ``.part`` counts its kept bytes), so
``info`` and ``--dry-run`` never disagree about what a run would fetch.
Held-out keys are counted apart and never looked for on disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from laion_fmri_tui.core.plan import bids

from laion_fmri_tui.core import stimuli
from laion_fmri_tui.core.s3.catalog import SUBJECT_ROOTS, Catalog
from laion_fmri_tui.core.errors import NoMatchingDataError, UnsafeKeyError, UsageError
from laion_fmri_tui.core.models import RemoteObject
from laion_fmri_tui.core.models import LocalState
from laion_fmri_tui.core.plan.selection import COMPONENTS
from laion_fmri_tui.core.stimuli import STIMULUS_FILES
from laion_fmri_tui.core.disk import tempnames
from laion_fmri_tui.core.disk.filelock import UnsafePathError


@dataclass(frozen=True)
class Tally:
    """Files and bytes in the bucket, and how many of them are on disk."""

    files: int = 0
    bytes: int = 0
    local_files: int = 0
    """Files complete on disk."""
    local_bytes: int = 0
    """Bytes on disk: complete files plus what resumable ``.part`` files keep."""

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.files + other.files, self.bytes + other.bytes,
                     self.local_files + other.local_files, self.local_bytes + other.local_bytes)


@dataclass(frozen=True)
class SessionInfo:
    """One session folder of a part (``name`` None: files outside any session)."""

    name: str | None
    tally: Tally
    """Released files only."""
    held_out_files: int = 0

    @property
    def held_out(self) -> bool:
        """Nothing of the session is released (it is listed, but denied)."""
        return self.held_out_files > 0 and self.tally.files == 0


@dataclass(frozen=True)
class PartInfo:
    """One per-subject part (a :data:`~laion_fmri_tui.core.plan.selection.COMPONENTS` name)."""

    component: str
    sessions: tuple[SessionInfo, ...]

    @property
    def tally(self) -> Tally:
        return sum((s.tally for s in self.sessions), Tally())

    @property
    def held_out_files(self) -> int:
        return sum(s.held_out_files for s in self.sessions)


@dataclass(frozen=True)
class SubjectInfo:
    subject: str
    parts: tuple[PartInfo, ...]

    @property
    def tally(self) -> Tally:
        return sum((p.tally for p in self.parts), Tally())


@dataclass(frozen=True)
class FileInfo:
    """A dataset-level file or a ``stimuli/`` file."""

    key: str
    size: int
    state: LocalState | None
    """None when no data directory was given, or for a gated stimulus file
    whose sha256 is unknown (the access service's manifest was not read)."""


@dataclass(frozen=True)
class Inventory:
    bucket: str
    data_dir: Path | None
    subjects: tuple[str, ...]
    """Every subject the bucket holds (upstream's discovery)."""
    parts: tuple[tuple[str, tuple[str, ...]], ...]
    """(subject, the parts it has), for every subject."""
    details: tuple[SubjectInfo, ...]
    """Sessions, sizes and local state of the subjects asked about."""
    dataset_files: tuple[FileInfo, ...]
    stimuli: tuple[FileInfo, ...]


def _part_parent(component: str, subject: str) -> str:
    """The level whose ``sub-*`` children say which subjects have ``component``."""
    return bids.component_prefix(component, subject)[: -len(subject) - 1]


def present_components(catalog: Catalog, subject: str) -> list[str]:
    """The parts the bucket holds for ``subject``, in fetch order (level listings only)."""
    return [c for c in COMPONENTS if subject in catalog.level(_part_parent(c, subject)).names]


def take_inventory(catalog: Catalog, subjects: Iterable[str], data_dir: Path | None,
                   stimulus_sha256: Callable[[], Mapping[str, str] | None] | None = None) -> Inventory:
    """List what the bucket holds; ``subjects`` (normalised ids, or ``all``) get details.

    ``stimulus_sha256``: asks the access service's manifest (file name ->
    sha256), only when the bucket lists a gated stimulus file and there is a
    data directory to look in. The gated stimulus files are complete, as in a plan, only when their
    content has that hash (:func:`~laion_fmri_tui.core.stimuli.local_state`);
    without the manifest their state is None (not checked), never "complete"
    by size alone.

    Raises UsageError for a subject the bucket lacks, NoMatchingDataError for
    a bucket without subjects; listing failures are the catalog's errors.
    """
    asked = tuple(dict.fromkeys(subjects))
    parents = dict.fromkeys([*SUBJECT_ROOTS, *(_part_parent(c, "sub-x") for c in COMPONENTS),
                             bids.STIMULI_PREFIX])
    catalog.levels_ahead(parents)
    available = catalog.subjects()
    if not available:
        raise NoMatchingDataError(f"no LAION-fMRI subjects were found in s3://{catalog.bucket}/; "
                                  "check the endpoint and the bucket layout")
    unknown = [s for s in asked if s != "all" and s not in available]
    if unknown:
        raise UsageError(f"unknown subject {', '.join(unknown)}; available: {', '.join(available)}")
    detailed = list(available) if "all" in asked else list(asked)
    parts = tuple((s, tuple(present_components(catalog, s))) for s in available)
    have = dict(parts)
    catalog.list_ahead(bids.component_prefix(c, s) for s in detailed for c in have[s])
    root = Path(os.path.abspath(data_dir)) if data_dir is not None else None
    details = tuple(
        SubjectInfo(s, tuple(_part(catalog, c, s, root) for c in have[s])) for s in detailed)
    dataset = tuple(_file(o, root) for o in catalog.level("").objects if o.key in bids.DATASET_KEYS)
    listed = catalog.level(bids.STIMULI_PREFIX).objects
    gated = root is not None and any(o.key.rsplit("/", 1)[-1] in STIMULUS_FILES for o in listed)
    sha256 = (stimulus_sha256() if gated and stimulus_sha256 is not None else None) or {}
    stimuli = tuple(_stimulus_file(o, root, sha256) for o in listed)
    return Inventory(catalog.bucket, root, tuple(available), parts, details, dataset, stimuli)


def _part(catalog: Catalog, component: str, subject: str, root: Path | None) -> PartInfo:
    prefix = bids.component_prefix(component, subject)
    tallies: dict[str | None, Tally] = {}
    held: dict[str | None, int] = {}
    for obj in catalog.objects(prefix):
        if _unsafe(obj.key):  # the planner refuses it: nothing to count
            continue
        session = _session(obj.key[len(prefix):])
        tallies.setdefault(session, Tally())
        if bids.is_held_out(obj.key):
            held[session] = held.get(session, 0) + 1
            continue
        tallies[session] += _count(obj, root)
    ordered = sorted(tallies, key=lambda name: (name is None, name or ""))
    return PartInfo(component, tuple(SessionInfo(n, tallies[n], held.get(n, 0)) for n in ordered))


def _unsafe(key: str) -> bool:
    """A key the planner refuses (``../``, an absolute path): it maps outside any data directory."""
    try:
        bids.local_path(Path("/data"), key)
    except UnsafeKeyError:
        return True
    return False


def _session(relative: str) -> str | None:
    """The first ``ses-*`` folder of a key below its part's prefix."""
    for segment in relative.split("/")[:-1]:
        if segment.startswith("ses-"):
            return segment
    return None


def _state(obj: RemoteObject, root: Path | None) -> tuple[LocalState | None, int]:
    if root is None:
        return None, 0
    try:
        dest = bids.local_path(root, obj.key)
    except UnsafeKeyError:
        return LocalState.ABSENT, 0
    try:
        return tempnames.local_state(dest, obj.size, obj.etag)
    except UnsafePathError:  # a symbolic link at its path: not counted as present
        return LocalState.ABSENT, 0


def file_state(obj: RemoteObject, root: Path) -> tuple[LocalState, int]:
    """One listed file's state under ``root`` and the bytes of it kept there
    (a few stat calls, no network): what a tree row's details show."""
    state, present = _state(obj, root)
    return state or LocalState.ABSENT, present


def _count(obj: RemoteObject, root: Path | None) -> Tally:
    state, present = _state(obj, root)
    return Tally(1, obj.size, int(state is LocalState.COMPLETE), present)


def _file(obj: RemoteObject, root: Path | None) -> FileInfo:
    return FileInfo(obj.key, obj.size, _state(obj, root)[0])


def _stimulus_file(obj: RemoteObject, root: Path | None, sha256: Mapping[str, str]) -> FileInfo:
    """A ``stimuli/`` file; the two gated ones by the plan's rule (their sha256)."""
    name = obj.key.rsplit("/", 1)[-1]
    if root is None or name not in STIMULUS_FILES:
        return _file(obj, root)
    if name not in sha256:
        return FileInfo(obj.key, obj.size, None)
    try:
        state, _ = stimuli.local_state(root, bids.local_path(root, obj.key), obj.size, sha256[name])
    except (UnsafeKeyError, UnsafePathError):
        state = LocalState.ABSENT
    return FileInfo(obj.key, obj.size, state)
