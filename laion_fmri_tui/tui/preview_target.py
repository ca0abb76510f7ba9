"""Which downloaded HDF5 file a tree node stands for (for the ``i`` preview)."""

from __future__ import annotations

from pathlib import Path

from laion_fmri_tui.core.plan import bids
from laion_fmri_tui.core.plan.browse import BrowseNode

_FILES = {
    "stimuli/images": "task-images_stimuli.h5",
    "stimuli/segmentations": "task-images_desc-segmentations.h5",
}


def h5_path_for(node: BrowseNode, data_dir: Path | None) -> Path | None:
    if data_dir is None:
        return None
    if node.key is not None:  # one file of a session (GLMsingle_model.h5)
        return bids.local_path(Path(data_dir), node.key) if node.key.endswith(".h5") else None
    if node.id.startswith("stimuli/embeddings/"):
        model = node.id.rsplit("/", 1)[1]
        return Path(data_dir) / "stimuli" / f"task-images_desc-{model}_embeddings.h5"
    name = _FILES.get(node.id)
    return Path(data_dir) / "stimuli" / name if name else None
