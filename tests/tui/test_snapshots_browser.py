"""Pictures of the browser with a selection."""

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
