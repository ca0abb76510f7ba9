"""No text in the colour of its own background, on any screen or dialog.

Every screen and dialog of the app is brought up through its real actions and
exported as the SVG the snapshots store (:meth:`App.export_screenshot`); then
:mod:`legibility` reads each character's colour and background back from it.
Run in the default theme and under ``NO_COLOR=1`` (Textual's monochrome
filter), at the smallest size the app promises (80x23). A clash in truecolor,
or in the 256-colour palette a terminal without COLORTERM falls back to,
fails: the confirm dialogs' "Quit" / "Cancel download" / "Discard" once were
drawn in their own background colour because a global ``.-error`` rule of the
app's stylesheet also matched Textual's error button.
"""

from __future__ import annotations

import dataclasses

import pytest
from textual.worker import WorkerCancelled, WorkerFailed
from legibility import clashes
from pilot_helpers import find, settle
from tools_helpers import CLIP_KEY, SELECTIONS, write_embeddings

from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree

SIZE = (80, 23)
COLOURS = [pytest.param({}, id="default-theme"), pytest.param({"NO_COLOR": "1"}, id="no-color")]


async def calm(pilot) -> None:
    """Let every worker but a download finish (a download is what some dialogs open over)."""
    for _ in range(3):
        await pilot.pause(0.05)
        for worker in [w for w in pilot.app.workers if w.group != "transfers"]:
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # a superseded listing or plan; what matters is that it no longer runs
    await pilot.pause(0.05)


class Shots:
    """SVGs by name, each checked when taken so a failure names its screen."""

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {}
        self.names: list[str] = []

    async def take(self, pilot, name: str) -> None:
        await calm(pilot)
        for widget in pilot.app.screen.query("Input, TextArea"):
            widget.cursor_blink = False  # type: ignore[attr-defined]
        await pilot.pause()
        found = clashes(pilot.app.export_screenshot())
        self.names.append(name)
        if found:
            self.problems[name] = [str(c) for c in found]

    def check(self, *expected: str) -> None:
        assert set(expected) <= set(self.names), f"not reached: {set(expected) - set(self.names)}"
        assert not self.problems, "\n".join(f"{name}: {p}" for name, ps in self.problems.items() for p in ps)


@pytest.fixture(params=COLOURS)
def colours(request, monkeypatch) -> dict[str, str]:
    """The environment the app is made in (Textual reads NO_COLOR when the App is created)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    for name, value in request.param.items():
        monkeypatch.setenv(name, value)
    return request.param


async def test_first_run_pages(fresh_context, colours):
    shots = Shots()
    app = LaionFmriApp(fresh_context)
    async with app.run_test(size=SIZE) as pilot:
        await shots.take(pilot, "data directory")
        await pilot.press("enter")  # the proposed ~/laion-fmri-data does not exist: says so
        await shots.take(pilot, "data directory, not created")
    shots.check("data directory")


async def test_licence_browser_and_tool_dialogs(snapshot_context, snapshot_data_dir, colours):
    from laion_fmri_tui.tui.screens.batch_command import BatchCommandScreen
    from laion_fmri_tui.tui.screens.h5_preview import H5PreviewScreen

    (snapshot_data_dir / ".laion_fmri" / "license_accepted").unlink()
    snapshot_context.disk_free = lambda path: 500 * 10**9
    shots = Shots()
    app = LaionFmriApp(snapshot_context)
    async with app.run_test(size=SIZE) as pilot:
        await shots.take(pilot, "licence")
        await pilot.press("a")
        await shots.take(pilot, "browser")
        tree = app.screen.query_one(BucketTree)
        for node_id in ("sub-01", "sub-01/glmsingle"):
            tree.move_cursor(find(tree, node_id))
            await pilot.press("right")
            await settle(pilot)
        tree.move_cursor(find(tree, "sub-01/glmsingle/ses-01"))
        await pilot.press("space")
        await shots.take(pilot, "browser with a selection")
        await pilot.press("right")  # ses-01's files; enter on the first: its details
        await settle(pilot)
        await pilot.press("down", "enter")
        await shots.take(pilot, "row details")
        assert type(app.screen).__name__ == "RowInfoScreen"
        await pilot.press("escape")
        await pilot.press("question_mark")
        await shots.take(pilot, "help")
        await pilot.press("escape")
        app.push_screen(BatchCommandScreen(SELECTIONS, snapshot_context.data_dir))
        await shots.take(pilot, "batch command")
        await pilot.press("ctrl+t")
        await shots.take(pilot, "SLURM script")
        await pilot.press("escape")
        write_embeddings(snapshot_context.data_dir)
        app.push_screen(H5PreviewScreen(snapshot_context.data_dir / CLIP_KEY))
        await shots.take(pilot, "HDF5 preview")
    shots.check("licence", "browser with a selection", "row details", "help", "batch command", "SLURM script",
                "HDF5 preview")


async def test_the_data_use_form_and_its_discard_question(snapshot_context, colours):
    from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen

    shots = Shots()
    app = LaionFmriApp(snapshot_context)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        form = DuaFormScreen()
        app.push_screen(form)
        await shots.take(pilot, "data-use form")
        form.query_one("#name").focus()
        await pilot.press(*"Ada", "ctrl+s")
        await shots.take(pilot, "data-use form, invalid")
        await pilot.press("escape")
        await shots.take(pilot, "discard the form?")
    shots.check("data-use form", "data-use form, invalid", "discard the form?")


async def test_the_dashboard_its_dialogs_and_end_states(snapshot_context, colours):
    """A run held back by a tiny bandwidth cap, so its dialogs open over a live run."""
    from laion_fmri_tui.tui.screens.transfers import TransfersScreen

    snapshot_context.engine = dataclasses.replace(snapshot_context.engine, max_bandwidth=20_000)
    plan = snapshot_context.service().plan(
        Selection(subjects=("sub-01",), filters=Filters.build(ses=["02"]), components=frozenset({"glmsingle"})))
    shots = Shots()
    app = LaionFmriApp(snapshot_context)
    async with app.run_test(size=SIZE) as pilot:
        await calm(pilot)
        screen = TransfersScreen(plan)
        await app.push_screen(screen)
        for _ in range(200):
            if screen.phase == "running":
                break
            await pilot.pause(0.05)
        await shots.take(pilot, "dashboard, running")
        await pilot.press("p")
        await shots.take(pilot, "dashboard, paused")
        await pilot.press("w")
        await shots.take(pilot, "bandwidth")
        await pilot.press("escape")
        await pilot.press("q")
        await shots.take(pilot, "quit during a transfer?")
        await pilot.press("n")
        await pilot.press("c")
        await shots.take(pilot, "cancel the download?")
        await pilot.press("y")
        for _ in range(200):
            if screen.phase == "cancelled":
                break
            await pilot.pause(0.05)
        await shots.take(pilot, "dashboard, cancelled")
    shots.check("dashboard, running", "dashboard, paused", "bandwidth", "quit during a transfer?",
                "cancel the download?", "dashboard, cancelled")
