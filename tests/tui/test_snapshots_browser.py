"""Pictures of the browser (with a selection) and of the too-small message."""

from __future__ import annotations

import pytest

from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree
from pilot_helpers import find, settle

SIZES = [(80, 24), (120, 40)]






@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_browser_with_a_selection(snap_compare, snapshot_context, size):
    snapshot_context.disk_free = lambda path: 500 * 10**9

    async def select(pilot) -> None:
        await settle(pilot)
        tree = pilot.app.screen.query_one(BucketTree)
        for node_id in ("sub-01", "sub-01/glmsingle"):
            tree.move_cursor(find(tree, node_id))
            await pilot.press("right")
            await settle(pilot)
        for node_id in ("sub-01/glmsingle/ses-01", "sub-01/glmsingle/ses-02"):
            tree.move_cursor(find(tree, node_id))
            await pilot.press("space")
            await settle(pilot)

    assert snap_compare(LaionFmriApp(snapshot_context), terminal_size=size, run_before=select)


def test_too_small_window(snap_compare, snapshot_context):
    snapshot_context.disk_free = lambda path: 500 * 10**9
    assert snap_compare(LaionFmriApp(snapshot_context), terminal_size=(60, 18), run_before=settle)


async def test_the_layout_recovers_when_the_window_grows(snapshot_context):
    from laion_fmri_tui.tui.screens.browser import BrowserScreen
    from laion_fmri_tui.tui.screens.too_small import TooSmallScreen

    app = LaionFmriApp(snapshot_context)
    async with app.run_test(size=(60, 18)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TooSmallScreen)
        assert "needs at least 80x24" in str(app.screen.query_one("#too-small").render())
        await pilot.resize_terminal(100, 30)
        await settle(pilot)
        assert isinstance(app.screen, BrowserScreen)
