"""One tree row in full: enter on a file, a part or a failed listing's line.

The browser builds the lines (:mod:`tui.row_details`); this dialog only shows
them, wrapped, so a name or path an 80-column row cuts can be read whole.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.tui.widgets.footer import Footer


class RowInfoScreen(ModalScreen[None]):
    """Escape or enter closes."""

    BINDINGS = bindings("close-details")

    def __init__(self, title: str, lines: list[tuple[str, str]]) -> None:
        super().__init__()
        self._title, self._lines = title, lines

    def compose(self) -> ComposeResult:
        with Vertical(id="row-info", classes="dialog"):
            yield Static(self._title, classes="question", markup=False)
            for label, value in self._lines:
                with Horizontal(classes="info-row"):
                    yield Static(label, classes="info-label", markup=False)
                    yield Static(value, classes="info-value" + (" -error" if label == "failed" else ""),
                                 markup=False)
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
