"""Shared by the tool-dialog tests: the real app, fixed selections, a real HDF5 file."""

from __future__ import annotations

from pathlib import Path

from laion_fmri_tui.core.plan.selection import DEFAULT_COMPONENTS, Filters, Selection
from laion_fmri_tui.devserver import synthetic
from laion_fmri_tui.styles import stylesheet
from laion_fmri_tui.tui.app import LaionFmriApp

CLIP_KEY = "stimuli/task-images_desc-CLIP_embeddings.h5"
SELECTIONS = [
    Selection(subjects=("sub-01",), filters=Filters.build(ses=["01", "02"], task="images"),
              components=DEFAULT_COMPONENTS | {"raw"}),
    Selection(embeddings=("CLIP",), captions=True, stimuli=True),
]


def make_app(context) -> LaionFmriApp:
    """The real app; adds styles/tools.tcss only until the app lists it itself."""
    app = LaionFmriApp(context)
    tools = stylesheet("tools.tcss")
    if not any(Path(p).name == tools.name for p in app.css_path):
        app.css_path.append(tools)
    return app


def write_embeddings(data_dir: Path) -> Path:
    data = next(o.data for o in synthetic.build_objects() if o.key == CLIP_KEY)
    path = data_dir / CLIP_KEY
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)
