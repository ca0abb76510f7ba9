"""Confirm dialogs answer by key and say which; no window size is refused.

The discard question of the data-use form stands for every confirm dialog
(they are one class): ``n`` and ``escape`` keep editing, ``y`` discards, and
the dialog shows those keys on its buttons and in its footer. At 80x23 (an
80x24 terminal under tmux's status line) and at 70x20 the app is used
through its keys as at any size: licence accepted with ``a``, the browser's
tree moved and ticked, the summary counting the ticked subject.
"""

from __future__ import annotations

import html
import re

import pytest
from pilot_helpers import settle, wait_until

from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.confirm import ConfirmScreen
from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen


def shown(app) -> str:
    """The text of the screen as exported (the SVG the snapshots store), tags removed."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def test_a_confirm_dialog_takes_y_n_escape_and_shows_them(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        await settle(pilot)
        results: list = []
        form = DuaFormScreen()
        await app.push_screen(form, results.append)
        await settle(pilot)
        form.query_one("#name").focus()
        await pilot.press("A", "escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = shown(app)
        for hint in ("Keep editing (n/esc)", "Discard (y/enter)"):
            assert hint in text, text
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is form and results == []
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is form and results == []
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert results == [None] and not form.is_attached


@pytest.mark.parametrize("size", [(80, 23), (70, 20)], ids=["80x23", "70x20"])
async def test_small_windows_are_used_not_refused(snapshot_context, snapshot_data_dir, size):
    from laion_fmri_tui.tui.screens.browser import BrowserScreen
    from laion_fmri_tui.tui.screens.licence import LicenceScreen
    from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree

    (snapshot_data_dir / ".laion_fmri" / "license_accepted").unlink()
    app = LaionFmriApp(snapshot_context)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LicenceScreen), "licence screen")
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, BrowserScreen), "browser after a")
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        tree.focus()
        await pilot.press("home", "down")
        await settle(pilot)
        node = tree.cursor_node.data
        await pilot.press("space")
        # The summary's plan is made by a worker the tick's message starts: wait for its answer.
        await wait_until(pilot, lambda: app.screen.plan is not None, f"plan of {node.id}")
        assert app.screen.plan.files > 0, node
