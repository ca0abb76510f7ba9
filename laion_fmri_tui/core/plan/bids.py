"""The upstream selection rules as pure functions (no I/O).

The dataset package decides which bucket keys a download covers and where
each one lands on disk. Users mix this tool with that package on one data
directory, so these rules must match it exactly: the same filter semantics
(strict ``ses``, permissive entities, exact suffix/extension, JSON sidecars),
the same held-out sessions and the same de-hyphenated ``label-`` paths.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from laion_fmri_tui.core.errors import UnsafeKeyError
from laion_fmri_tui.core.plan.selection import Filters

DATASET_KEYS = ("dataset_description.json", "participants.tsv", "participants.json", "README")
"""Root files every subject download brings along."""

HELD_OUT_SESSIONS = ("ses-31", "ses-32", "ses-33", "ses-34")
"""Sessions the bucket denies (403) until a later release."""
_EXEMPT_PREFIX = "derivatives/localizers/"
_EXEMPT_MARKERS = ("task-oloc_", "task-oloc.")

AVERAGES = "averages"
"""The ``ses`` value that selects subject-level files (no ``ses-`` token)."""

_COMPONENT_PREFIXES = {
    "glmsingle": "derivatives/glmsingle-tedana/{sub}/",
    "rois": "derivatives/rois/{sub}/",
    "freesurfer": "derivatives/freesurfer/{sub}/",
    "anatomical": "derivatives/anatomical/{sub}/",
    "localizers": "derivatives/localizers/{sub}/",
    "raw": "{sub}/",
}

STIMULI_PREFIX = "stimuli/"
SEGMENTATION_KEYS = (
    "stimuli/task-images_desc-segmentations.h5",
    "stimuli/task-images_desc-segmentations_metadata.csv",
)
CAPTIONS_KEY = "stimuli/task-images_desc-captions.csv"

_PERMISSIVE = ("task", "space", "desc", "stat", "run", "echo", "part")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
"""Characters that would make a file name drive a terminal (ESC, CR, newline...)."""
_LABEL = re.compile(r"label-([A-Za-z0-9-]+)(?=[_./]|$)")
_DRIVE = re.compile(r"^[A-Za-z]:")


def component_prefix(component: str, subject: str) -> str:
    """The bucket prefix one per-subject component lives under."""
    return _COMPONENT_PREFIXES[component].format(sub=subject)


def r2mean_key(subject: str) -> str:
    """The subject-level R2mean map the loader derives its brain mask from."""
    return (f"derivatives/glmsingle-tedana/{subject}/"
            f"{subject}_task-images_space-T1w_stat-rsquare_desc-R2mean_statmap.nii.gz")


def embedding_key(model: str) -> str:
    """Key of one embedding model's HDF5 (model is the ``desc-`` label)."""
    return f"stimuli/task-images_desc-{model}_embeddings.h5"


def split_name(filename: str) -> tuple[str, str, str]:
    """``(base, ext, suffix)`` of a file name, split like upstream.

    The extension starts at the FIRST dot (``nii.gz``, ``func.gii``); the
    suffix is what follows the last ``_`` of the base (or the whole base).
    """
    name = filename.rsplit("/", 1)[-1]
    base, _, ext = name.partition(".")
    suffix = base.rsplit("_", 1)[-1]
    return base, ext, suffix


def has_entity(key: str, entity: str) -> bool:
    """True when ``<entity>-<alnum>`` is a token anywhere in the key (folders count)."""
    pattern = rf"(?:^|/|_){re.escape(entity)}-[A-Za-z0-9]+(?=[_./]|$)"
    return re.search(pattern, key) is not None


def has_entity_value(key: str, entity: str, value: str) -> bool:
    """True when the exact token ``<entity>-<value>`` is in the key (case-sensitive)."""
    pattern = rf"(?:^|/|_){re.escape(f'{entity}-{value}')}(?=[_./]|$)"
    return re.search(pattern, key) is not None


def ses_matches(key: str, values: tuple[str, ...]) -> bool:
    """Strict ``ses``: a session file must name a requested session; a file
    without a session passes only when ``averages`` was asked for."""
    if has_entity(key, "ses"):
        return any(has_entity_value(key, "ses", v) for v in values if v != AVERAGES)
    return AVERAGES in values


def matches(key: str, filters: Filters, *, use_ses: bool = True) -> bool:
    """Whether ``key`` passes every active filter (AND across, OR within).

    ``use_ses=False`` is the ROI walk: ROIs are subject-level, so upstream
    drops the ``ses`` filter there but keeps all the others.
    """
    _, ext, suffix = split_name(key)
    if filters.suffix and suffix not in filters.suffix:
        return False
    if filters.extension and ext not in filters.extension:
        sidecar = ext == "json" and bool(filters.suffix)  # suffix already matched above
        if not sidecar:
            return False
    if use_ses and filters.ses and not ses_matches(key, filters.ses):
        return False
    for entity in _PERMISSIVE:
        values: tuple[str, ...] = getattr(filters, entity)
        if not values or not has_entity(key, entity):
            continue
        if not any(has_entity_value(key, entity, v) for v in values):
            return False
    return True


def held_out_session(key: str) -> str | None:
    """The held-out session a key sits in (``/ses-3X/`` or ending ``/ses-3X``)."""
    for ses in HELD_OUT_SESSIONS:
        if f"/{ses}/" in key or key.endswith(f"/{ses}"):
            return ses
    return None


def is_held_out(key: str) -> bool:
    """True when the bucket would deny the key: a held-out session, except
    the released ``task-oloc`` maps under ``derivatives/localizers/``."""
    if held_out_session(key) is None:
        return False
    if key.startswith(_EXEMPT_PREFIX) and any(m in key for m in _EXEMPT_MARKERS):
        return False
    return True


def bidsify_local_key(key: str) -> str:
    """The key's local relative path: ``label-`` values lose their hyphens
    (``label-FFA-1`` -> ``label-FFA1``), as upstream's loaders expect."""
    if "label-" not in key:
        return key
    return _LABEL.sub(lambda m: "label-" + m.group(1).replace("-", ""), key)


def check_key(key: str) -> None:
    """Refuse keys that could escape the data directory (one-line reason)."""
    if not key:
        raise UnsafeKeyError("refusing an empty S3 key")
    if "\\" in key or "\x00" in key:
        raise UnsafeKeyError(f"refusing S3 key {key!r}: backslash or NUL in it")
    if _CONTROL.search(key):
        raise UnsafeKeyError(f"refusing S3 key {key!r}: control characters in it (unsafe as a file name)")
    if key.startswith("/") or _DRIVE.match(key):
        raise UnsafeKeyError(f"refusing S3 key {key!r}: it is an absolute path")
    padded = f"/{key}/"  # each segment between slashes: one substring test per kind, not a loop per key
    if "//" in padded or "/./" in padded or "/../" in padded:
        raise UnsafeKeyError(f"refusing S3 key {key!r}: empty, '.' or '..' path segment")
    if key.startswith(OWN_FOLDER) or key.endswith(OWN_SUFFIXES):
        raise UnsafeKeyError(f"refusing S3 key {key!r}: the tool's own files have that name "
                             "(.part, .part.json, .lock, .laion_fmri/)")


OWN_FOLDER = ".laion_fmri/"
"""The data directory's marker folder (the licence acceptance lives there)."""
OWN_SUFFIXES = (".part", ".part.json", ".lock")
"""Temp files, resume records and locks beside a file (``X.part``, ``X.<token>.part``
...): a key with such a name would be taken for one of another file, or clobber it."""


def local_path(data_dir: Path, key: str) -> Path:
    """Where ``key`` lands: strictly inside ``data_dir``, or UnsafeKeyError.

    Containment is checked lexically (after :func:`check_key` has refused
    ``..``, ``.``, empty segments and absolute keys): symlinks the user made
    inside the data directory, such as a subject folder on another disk, are
    theirs to make and are followed, and no per-key ``stat`` is needed.
    """
    return Path(local_path_in(os.path.abspath(data_dir), key))


def local_path_in(root: str, key: str) -> str:
    """:func:`local_path` as a string, under a root already made absolute: the
    planner's form (one ``abspath`` per plan and one ``Path`` per key, not three)."""
    check_key(key)
    dest = os.path.normpath(os.path.join(root, bidsify_local_key(key)))
    # String containment (root plus a separator is a prefix): the same test as
    # "root is a parent", without building every parent as a Path per key.
    if not dest.startswith(root.rstrip(os.sep) + os.sep):
        raise UnsafeKeyError(f"refusing S3 key {key!r}: it maps outside {root}")
    return dest
