"""A checkbox whose tick is a glyph, not only a colour, and that only space toggles.

Textual's Checkbox draws the same ``X`` ticked or not and tells them apart by
colour alone, which NO_COLOR and colour-poor terminals erase. It also toggles
on enter, so a user who ticks with space and then presses enter to go on
unticks it again. Here an unticked box is blank, and enter is left to the
screen (submit, or move on).
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox

from laion_fmri_tui.tui.commands import bindings

TICKED, UNTICKED = "X", " "


class TickBox(Checkbox, inherit_bindings=False):
    """A Checkbox drawn ``▐X▌`` / ``▐ ▌`` and toggled by space (or a click) only."""

    BINDINGS = bindings("toggle-button")

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = TICKED if self.value else UNTICKED
        return super()._button
