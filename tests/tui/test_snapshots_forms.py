"""How the first-run pages and the data-use form look, at 80x24 and 120x40.

What would differ between runs is pinned: HOME is per test, and the screens
write it as ``~``; the licence screen uses the fixed snapshot data directory;
the form's links are built from the access client's ``base_url``, which is set
to the production address here (requests still go to the loopback service,
whose port changes every run).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from laion_fmri_tui.core.access.client import DEFAULT_ACCESS_URL
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.context import AppContext
from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


async def settle(pilot: Pilot) -> None:
    """Finish every worker, then stop the cursor blinking so a frame is repeatable."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, (Input, TextArea)):
            widget.cursor_blink = False
    await pilot.pause()


@pytest.fixture
def production_links(snapshot_context: AppContext, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    """The snapshot context, its form links showing the production address."""
    monkeypatch.setattr(snapshot_context.service().access, "base_url", DEFAULT_ACCESS_URL)
    return snapshot_context


@pytest.mark.parametrize("size", SIZES)
def test_data_dir_screen(snap_compare, fresh_context: AppContext, size: tuple[int, int]) -> None:
    """First run: the default ~/laion-fmri-data does not exist yet, so "Create it" is offered."""
    assert snap_compare(LaionFmriApp(fresh_context), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_licence_screen(snap_compare, snapshot_context: AppContext, snapshot_data_dir: Path,
                        size: tuple[int, int]) -> None:
    """The CC0 licence for a data directory that has not accepted it yet."""
    (snapshot_data_dir / ".laion_fmri" / "license_accepted").unlink()
    assert snap_compare(LaionFmriApp(snapshot_context), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_dua_form(snap_compare, production_links: AppContext, size: tuple[int, int]) -> None:
    """The empty form once the current terms version is loaded."""

    async def open_form(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.app.push_screen(DuaFormScreen())
        await settle(pilot)

    assert snap_compare(LaionFmriApp(production_links), terminal_size=size, run_before=open_form)


def test_dua_form_invalid(snap_compare, production_links: AppContext) -> None:
    """Submitting a half-filled form: every problem is marked, nothing is sent."""

    async def submit_half_filled(pilot: Pilot) -> None:
        await settle(pilot)
        form = DuaFormScreen()
        await pilot.app.push_screen(form)
        await settle(pilot)
        form.query_one("#name", Input).value = "Ada Lovelace"
        form.query_one("#email", Input).value = "ada@"
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(LaionFmriApp(production_links), terminal_size=(80, 24), run_before=submit_half_filled)


@pytest.mark.parametrize("size", [pytest.param((80, 23), id="80x23"), pytest.param((120, 40), id="120x40")])
def test_discard_question(snap_compare, production_links: AppContext, size: tuple[int, int]) -> None:
    """A confirm dialog as every one looks: both answers with their keys, the footer naming them."""

    async def type_then_escape(pilot: Pilot) -> None:
        await settle(pilot)
        form = DuaFormScreen()
        await pilot.app.push_screen(form)
        await settle(pilot)
        form.query_one("#name", Input).focus()
        await pilot.press(*"Ada", "escape")
        await settle(pilot)

    assert snap_compare(LaionFmriApp(production_links), terminal_size=size, run_before=type_then_escape)
