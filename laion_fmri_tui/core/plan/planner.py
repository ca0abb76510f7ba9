"""Selection -> Plan: which bucket keys a run covers, applying upstream's rules.

Per subject the components are walked in upstream's order; each listing goes
through the :class:`~laion_fmri_tui.core.s3.catalog.Catalog` (cached) and only
prefixes the selection needs are listed. Held-out keys are dropped before
any filter or pin, so they can never reach the transfer engine.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from laion_fmri_tui.core.plan import bids
from laion_fmri_tui.core.s3.catalog import SUBJECT_ROOTS, Catalog
from laion_fmri_tui.core.errors import NoMatchingDataError, UnsafeKeyError, UsageError
from laion_fmri_tui.core.models import RemoteObject
from laion_fmri_tui.core.models import LocalState, Plan, PlanItem
from laion_fmri_tui.core.plan.selection import COMPONENTS, DEFAULT_COMPONENTS, Filters, Selection
from laion_fmri_tui.core.disk import tempnames
from laion_fmri_tui.core.disk.filelock import UnsafePathError

_FILTERED = frozenset({"glmsingle", "rois", "raw"})
"""Components the filters apply to; the others are pulled whole."""
RAW_ONLY_FILTERS = ("run", "echo", "part")
"""Filters only the raw walk applies, as upstream's ``download_raw`` does: its
derivative walk has no such filters, and GLMsingle's per-run figures
(``run-0001``) must not be dropped by ``--run 01``."""


class _Collector:
    """Ordered, de-duplicated plan items plus the held-out keys seen."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._root = os.path.abspath(data_dir)
        self.items: dict[str, PlanItem] = {}
        self.held_out: dict[str, None] = {}
        self.refused: dict[str, str] = {}
        self.blocked: dict[str, str] = {}
        self._keys_at: dict[str, str] = {}
        """Local path -> the key planned there (two keys may map to one)."""
        self._names: dict[str, frozenset[str]] = {}
        self._owners: dict[str, frozenset[str]] = {}
        """Per folder: the final names with a process's temp files in it (see :meth:`_may_exist`)."""

    def _may_exist(self, dest: str) -> bool:
        """Whether the file, its ``.part`` (a process's own, too) or its lock is
        in its folder: one listing per folder, instead of failing ``stat``
        calls per key of a fresh plan."""
        folder, name = os.path.split(dest)
        names = self._names_in(folder)
        if name in names or name + ".part" in names or name + ".lock" in names:
            return True
        owners = self._owners.get(folder)
        if owners is None:
            owners = self._owners[folder] = tempnames.with_temp_files(names)
        return name in owners

    def _names_in(self, folder: str) -> frozenset[str]:
        """A folder's entries, listed once; none, without a look, when its
        parent has no such entry (a fresh data directory: one failed listing,
        not one per folder of the plan)."""
        names = self._names.get(folder)
        if names is None:
            parent, base = os.path.split(folder)
            if len(parent) > len(self._root) and base not in self._names_in(parent):
                names = frozenset()
            else:
                try:
                    names = frozenset(os.listdir(folder))
                except OSError:
                    names = frozenset()
            self._names[folder] = names
        return names

    def add(self, obj: RemoteObject, component: str) -> None:
        """Add one object; a key planned twice keeps its first entry.

        A key that would land outside the data directory is recorded as
        refused (the run reports it) instead of aborting the whole plan.
        """
        if obj.key in self.items or obj.key in self.refused or obj.key in self.blocked:
            return
        try:
            where = bids.local_path_in(self._root, obj.key)
        except UnsafeKeyError as error:
            self.refused[obj.key] = str(error)
            return
        other = self._keys_at.setdefault(where, obj.key)
        if other != obj.key:
            self.blocked[obj.key] = (f"{obj.key} and {other} map to one local path "
                                     f"{os.path.relpath(where, self._root)}; only {other} is fetched")
            return
        dest = Path(where)
        if self._may_exist(where):
            try:
                state, present = tempnames.local_state(dest, obj.size, obj.etag)
            except UnsafePathError as error:
                self.blocked[obj.key] = str(error)
                return
        else:
            state, present = LocalState.ABSENT, 0
        self.items[obj.key] = PlanItem(
            key=obj.key, dest=dest, size=obj.size, etag=obj.etag,
            component=component, state=state, present=present,
        )


def build_plan(catalog: Catalog, selection: Selection, data_dir: Path) -> Plan:
    """Every file the selection covers, with sizes and local state.

    Raises UsageError for an unknown subject and NoMatchingDataError when a
    subject matches nothing or a requested stimulus derivative is missing.
    """
    root = Path(os.path.abspath(data_dir))
    out = _Collector(root)
    list_ahead(catalog, selection)
    try:
        subjects = _subjects(catalog, selection.subjects)
    except BaseException:
        catalog.cancel_ahead()  # no plan reads them now: queued ones must not hold the exit up
        raise
    every = "all" in selection.subjects
    catalog.list_ahead(_prefixes(selection, subjects))
    if subjects:
        _add_dataset_files(catalog, out)
    skipped: list[str] = []
    for subject in subjects:
        try:
            _add_subject(catalog, selection, subject, out)
        except NoMatchingDataError:
            if not every:
                raise
            skipped.append(subject)
    if every and len(skipped) == len(subjects):
        raise NoMatchingDataError(
            f"no LAION-fMRI files matched any subject ({', '.join(subjects)}) with this selection"
        )
    _add_stimulus_derivatives(catalog, selection, out)
    return Plan(
        data_dir=root,
        items=tuple(out.items.values()),
        held_out=tuple(out.held_out),
        refused=tuple(out.refused.items()),
        blocked=tuple(out.blocked.items()),
        skipped_subjects=tuple(skipped),
    )


def list_ahead(catalog: Catalog, selection: Selection) -> None:
    """Start every listing a plan of ``selection`` reads first, and return.

    Subject discovery and the named subjects' listings run at once: one
    round trip, not two. :func:`build_plan` starts them itself; a caller with
    other work to do (``--batch`` loads the transfer engine) starts them sooner.
    """
    if selection.subjects:
        catalog.levels_ahead(SUBJECT_ROOTS)
    named = [s for s in selection.subjects if s != "all"]
    catalog.list_ahead(_prefixes(selection, named))


def _prefixes(selection: Selection, subjects: list[str]) -> list[str]:
    """Every recursive listing the walk below will read, so they can run at once."""
    wanted = [bids.component_prefix(component, subject) for subject in subjects
              for component in COMPONENTS if component in selection.components]
    if selection.embeddings or selection.segmentations or selection.captions:
        wanted.append(bids.STIMULI_PREFIX)
    return wanted


def _subjects(catalog: Catalog, requested: tuple[str, ...]) -> list[str]:
    """Resolve ``all`` through discovery; refuse subjects the bucket lacks."""
    if not requested:
        return []
    available = catalog.subjects()
    if not available:
        raise NoMatchingDataError(
            f"no LAION-fMRI subjects were found in s3://{catalog.bucket}/; "
            "check the endpoint and the bucket layout"
        )
    if "all" in requested:
        return list(available)
    unknown = [s for s in requested if s not in available]
    if unknown:
        raise UsageError(
            f"unknown subject {', '.join(unknown)}; available: {', '.join(available)}"
        )
    return list(dict.fromkeys(requested))


def _add_dataset_files(catalog: Catalog, out: _Collector) -> None:
    """The four root files, once per run (upstream refetches them per subject)."""
    by_key = {o.key: o for o in catalog.level("").objects}
    for key in bids.DATASET_KEYS:
        if key in by_key:
            out.add(by_key[key], "dataset")


def _add_subject(catalog: Catalog, selection: Selection, subject: str, out: _Collector) -> None:
    """Walk the selected components of one subject, in upstream's order.

    A subject for which no key passed the rules is an error; the pinned
    R2mean map alone does not count, it only accompanies session data.
    """
    filters = selection.filters
    derivative_filters = replace(filters, **{name: () for name in RAW_ONLY_FILTERS})
    pinned = _pinned_keys(subject, filters)
    hits = session_hits = 0
    walked: list[str] = []
    found: list[tuple[RemoteObject, str]] = []
    for component in COMPONENTS:
        if component not in selection.components:
            continue
        for obj in catalog.objects(bids.component_prefix(component, subject)):
            if obj.key.endswith("/"):
                continue
            walked.append(obj.key)
            passes = _passes(obj.key, component, filters if component == "raw" else derivative_filters)
            if bids.is_held_out(obj.key):
                if passes:
                    out.held_out.setdefault(obj.key)
                continue
            if passes:
                hits += 1
                session_hits += bids.has_entity(obj.key, "ses")
            elif not (component == "glmsingle" and obj.key in pinned):
                continue
            found.append((obj, component))
    if not hits:
        raise NoMatchingDataError(_no_match_message(catalog, subject, selection, walked))
    if _wrong_session(filters, walked) and not session_hits:
        raise NoMatchingDataError(_wrong_session_message(subject, selection, walked))
    for obj, component in found:
        out.add(obj, component)


def _passes(key: str, component: str, filters: Filters) -> bool:
    """Upstream's per-component filter rule (held-out and pins are handled apart)."""
    if component not in _FILTERED:
        return True
    return bids.matches(key, filters, use_ses=component != "rois")


def _pinned_keys(subject: str, filters: Filters) -> frozenset[str]:
    """The R2mean map rides along whenever ``ses`` names a real session:
    the loader needs it as brain mask and strict ``ses`` would drop it."""
    if any(v != bids.AVERAGES for v in filters.ses):
        return frozenset({bids.r2mean_key(subject)})
    return frozenset()


def companion_keys(selection: Selection) -> frozenset[str]:
    """Keys a plan of ``selection`` holds only as companions, not as matches of its
    filters: the R2mean map a session brings along. A session's local state
    leaves them out (fetching ses-01 brought the shared map, and every other
    session then looked ``partial``)."""
    filters = replace(selection.filters, **{name: () for name in RAW_ONLY_FILTERS})
    return frozenset(key for subject in selection.subjects for key in _pinned_keys(subject, selection.filters)
                     if not _passes(key, "glmsingle", filters))


def _wrong_session(filters: Filters, walked: list[str]) -> bool:
    """``--ses`` names sessions (not ``averages``) and the parts walked have
    sessions: then session data must match. ROIs (which carry no session)
    and the R2mean map alone would otherwise be fetched for a mistyped
    ``--ses``, as the package does without a word."""
    return (bool(filters.ses) and bids.AVERAGES not in filters.ses
            and any(bids.has_entity(k, "ses") for k in walked))


def _values(keys: list[str], entity: str) -> list[str]:
    """The values of ``entity`` the keys carry, sorted (``run-01`` -> ``01``)."""
    pattern = re.compile(rf"(?:^|/|_){re.escape(entity)}-([A-Za-z0-9]+)(?=[_./]|$)")
    return sorted({m for k in keys for m in pattern.findall(k)})


def _wrong_session_message(subject: str, selection: Selection, walked: list[str]) -> str:
    asked = ", ".join(selection.filters.ses)
    there = ", ".join(_values(walked, "ses")) or "none"
    return (f"--ses {asked} matched no session of {subject} (its sessions: {there}); "
            "the ROIs and the R2mean map alone are not fetched: check --ses "
            f"(laion-fmri-tui info --subject {subject.removeprefix('sub-')} lists them)")


def _no_match_message(catalog: Catalog, subject: str, selection: Selection, walked: list[str]) -> str:
    """One line naming the subject, the filters and any held-out sessions asked
    for, then what would match: the parts the subject has that were not walked
    (and their ``--include-*`` flag), or the runs and sessions that exist."""
    from laion_fmri_tui.core.plan.inventory import present_components

    active = selection.filters.active()
    shown = "; ".join(f"{name}={','.join(values)}" for name, values in active.items())
    walked_parts = ", ".join(sorted(selection.components, key=COMPONENTS.index)) or "nothing"
    text = (f"no LAION-fMRI files matched {subject} with "
            f"{'filters ' + shown if shown else 'no filters'} "
            f"in s3://{catalog.bucket}/ ({walked_parts})")
    sessions = [v for v in selection.filters.ses if v != bids.AVERAGES]
    held = [f"ses-{v}" for v in sessions if f"ses-{v}" in bids.HELD_OUT_SESSIONS]
    if held and len(held) == len(sessions) and bids.AVERAGES not in selection.filters.ses:
        text += f"; {', '.join(held)} {'is' if len(held) == 1 else 'are'} held out (not yet released)"
    for name, plural in (("run", "runs"), ("ses", "sessions")):
        if name in active and walked:
            text += f"; {plural} there: {', '.join(_values(walked, name)) or 'none'}"
    others = [c for c in present_components(catalog, subject) if c not in selection.components]
    if others:
        flags = [f"--include-{c}" for c in others if c not in DEFAULT_COMPONENTS]
        how = [f"add {' '.join(flags)}"] if flags else []
        if any(c in DEFAULT_COMPONENTS for c in others):
            how.append(f"drop --only for {', '.join(c for c in others if c in DEFAULT_COMPONENTS)}")
        text += f"; {subject} also has {', '.join(others)} ({'; '.join(how)})"
    return text + f"; see laion-fmri-tui info --subject {subject.removeprefix('sub-')}"


def _add_stimulus_derivatives(catalog: Catalog, selection: Selection, out: _Collector) -> None:
    """Embeddings, segmentations and captions from one ``stimuli/`` listing."""
    wanted: list[tuple[str, str]] = [(bids.embedding_key(m), "embeddings") for m in selection.embeddings]
    if selection.segmentations:
        wanted += [(key, "segmentations") for key in bids.SEGMENTATION_KEYS]
    if selection.captions:
        wanted.append((bids.CAPTIONS_KEY, "captions"))
    if not wanted:
        return
    by_key = {o.key: o for o in catalog.objects(bids.STIMULI_PREFIX)}
    for key, component in wanted:
        obj = by_key.get(key)
        if obj is None:
            raise NoMatchingDataError(
                f"{key} was not found in s3://{catalog.bucket}/; has it been uploaded yet?"
            )
        out.add(obj, component)
