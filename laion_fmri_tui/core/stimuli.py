"""The gated stimulus images: manifest first, access only when bytes are needed.

The two files (``task-images_stimuli.h5``, ``task-images_metadata.csv``) are
planned from the access service's *public* manifest, which gives their size
and sha256. When both are already on disk and match, no request id is needed
at all, so a data directory copied to a cluster works without ``auth.json``.
Only a plan with a stimulus file left to fetch asks the service for signed
URLs (see :class:`~laion_fmri_tui.core.transfer.access_source.AccessSource`).
"""

from __future__ import annotations

from pathlib import Path

from laion_fmri_tui.core.disk import verified
from laion_fmri_tui.core.access.errors import AccessServiceError
from laion_fmri_tui.core.models import LocalState, PlanItem
from laion_fmri_tui.core.disk import tempnames

STIMULUS_FILES = ("task-images_stimuli.h5", "task-images_metadata.csv")
COMPONENT = "stimuli"


def stimulus_key(name: str) -> str:
    """Where the file sits in the bucket, and so below the data directory."""
    return f"stimuli/{name}"


def identity(sha256: str) -> str:
    """What a ``.part`` record pins for a stimulus file: its content hash."""
    return f"sha256:{sha256}"


def plan_items(manifest, data_dir: Path) -> tuple[PlanItem, ...]:
    """Plan items for both stimulus files from the public manifest."""
    by_name = {spec.name: spec for spec in manifest.files}
    items = []
    for name in STIMULUS_FILES:
        spec = by_name.get(name)
        if spec is None:
            raise AccessServiceError(f"the access service's manifest does not list {name}; try again later")
        dest = Path(data_dir) / "stimuli" / name
        state, present = local_state(data_dir, dest, spec.size, spec.sha256)
        items.append(PlanItem(
            key=stimulus_key(name), dest=dest, size=spec.size, etag=identity(spec.sha256),
            component=COMPONENT, state=state, present=present, sha256=spec.sha256, source="access",
        ))
    return tuple(items)


def local_state(data_dir: Path, dest: Path, size: int, sha256: str) -> tuple[LocalState, int]:
    """Complete only when the sha256 matches (through ``verified.json``); else what a ``.part`` keeps."""
    if tempnames.final_size(dest) == size:  # a symbolic link there is refused, not trusted
        if verified.sha256_of(data_dir, dest) == sha256:
            return LocalState.COMPLETE, size
        return LocalState.ABSENT, 0  # wrong content: fetched again, replaced on success
    return tempnames.local_state(dest, size, identity(sha256), has_sha256=True)
