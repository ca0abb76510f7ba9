"""Shared Pilot moves: wait for workers, find tree nodes, walk the cursor."""

from __future__ import annotations

from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish and the screen catch up (instead of sleeping blindly)."""
    for _ in range(rounds):
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.05)


def find(tree: BucketTree, node_id: str):
    """The tree node whose BrowseNode has this id."""
    stack = [tree.root]
    while stack:
        node = stack.pop()
        if node.data is not None and getattr(node.data, "id", None) == node_id:
            return node
        stack.extend(node.children)
    raise AssertionError(f"{node_id} is not in the tree")


async def open_node(pilot, tree: BucketTree, node_id: str) -> None:
    tree.move_cursor(find(tree, node_id))
    await pilot.press("right")
    await settle(pilot)


async def tick(pilot, tree: BucketTree, node_id: str) -> None:
    tree.move_cursor(find(tree, node_id))
    await pilot.press("space")
    await settle(pilot)


async def wait_until(pilot, predicate, what: str, timeout: float = 120.0) -> None:
    """Pause until ``predicate()`` holds: a state, not a settle time (``timeout`` only
    bounds a failure). A chain of messages and workers (a key, a message to the
    screen, a worker, its answer on the UI thread) can outlast ``settle``'s rounds
    on a loaded machine."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        await pilot.pause(0.05)
