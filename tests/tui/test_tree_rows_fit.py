"""Every tree row fits an 80x23 pane: the size and the whole local-state word are shown.

Rows were laid out with a fixed 22-cell name column: at 80 columns "Stimulus
images (data-use agreement)" pushed its size past the pane's edge, and at the
deeper levels the state word was cut ("complet", "parti"). Leaves also sat two
cells left of their expandable siblings (the tree draws "▶ " only before
those), so sizes did not line up. Now each row is laid out for the tree's
width: the name is elided, never the size or the state.

The tree is opened by keys only, on a data directory where ``--batch`` (as a
user would run it) fetched one session and one embedding model, so nodes at
every depth show ``complete`` or ``partial``. The rows are read as rendered.
"""

from __future__ import annotations

import subprocess
import sys

from keys import go_to, open_by_keys
from pilot_helpers import find, settle
from textual.geometry import Region

from laion_fmri_tui.core.units import size
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree, kept_share

OPEN = ["sub-01", "sub-01/glmsingle", "sub-01/glmsingle/ses-01", "stimuli", "stimuli/embeddings"]


def fetch(context, s3, *selection: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "laion_fmri_tui", "--batch", *selection, "--data-dir", str(context.data_dir),
         "--endpoint-url", s3.url, "--accept-license"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, done.stderr


def shown_row(tree: BucketTree, node) -> str:
    """The node's row as the terminal shows it (cropped at the tree's edge)."""
    y = node.line - int(tree.scroll_offset.y)
    assert 0 <= y < tree.size.height, f"{node.data.id} is not on screen"
    [strip] = tree.render_lines(Region(0, y, tree.outer_size.width, 1))
    return strip.text


def expected(tree: BucketTree, node) -> tuple[str, str] | None:
    """The size (or "held out") and state word (or "") the row must end with; None for
    rows that show neither (the dataset files' group)."""
    data = node.data
    if data.held_out:
        return "held out", ""
    stats = tree.stats.get(data.id)
    if data.size is not None:  # a file: its own state, as a branch's, or the share a partial one keeps
        if stats is None or stats.state == "absent":
            return size(data.size), ""
        return size(data.size), "complete" if stats.state == "complete" else f"{kept_share(stats.kept, data.size)} kept"
    if stats is None:
        return None
    return size(stats.size), "" if stats.state == "absent" else stats.state


def all_ids(tree: BucketTree) -> list[str]:
    """Node ids in the order the rows are drawn."""
    ids, stack = [], list(reversed(tree.root.children))
    while stack:
        node = stack.pop()
        if node.data is not None:
            ids.append(node.data.id)
        stack.extend(reversed(node.children))
    return ids


async def test_every_row_shows_its_size_and_whole_state_at_80x23(context, s3):
    fetch(context, s3, "--subject", "01", "--ses", "01", "--only", "glmsingle", "--include-embeddings", "CLIP")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        for node_id in OPEN:
            await open_by_keys(pilot, tree, node_id)
        rows, ends = {}, {}
        for node_id in all_ids(tree):
            await go_to(pilot, tree, node_id)
            await settle(pilot)  # the lines under the tree may have grown: the row is kept in view
            node = find(tree, node_id)
            rows[node_id] = shown_row(tree, node).rstrip()
            ends[node_id] = expected(tree, node)
        parents = {node_id: find(tree, node_id).parent for node_id in rows}
        files = {node_id for node_id in rows if find(tree, node_id).data.key is not None}
    shown = "\n".join(rows.values())
    ends = {node_id: end for node_id, end in ends.items() if end is not None}
    assert {"complete", "partial"} <= {state for _, state in ends.values()}, shown  # both, at several depths
    assert {ends[node_id][1] for node_id in files} == {"complete"}, f"a fetched file's row says so:\n{shown}"
    cut = [node_id for node_id, (amount, state) in ends.items()
           if not rows[node_id].endswith(f"{amount} {state}".rstrip())]
    assert not cut, f"size or state cut on {cut}:\n{shown}"
    size_ends = {len(rows[node_id]) - len(f" {state}".rstrip()) for node_id, (_, state) in ends.items()}
    assert len(size_ends) == 1, f"sizes do not line up:\n{shown}"
    marks: dict[int, set[int]] = {}
    for node_id, row in rows.items():
        if "[" in row:
            marks.setdefault(id(parents[node_id]), set()).add(row.index("["))
    assert all(len(columns) == 1 for columns in marks.values()), f"siblings' tick marks do not line up:\n{shown}"
