"""The browser through Pilot: lazy listings, selection, summary, errors and retry."""

from __future__ import annotations

import dataclasses

from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.browser import BrowserScreen
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree
from pilot_helpers import find, open_node, settle, tick
from laion_fmri_tui.tui.widgets.summary import SelectionSummary


def listed_prefixes(s3) -> list[str]:
    from urllib.parse import parse_qs

    return [parse_qs(r.query).get("prefix", [""])[0] for r in s3.requests if r.method == "GET" and r.key == ""]


async def test_levels_are_listed_only_when_expanded(context, s3):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, BrowserScreen)
        tree = app.screen.query_one(BucketTree)
        top = [n.data.id for n in tree.root.children]
        assert top == ["dataset", "sub-01", "sub-03", "sub-05", "sub-07", "stimuli"]
        assert not any(p.startswith("derivatives/glmsingle-tedana/sub-01/ses-") for p in listed_prefixes(s3))
        await open_node(pilot, tree, "sub-01")
        await open_node(pilot, tree, "sub-01/glmsingle")
        sessions = [n.data.id.rsplit("/", 1)[1] for n in find(tree, "sub-01/glmsingle").children]
        assert sessions[:3] == ["ses-01", "ses-02", "ses-03"] and "averages" in sessions
        held = find(tree, "sub-01/glmsingle/ses-31")
        assert held.data.held_out and "held out" in str(held.label)
        assert "MB" in str(find(tree, "sub-01/glmsingle/ses-02").label)


async def test_two_sessions_and_a_model_fill_the_summary(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await open_node(pilot, tree, "sub-01")
        await open_node(pilot, tree, "sub-01/glmsingle")
        await tick(pilot, tree, "sub-01/glmsingle/ses-01")
        await tick(pilot, tree, "sub-01/glmsingle/ses-02")
        await open_node(pilot, tree, "stimuli")
        await open_node(pilot, tree, "stimuli/embeddings")
        await tick(pilot, tree, "stimuli/embeddings/CLIP")
        plan = app.screen.plan
        keys = {i.key for i in plan.items}
        assert any("/ses-01/" in k for k in keys) and any("/ses-02/" in k for k in keys)
        assert not any("/ses-03/" in k for k in keys)
        assert "stimuli/task-images_desc-CLIP_embeddings.h5" in keys
        text = str(app.screen.query_one(SelectionSummary).render())
        assert f"{plan.files} files" in text and "to fetch" in text and "free" in text
        assert "[x] ses-01" in str(find(tree, "sub-01/glmsingle/ses-01").label)
        assert "[-] GLMsingle" in str(find(tree, "sub-01/glmsingle").label)
        await tick(pilot, tree, "sub-01/glmsingle/ses-02")
        assert not any("/ses-02/" in i.key for i in app.screen.plan.items)


async def test_the_filter_bar_applies_batch_rules(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await open_node(pilot, tree, "sub-03")
        await tick(pilot, tree, "sub-03/glmsingle")
        await pilot.press("slash")
        await pilot.press(*"suffix=statmap extension=nii.gz")
        await pilot.press("enter")
        await settle(pilot)
        names = [i.key.rsplit("/", 1)[1] for i in app.screen.plan.items if i.component == "glmsingle"]
        assert names and all(n.endswith(("_statmap.nii.gz", "_statmap.json")) for n in names)
        assert app.screen.query_one(BucketTree).has_focus


async def test_a_failed_listing_shows_on_its_node_and_r_retries(context, s3):
    context.s3 = dataclasses.replace(context.s3, max_attempts=1)
    s3.fail_next("", 1, "503", prefix="")  # the top level's listing, whichever level goes first
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        rows = tree.root.children
        assert len(rows) == 1 and "listing failed" in str(rows[0].label) and "press r" in str(rows[0].label)
        tree.move_cursor(rows[0])
        await pilot.press("r")
        await settle(pilot)
        assert [c.data.id for c in tree.root.children][:2] == ["dataset", "sub-01"]


async def test_space_on_a_failed_listing_says_why_nothing_ticks(context, s3):
    """space on the failed listing's line (where the cursor starts): it says so, as d and b do."""
    context.s3 = dataclasses.replace(context.s3, max_attempts=1)
    s3.fail_next("", 1, "503", prefix="")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        assert "listing failed" in str(tree.cursor_node.label)
        await pilot.press("space")
        await settle(pilot)
        shown = [str(toast.render()) for toast in app.screen.query("Toast")]
        assert any("this listing failed: r retries it" in text for text in shown), shown
        assert tree.selected == set()


async def test_i_on_a_row_without_a_preview_names_every_kind_that_previews(context):
    """The hint names a session's GLMsingle_model.h5 too (i previews it)."""
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("i")  # the cursor starts on a subject: nothing to preview
        await settle(pilot)
        shown = " ".join(str(toast.render()) for toast in app.screen.query("Toast"))
        assert "highlight an HDF5 file" in shown and "GLMsingle_model.h5" in " ".join(shown.split()), shown


async def test_unavailable_nodes_say_why(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await open_node(pilot, tree, "sub-01")
        await open_node(pilot, tree, "sub-01/glmsingle")
        await tick(pilot, tree, "sub-01/glmsingle/ses-31")
        assert tree.selected == set()
        assert app.screen.plan is None
        shown = [str(toast.render()) for toast in app.screen.query("Toast")]
        assert any("ses-31" in text and "held out (not yet released)" in text for text in shown), shown
