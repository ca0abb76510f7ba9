"""Moving through the browser with real keys only (no cursor or value set directly)."""

from __future__ import annotations

from pilot_helpers import settle

from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree

MAX_STEPS = 80


def _at(tree: BucketTree) -> str | None:
    node = tree.cursor_node
    return node.data.id if node is not None and node.data is not None else None


async def go_to(pilot, tree: BucketTree, node_id: str) -> None:
    """Press down (then up) until ``node_id`` is under the cursor."""
    for key in ("down", "up"):
        for _ in range(MAX_STEPS):
            if _at(tree) == node_id:
                return
            before = tree.cursor_line
            await pilot.press(key)
            if tree.cursor_line == before:
                break
    raise AssertionError(f"{node_id} not reachable by arrows (at {_at(tree)})")


async def open_by_keys(pilot, tree: BucketTree, node_id: str) -> None:
    await go_to(pilot, tree, node_id)
    await pilot.press("right")
    await settle(pilot)


async def tick_by_keys(pilot, tree: BucketTree, node_id: str) -> None:
    await go_to(pilot, tree, node_id)
    await pilot.press("space")
    await settle(pilot)
