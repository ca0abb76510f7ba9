"""One key, one meaning: checkboxes by space only and with a visible tick; help lists a key once."""

from __future__ import annotations

from collections import Counter

from pilot_helpers import settle
from textual.widgets import Checkbox, Static

from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen
from laion_fmri_tui.tui.screens.help import HelpScreen


def drawn(box: Checkbox) -> str:
    return str(box.render())


async def test_a_checkbox_shows_its_tick_as_a_glyph_and_enter_does_not_untick_it(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(DuaFormScreen())
        await settle(pilot)
        box = app.screen.query_one("#accepted_terms", Checkbox)
        for _ in range(20):
            if box.has_focus:
                break
            await pilot.press("tab")
        assert box.has_focus
        unticked = drawn(box)
        await pilot.press("space")
        await pilot.pause()
        assert box.value and drawn(box) != unticked, "ticked and unticked differ in the glyphs, not only colour"
        assert "X" in drawn(box) and "X" not in unticked
        await pilot.press("enter")
        await pilot.pause()
        assert box.value, "enter after a tick must not untick it"


async def test_help_lists_each_key_once(context):
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        keys = Counter(str(w.render()) for w in app.screen.query(".help-key").results(Static))
        assert keys["d"] == 1 and keys["space"] == 1 and keys["b"] == 1
        texts = [str(w.render()) for w in app.screen.query(".help-text").results(Static)]
        assert "Review the plan and start the download" in texts
        # opened from the browser: the dashboard's, licence's and review's keys do nothing here
        assert keys["p"] == 0 and keys["n"] == 0 and keys["c"] == 0, keys
