"""One key, one meaning: checkboxes by space only and with a visible tick; help lists a key once."""

from __future__ import annotations

from collections import Counter

from pilot_helpers import settle
from textual.widgets import Checkbox

from laion_fmri_tui.tui import commands
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen
from laion_fmri_tui.tui.screens.help import HelpRows, HelpScreen
from laion_fmri_tui.tui.widgets.footer import Footer


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
        rows = [row for section in app.screen.query(HelpRows) for row in section.rows]
        keys = Counter(key for key, _ in rows)
        assert keys["d"] == 1 and keys["space"] == 1 and keys["b"] == 1
        texts = [text for _, text in rows]
        assert "Review the plan and start the download" in texts
        # opened from the browser: the dashboard's, licence's and review's keys do nothing here
        assert keys["p"] == 0 and keys["n"] == 0 and keys["c"] == 0, keys


async def test_the_footer_is_rebuilt_for_other_keys_only(context):
    """The footer keeps its widgets when Textual announces the same keys again and
    shows the new ones when they change; both rest on Textual's bindings signal
    (see widgets/footer.py), so an upgrade that changes it fails here."""
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        footer = app.screen.query_one(Footer)
        shown = list(footer.query("FooterKey"))
        assert ("space", "toggle_select") in [(k.key, k.action) for k in shown], "the tree's keys are shown"
        app.screen.refresh_bindings()  # the signal, with the keys as they were
        await settle(pilot)
        assert list(footer.query("FooterKey")) == shown and all(k.is_attached for k in shown), "rebuilt for nothing"
        await pilot.press("slash")  # the filter bar takes the focus: the tree's keys go
        await settle(pilot)
        now = [(k.key, k.action) for k in footer.query("FooterKey")]
        assert now and ("space", "toggle_select") not in now, now
        keys = [k for k in now if k[1] != "command_palette"]  # Textual adds the palette's key at the end
        assert keys == [(b.key, b.action) for _, b, _, _ in app.screen.active_bindings.values() if b.show], now


def test_every_dialog_the_help_names_is_a_screen_whose_keys_it_lists():
    """The help names screens and dialogs by class (it imports none): a renamed screen,
    or a key id the screen (or, for the browser, its tree) does not bind, would drop
    its section silently (the browser's moves are its tree's, the bandwidth's enter its input's)."""
    from laion_fmri_tui.tui.screens import (bandwidth, batch_command, browser, confirm, data_dir, dua_form,
                                            h5_preview, licence, review, row_info, transfers)
    from laion_fmri_tui.tui.screens.bandwidth import CapInput
    from laion_fmri_tui.tui.screens.data_dir import PathInput
    from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree

    modules = (bandwidth, batch_command, browser, confirm, data_dir, dua_form, h5_preview, licence, review, row_info,
               transfers)
    screens = {cls.__name__: cls for module in modules for cls in vars(module).values() if isinstance(cls, type)}
    for title, name, ids in commands.DIALOGS:
        assert name in screens, f"{title}: no screen class {name}"
        widgets = {"BrowserScreen": [BucketTree], "BandwidthScreen": [CapInput],
                   "DataDirScreen": [PathInput]}.get(name, [])
        bound = {b.id for cls in (screens[name], *widgets) for b in cls.BINDINGS if getattr(b, "id", None)}
        assert set(ids) <= bound, f"{title}: {set(ids) - bound} not bound by {name}"
