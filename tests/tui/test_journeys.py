"""Whole journeys through the real app, keys only, against the suite's loopback servers."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Checkbox, TextArea

from laion_fmri_tui.core.plan.bids import bidsify_local_key
from laion_fmri_tui.core.disk.datadir import config_path
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.browser import BrowserScreen
from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen
from laion_fmri_tui.tui.screens.licence import LicenceScreen
from laion_fmri_tui.tui.screens.review import ReviewScreen
from laion_fmri_tui.tui.screens.transfers import TransfersScreen
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree
from pilot_helpers import find, settle

GLM = "derivatives/glmsingle-tedana"


async def tab_to(pilot, widget_id: str) -> None:
    """Press tab until the widget with this id has the focus."""
    for _ in range(30):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id}")


async def go_to(pilot, tree: BucketTree, node_id: str) -> None:
    """Walk the cursor with the keyboard (down/up) until it is on the node."""
    target = find(tree, node_id)
    for _ in range(200):
        if tree.cursor_node is target:
            return
        await pilot.press("down" if tree.cursor_line < target.line else "up")
    raise AssertionError(f"could not reach {node_id}")


async def download_stimulus_images(pilot) -> None:
    """From the browser: tick the stimulus images, press d and confirm the review."""
    tree = pilot.app.screen.query_one(BucketTree)
    await go_to(pilot, tree, "stimuli")
    await pilot.press("right")
    await settle(pilot)
    await go_to(pilot, tree, "stimuli/images")
    await pilot.press("space")
    await settle(pilot)
    await pilot.press("d")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ReviewScreen)
    await pilot.press("enter")  # the review's confirm
    await settle(pilot)


async def wait_finished(pilot) -> TransfersScreen:
    screen = pilot.app.screen
    assert isinstance(screen, TransfersScreen)
    for _ in range(400):
        await pilot.pause(0.05)
        if not screen.transfers_running:
            break
    await settle(pilot)
    return screen


async def test_first_run_to_verified_files(fresh_context, s3_objects, tmp_path):
    """Data dir -> licence -> browse -> two sessions and one model -> download -> on disk."""
    app = LaionFmriApp(fresh_context)
    target = tmp_path / "laion"
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+a", "ctrl+k", *str(target))
        await settle(pilot)
        await tab_to(pilot, "create-dir")
        await pilot.press("space")
        await settle(pilot)
        assert app.screen.query_one("#create-dir", Checkbox).value
        await tab_to(pilot, "continue")
        await pilot.press("enter")
        await settle(pilot)
        assert json.loads(config_path().read_text())["data_dir"] == str(target.resolve())
        assert isinstance(app.screen, LicenceScreen)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, BrowserScreen)
        tree = app.screen.query_one(BucketTree)
        for node_id, key in (("sub-01", "right"), ("sub-01/glmsingle", "right"),
                             ("sub-01/glmsingle/ses-01", "space"), ("sub-01/glmsingle/ses-03", "space"),
                             ("stimuli", "right"), ("stimuli/embeddings", "right"),
                             ("stimuli/embeddings/SigLIP2", "space")):
            await go_to(pilot, tree, node_id)
            await pilot.press(key)
            await settle(pilot)
        plan = app.screen.plan
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen), "d shows the plan first"
        await pilot.press("y")
        await settle(pilot)
        screen = await wait_finished(pilot)
        assert screen.transfers_running is False
    keys = [k for k in s3_objects if k.startswith((f"{GLM}/sub-01/ses-01/", f"{GLM}/sub-01/ses-03/"))]
    keys += ["stimuli/task-images_desc-SigLIP2_embeddings.h5"]
    assert {i.key for i in plan.items} >= set(keys)
    for key in keys:
        assert (target / bidsify_local_key(key)).read_bytes() == s3_objects[key].data, key
    assert not [p for p in target.rglob("*.part")]


async def test_stimulus_images_through_the_form(context, access, s3_objects):
    """d on the stimulus images opens the form; a bad field and a server error, then the download."""
    app = LaionFmriApp(context)
    data_dir: Path = context.data_dir
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await download_stimulus_images(pilot)
        form = app.screen
        assert isinstance(form, DuaFormScreen)
        for field, text in (("name", "Ada Lovelace"), ("email", "ada-at-uni"), ("institution", "Uni"),
                            ("research_purpose", "Decoding visual cortex responses.")):
            await tab_to(pilot, field)
            await pilot.press(*text)
        for box in ("accepted_terms", "acknowledged_privacy"):
            await tab_to(pilot, box)
            await pilot.press("space")
            assert form.query_one(f"#{box}", Checkbox).value
        assert form.query_one("#research_purpose", TextArea).text == "Decoding visual cortex responses."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "-shown" in form.query_one("#email-error").classes
        assert not [r for r in access.requests if r.path == "/api/v1/access/request"]
        await tab_to(pilot, "email")
        await pilot.press("ctrl+a", "ctrl+k", *"ada@uni-example.de")
        access.rate_limit(20, retry_after=0)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert form.state == "rate-limited"
        access.rate_limit(None)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert form.state == "granted"
        await pilot.press("enter")
        await settle(pilot)
        await wait_finished(pilot)
    for name in ("task-images_stimuli.h5", "task-images_metadata.csv"):
        assert (data_dir / "stimuli" / name).read_bytes() == s3_objects[f"stimuli/{name}"].data
    assert not [r for r in access.requests if r.path == "/api/v1/refresh"], "the form's grant is not asked again"


async def test_the_command_palette_lists_the_actions(context):
    from textual.command import CommandPalette

    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"batch")
        await settle(pilot)
        await pilot.pause(0.3)
        options = app.screen.query_one("CommandList")
        texts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any("Batch cmd (b)" in t for t in texts), texts


def test_without_a_terminal_the_app_points_to_batch():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "laion_fmri_tui"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 2
    assert "not a terminal" in result.stderr and "--batch" in result.stderr
    assert result.stderr.count("\n") == 1
