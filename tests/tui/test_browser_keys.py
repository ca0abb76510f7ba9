"""The browser by real keys: unticking, the first frame, the filter bar, sessions' files, the plan race.

Every move is a key press (tests/tui/keys.py walks the cursor with arrows);
the assertions read what the app shows or the plan it would fetch.
"""

from __future__ import annotations

import dataclasses
import re

from keys import go_to, open_by_keys, tick_by_keys
from pilot_helpers import find, settle
from tools_helpers import write_embeddings

from laion_fmri_tui.core.plan.bids import local_path
from laion_fmri_tui.core.plan.browse import Fragment
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.browser import BrowserScreen
from laion_fmri_tui.tui.screens.h5_preview import H5PreviewScreen
from laion_fmri_tui.tui.screens.review import ReviewScreen
from laion_fmri_tui.tui.screens.transfers import TransfersScreen
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree
from laion_fmri_tui.tui.widgets.summary import SelectionSummary
from textual import events
from textual.widgets import Input

MODELS = ("CLIP", "DINOv2", "PEcore", "SigLIP2")


def label(tree: BucketTree, node_id: str) -> str:
    return str(find(tree, node_id).label)


def summary(app) -> str:
    return str(app.screen.query_one(SelectionSummary).render())


async def test_unticking_the_only_ticked_model_ticks_nothing_else(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await open_by_keys(pilot, tree, "stimuli")
        await open_by_keys(pilot, tree, "stimuli/embeddings")
        await tick_by_keys(pilot, tree, "stimuli/embeddings/CLIP")
        assert label(tree, "stimuli/embeddings").startswith("[-]")
        await tick_by_keys(pilot, tree, "stimuli/embeddings/CLIP")
        assert tree.selected == set()
        for node_id in ("stimuli", "stimuli/images", "stimuli/embeddings", "stimuli/captions",
                        *(f"stimuli/embeddings/{m}" for m in MODELS)):
            assert label(tree, node_id).startswith("[ ]"), node_id
        assert app.screen.plan is None and "Nothing selected" in summary(app)


async def test_unticking_one_part_of_a_ticked_parent_removes_only_that_part(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await tick_by_keys(pilot, tree, "stimuli")
        await open_by_keys(pilot, tree, "stimuli")
        full = {(i.key, i.component) for i in app.screen.plan.items}
        await tick_by_keys(pilot, tree, "stimuli/images")
        assert label(tree, "stimuli").startswith("[-]") and label(tree, "stimuli/images").startswith("[ ]")
        left = {(i.key, i.component) for i in app.screen.plan.items}
        assert left == {(k, c) for k, c in full if c != "stimuli"} and left < full
        # a subject ticked whole, then one session unticked: the rest of the subject stays
        await tick_by_keys(pilot, tree, "sub-03")
        await open_by_keys(pilot, tree, "sub-03")
        await open_by_keys(pilot, tree, "sub-03/glmsingle")
        await tick_by_keys(pilot, tree, "sub-03/glmsingle/ses-02")
        keys = {i.key for i in app.screen.plan.items}
        assert not any("/sub-03/ses-02/" in k for k in keys)
        assert any("/sub-03/ses-01/" in k for k in keys) and any("rois/sub-03/" in k for k in keys)
        assert Fragment("sub-03", "rois") in tree.selected
        # a partly ticked parent: space on it ticks all of it; on a fully ticked one, unticks
        await tick_by_keys(pilot, tree, "stimuli")
        assert label(tree, "stimuli").startswith("[x]")
        await tick_by_keys(pilot, tree, "stimuli")
        assert label(tree, "stimuli").startswith("[ ]") and label(tree, "sub-03").startswith("[-]")


async def test_space_and_enter_work_on_the_first_frame(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        assert tree.has_focus and tree.cursor_node is not None
        assert tree.cursor_node.data.id == "sub-01", "the first row that can be ticked, not Dataset files"
        await pilot.press("space")
        await settle(pilot)
        assert label(tree, "sub-01").startswith("[x]")
        await pilot.press("up", "enter")
        await settle(pilot)
        assert find(tree, "dataset").is_expanded
        await pilot.press("down", "space")  # the first dataset file: not selectable, and says why
        await settle(pilot)


async def test_the_filter_bar_escape_invalid_text_and_no_match(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        bar = app.screen.query_one("#filter-bar", Input)
        assert "=" not in bar.placeholder, "the placeholder must not read as a filter in force"
        await tick_by_keys(pilot, tree, "sub-03")
        await pilot.press("slash", *"suffix=statmap", "enter")
        await settle(pilot)
        assert tree.has_focus and bar.value == "suffix=statmap"
        filtered = {i.key for i in app.screen.plan.items}
        await pilot.press("slash", "end", *" bogus")
        await pilot.press("enter")
        await settle(pilot)
        assert bar.has_focus and bar.has_class("-error"), "invalid text stays to be fixed, marked"
        await pilot.press("escape")
        await settle(pilot)
        assert tree.has_focus, "escape leaves the bar"
        assert bar.value == "suffix=statmap" and not bar.has_class("-error"), "the filter in force shows"
        assert {i.key for i in app.screen.plan.items} == filtered
        await pilot.press("slash", "ctrl+u", *"suffix=nosuchsuffix", "enter")
        await settle(pilot)
        assert "no match" in label(tree, "sub-05"), "a node with nothing passing says so"
        await pilot.press("slash", "ctrl+u", "enter")
        await settle(pilot)
        assert bar.value == "" and "no match" not in label(tree, "sub-05")


async def test_slash_and_the_filter_typed_in_one_burst_all_reach_the_bar(context):
    """A paste, or one SSH packet, queues ``/`` and the text before the app handles
    the ``/``: every letter must land in the bar, none in the tree (``j``/``k``
    would move its cursor, ``space`` would tick a row)."""
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        bar = app.screen.query_one("#filter-bar", Input)
        row = tree.cursor_line
        burst = "/task=images jk"
        for char in burst:  # all queued at once, as a terminal's one read delivers them
            app.post_message(events.Key("slash" if char == "/" else "space" if char == " " else char, char))
        await settle(pilot)
        assert bar.has_focus and bar.value == burst[1:]
        assert tree.cursor_line == row and tree.selected == set()
        await pilot.press("escape")  # the text was never applied: the tree is as it was
        await settle(pilot)
        assert tree.has_focus and bar.value == ""
        await pilot.press("slash", "slash")  # in the bar, / is a character like any other
        await settle(pilot)
        assert bar.has_focus and bar.value == "/"


async def test_a_sessions_files_are_reachable_and_i_previews_the_glmsingle_model(context):
    path = local_path(context.data_dir, "derivatives/glmsingle-tedana/sub-01/ses-01/func/"
                                        "sub-01_ses-01_task-images_space-T1w_desc-GLMsingle_model.h5")
    path.parent.mkdir(parents=True)
    write_embeddings(context.data_dir).rename(path)
    app = LaionFmriApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await open_by_keys(pilot, tree, "sub-01")
        await open_by_keys(pilot, tree, "sub-01/glmsingle")
        await open_by_keys(pilot, tree, "sub-01/glmsingle/ses-01")
        model = "sub-01/glmsingle/ses-01/func/sub-01_ses-01_task-images_space-T1w_desc-GLMsingle_model.h5"
        assert "GLMsingle_model.h5" in label(tree, model) and "B" in label(tree, model)
        await go_to(pilot, tree, model)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, H5PreviewScreen)


def shown(app) -> str:
    """The words of the dialog on top, lines joined."""
    return "\n".join(str(static.render()) for static in app.screen.query("Static"))


async def test_enter_on_a_file_shows_its_state_and_a_note_true_to_the_ticks(context, s3_objects):
    """enter on a session's file: a state line (complete / not on disk) and no note
    that tells to tick a session already ticked."""
    key = "derivatives/glmsingle-tedana/sub-01/ses-01/func/sub-01_ses-01_task-images_space-T1w_desc-GLMsingle_model.h5"
    path = local_path(context.data_dir, key)
    path.parent.mkdir(parents=True)
    path.write_bytes(s3_objects[key].data)
    app = LaionFmriApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await open_by_keys(pilot, tree, "sub-01")
        await open_by_keys(pilot, tree, "sub-01/glmsingle")
        await tick_by_keys(pilot, tree, "sub-01/glmsingle/ses-01")
        await open_by_keys(pilot, tree, "sub-01/glmsingle/ses-01")
        await go_to(pilot, tree, "sub-01/glmsingle/ses-01/" + key.split("/ses-01/", 1)[1])
        await pilot.press("enter")
        await settle(pilot)
        text = shown(app)
        assert "state" in text and "complete" in text, text
        assert "select the whole session" not in text and "fetched with its session, which is ticked" in text
        await pilot.press("escape")
        await settle(pilot)
        other = next(n for n in s3_objects if n.startswith("derivatives/glmsingle-tedana/sub-01/ses-01/")
                     and n != key and not n.endswith("/"))
        await tick_by_keys(pilot, tree, "sub-01/glmsingle/ses-01")  # unticked now
        await go_to(pilot, tree, "sub-01/glmsingle/ses-01/" + other.split("/ses-01/", 1)[1])
        await pilot.press("enter")
        await settle(pilot)
        text = shown(app)
        assert "not on disk" in text and "select the whole session (space on it)" in text, text


async def test_d_shows_the_plan_and_starts_only_on_confirm(context, s3):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        await open_by_keys(pilot, tree, "stimuli")
        await tick_by_keys(pilot, tree, "stimuli/captions")
        s3.clear_log()
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        text = str(app.screen.query_one("#review-plan").render())
        assert "1 file," in text and "to fetch" in text and "already present" in text and "free space" in text
        assert "y / enter" in str(app.screen.query_one("#review-keys").render())
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, BrowserScreen) and not s3.gets("stimuli/task-images_captions.json")
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BrowserScreen)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, TransfersScreen)
        target = str(app.screen.query_one("#transfers-target").render())
        assert re.match(r"Download(ing 1 file \(|ed 1 of 1 file into)", target), target


async def test_an_older_slower_plan_never_replaces_a_newer_one(context, s3):
    """sub-07's listing is held at the server: its plan is still on its way when
    sub-07 is unticked; released, that old plan must not become what d fetches."""
    held = s3.hold_listings("sub-07/")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await browser_up(pilot, app)  # (not settle: the held measure keeps a worker busy)
            tree = app.screen.tree
            await go_to(pilot, tree, "sub-07")
            await pilot.press("space")
            await pilot.pause(0.1)
            assert "planning" in summary(app)
            await pilot.press("space")  # untick: the newer plan is "nothing"
            for _ in range(400):
                await pilot.pause(0.05)
                if "Nothing selected" in summary(app):
                    break
        finally:
            held.set()
        await settle(pilot)
        assert any("prefix=sub-07" in r.query for r in s3.requests if r.key == "")
        assert app.screen.plan is None and "Nothing selected" in summary(app)


def burst(app, *keys: str) -> None:
    """Key events queued at once, as a terminal's one read (a paste, typing ahead,
    one SSH packet) delivers them: the app handles none before all are queued."""
    for key in keys:
        char = {"space": " ", "enter": "\r", "slash": "/", "backspace": "\x7f", "ctrl+u": "\x15"}.get(key, key)
        app.post_message(events.Key(key, char))


async def planned(pilot, app) -> None:
    for _ in range(400):
        await pilot.pause(0.05)
        if app.screen.plan is not None and "planning" not in summary(app):
            return
    raise AssertionError("no plan came in")


async def browser_up(pilot, app) -> None:
    """The browser shows the tree's first level (a held listing keeps workers busy,
    so waiting for every worker, as ``settle`` does, would not end)."""
    for _ in range(400):
        await pilot.pause(0.05)
        if isinstance(app.screen, BrowserScreen) and app.screen.tree.root.children:
            return
    raise AssertionError("the browser never showed the tree")


def toasts(app) -> str:
    return " ".join(str(toast.render()) for toast in app.screen.query("Toast"))


async def sub07_planning(pilot, app):
    """sub-05 ticked and planned, then sub-07 ticked, its listing held at the server
    (``s3.hold_listings("sub-07/")``) so its plan is on its way; the sub-05 plan back."""
    await browser_up(pilot, app)
    tree = app.screen.tree
    await go_to(pilot, tree, "sub-05")
    await pilot.press("space")
    await planned(pilot, app)
    only_sub05 = app.screen.plan
    await go_to(pilot, tree, "sub-07")
    await pilot.press("space")
    await pilot.pause(0.1)
    assert "planning" in summary(app)
    return only_sub05


async def reviewed(pilot, app) -> set[str]:
    for _ in range(400):
        await pilot.pause(0.05)
        if isinstance(app.screen, ReviewScreen):
            return {i.key for i in app.screen.plan.items}
    raise AssertionError(f"no review opened: on {type(app.screen).__name__}")


async def test_d_while_a_newer_plan_is_on_its_way_reviews_it_once_it_is_in(context, s3):
    """sub-05 is planned; then sub-07 is ticked while its listing is held at the
    server: d must not offer the sub-05-only plan (the wrong selection), and it
    is not lost either (it said "press d again", and a user who did not saw
    nothing happen): once the listing is released, the review of both subjects
    opens by itself."""
    held = s3.hold_listings("sub-07/")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        try:
            only_sub05 = await sub07_planning(pilot, app)
            await pilot.press("d")
            await pilot.pause(0.1)
            assert not isinstance(app.screen, ReviewScreen), "d offered the older plan"
            assert "the review opens when it is ready" in toasts(app), toasts(app)
        finally:
            held.set()
        keys = await reviewed(pilot, app)  # the review opened by itself once the plan was in
        assert any("sub-07" in k for k in keys) and {i.key for i in only_sub05.items} < keys


async def test_space_and_d_in_one_burst_review_the_new_ticks_not_the_old(context):
    """``space d`` read at once: d ran before the tree's message that the ticks had
    changed, and reviewed (and y downloaded) the previous selection's plan."""
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.tree
        await tick_by_keys(pilot, tree, "sub-03")
        await planned(pilot, app)
        await go_to(pilot, tree, "sub-05")
        burst(app, "space", "d")  # tick sub-05, review
        keys = await reviewed(pilot, app)
        assert any("/sub-05/" in k for k in keys) and any("/sub-03/" in k for k in keys)
        await pilot.press("n")
        await settle(pilot)
        burst(app, "space", "d")  # untick sub-05, review
        keys = await reviewed(pilot, app)
        assert not any("/sub-05/" in k for k in keys) and any("/sub-03/" in k for k in keys)


async def test_a_burst_through_the_filter_bar_never_reviews_a_filter_not_typed(context):
    """Edits just before enter count (``/suffix=statmapx⌫⏎`` is ``suffix=statmap``:
    a priority enter once read the text before the backspace); a key after enter
    in the same burst may land in the bar, but d never reviews a plan of another
    filter than the one typed (``/⌃u⏎d``: the unfiltered plan, or none)."""
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        browser = app.screen
        tree = browser.tree
        await tick_by_keys(pilot, tree, "sub-03")
        await planned(pilot, app)
        everything = {i.key for i in browser.plan.items}
        burst(app, "slash", *"suffix=statmapx", "backspace", "enter")
        await settle(pilot)
        assert browser.filter_text == "suffix=statmap" and tree.has_focus
        await planned(pilot, app)
        assert {i.key for i in browser.plan.items} < everything
        burst(app, "slash", "ctrl+u", "enter", "d")
        await settle(pilot)
        for _ in range(20):
            await pilot.pause(0.05)
        if isinstance(app.screen, ReviewScreen):
            assert {i.key for i in app.screen.plan.items} == everything
        await pilot.press("escape")


async def test_a_pasted_filter_lands_in_the_bar(context):
    """A terminal's bracketed paste of ``/suffix=statmap`` into the tree is a Paste
    event, not keys: it opens the bar with the text, as typing it does."""
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        bar = app.screen.query_one("#filter-bar", Input)
        app.post_message(events.Paste("/suffix=statma"))
        await settle(pilot)
        await pilot.press("p")  # typed on after the paste (it was left selected, and replaced)
        assert bar.has_focus and bar.value == "suffix=statmap"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.tree.has_focus and app.screen.filter_text == "suffix=statmap"
        app.post_message(events.Paste("/task=images"))  # a new filter replaces the one in force
        await settle(pilot)
        assert bar.has_focus and bar.value == "task=images"


async def test_a_key_held_for_the_plan_is_dropped_once_the_filter_bar_is_opened(context, s3):
    """d held while planning, then / and typing: the review must not open over the bar
    (its enter would start the unfiltered download the user was narrowing)."""
    held = s3.hold_listings("sub-07/")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        try:
            await sub07_planning(pilot, app)
            await pilot.press("d", "slash", *"suffix=sta")
            assert "dropped" in toasts(app), toasts(app)
        finally:
            held.set()
        await planned(pilot, app)
        await pilot.press(*"tmap", "enter")
        await settle(pilot)
        assert isinstance(app.screen, BrowserScreen) and app.screen.filter_text == "suffix=statmap"
        assert app.screen.tree.has_focus


async def test_a_plan_whose_listing_failed_is_planned_again_by_r(context, s3):
    """A listing only the plan asks for (sub-03's ROIs) fails: d says so and how to go
    on (it said "select something first" with sub-03 ticked), and r plans again (it
    said "no listing failed")."""
    context.s3 = dataclasses.replace(context.s3, max_attempts=1)
    s3.fail_next("", 1000, "503", prefix="derivatives/rois/sub-03/")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        tree = app.screen.tree
        await tick_by_keys(pilot, tree, "sub-03")
        for _ in range(400):
            await pilot.pause(0.05)
            if "failed" in summary(app):
                break
        assert "derivatives/rois/sub-03/" in summary(app), summary(app)
        await pilot.press("d")
        await pilot.pause(0.1)
        assert "press r to plan again" in toasts(app) and not isinstance(app.screen, ReviewScreen), toasts(app)
        s3.reset()
        await pilot.press("r")
        await planned(pilot, app)
        await pilot.press("d")
        keys = await reviewed(pilot, app)
        assert any(k.startswith("derivatives/rois/sub-03/") for k in keys)
