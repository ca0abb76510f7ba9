"""What the tree says about a node: its own files' state, and a failure in full.

Each session's plan brings the subject's R2mean map along (the loader needs
it as brain mask). Once ses-01 was fetched (by ``--batch``, as a user would),
the other sessions showed ``partial`` for that one shared file. A failed
listing's row is cut at the tree pane's edge ("could not reach the S3
endpoint ht"); the line under the tree shows the whole message until it is
retried (a notification faded before it was read).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from pilot_helpers import find, open_node, settle
from textual.widgets import Static

from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree


async def test_a_fetched_session_leaves_the_others_absent(context, s3):
    fetched = subprocess.run(
        [sys.executable, "-m", "laion_fmri_tui", "--batch", "--subject", "01", "--ses", "01", "--only", "glmsingle",
         "--data-dir", str(context.data_dir), "--endpoint-url", s3.url, "--accept-license"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert fetched.returncode == 0, fetched.stderr
    app = LaionFmriApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await open_node(pilot, tree, "sub-01")
        await open_node(pilot, tree, "sub-01/glmsingle")
        await settle(pilot)
        labels = {node_id: str(find(tree, node_id).label)
                  for node_id in ("sub-01/glmsingle/ses-01", "sub-01/glmsingle/ses-02")}
    assert labels["sub-01/glmsingle/ses-01"].rstrip().endswith("complete"), labels
    assert "partial" not in labels["sub-01/glmsingle/ses-02"], labels


async def test_a_failed_listing_can_be_read_in_full_at_80_columns(context, s3):
    """The tree's row is cut at the pane's edge; the line under the tree shows every word."""
    context.s3 = dataclasses.replace(context.s3, max_attempts=1)
    context.s3 = dataclasses.replace(context.s3, endpoint_url="http://127.0.0.1:9/a-long-path-that-names-the-endpoint")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        [message] = tree.errors.values()
        assert len(message) > 52, "a message longer than the tree pane is wide"
        line = app.screen.query_one("#listing-failed", Static)
        shown = " ".join(str(line.render()).split())
        assert line.region.height > 1 and line.region.bottom <= 22, line.region  # wrapped, above the footer
        assert " ".join(message.split()) in shown and shown.endswith("Press r to retry."), (message, shown)
