"""How the tool dialogs look at the smallest supported size and a roomy one.

Everything on screen is fixed: the data directory is the conftest's
SNAPSHOT_DATA_DIR, the selections are constants, and no server address is
ever shown, so the SVGs only change when the look does.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea
from tools_helpers import CLIP_KEY, SELECTIONS, make_app, settle, write_embeddings

from laion_fmri_tui.tui.screens.batch_command import BatchCommandScreen
from laion_fmri_tui.tui.screens.h5_preview import H5PreviewScreen
from laion_fmri_tui.tui.screens.help import HelpScreen


SIZES = [(80, 24), (120, 40)]


def still(pilot) -> None:
    """No blinking cursors: a blink mid-capture would make the SVG flaky."""
    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, (Input, TextArea)):
            widget.cursor_blink = False


def shows(make_screen, *, press: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        await settle(pilot)
        screen = make_screen()
        if isinstance(screen, H5PreviewScreen):
            # written as late as possible: SNAPSHOT_DATA_DIR is one fixed, shared path
            write_embeddings(pilot.app.context.data_dir)
        pilot.app.push_screen(screen)
        await settle(pilot)
        for key in press:
            await pilot.press(key)
        await settle(pilot)
        still(pilot)
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_batch_command(snap_compare, snapshot_context, size):
    screen = lambda: BatchCommandScreen(SELECTIONS, snapshot_context.data_dir)  # noqa: E731
    assert snap_compare(make_app(snapshot_context), terminal_size=size, run_before=shows(screen))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_slurm_script(snap_compare, snapshot_context, size):
    screen = lambda: BatchCommandScreen(SELECTIONS, snapshot_context.data_dir)  # noqa: E731
    assert snap_compare(make_app(snapshot_context), terminal_size=size,
                        run_before=shows(screen, press=("ctrl+t",)))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_h5_preview(snap_compare, snapshot_context, size):
    path = snapshot_context.data_dir / CLIP_KEY
    assert snap_compare(make_app(snapshot_context), terminal_size=size,
                        run_before=shows(lambda: H5PreviewScreen(path)))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare, snapshot_context, size):
    """Opened from the browser by its key: it lists the browser's keys."""
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(pilot.app.screen, HelpScreen)
        await pilot.pause()

    assert snap_compare(make_app(snapshot_context), terminal_size=size, run_before=run_before)
