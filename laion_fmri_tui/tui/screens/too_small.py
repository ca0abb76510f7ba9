"""Shown while the window is below the size every screen is designed for."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static


class TooSmallScreen(Screen[None]):
    """One line: the size needed; the app pops it when the window grows."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self._need = (width, height)

    def compose(self) -> ComposeResult:
        yield Static("", id="too-small")

    def show_size(self, width: int, height: int) -> None:
        need_w, need_h = self._need
        self.query_one("#too-small", Static).update(
            f"Window is {width}x{height}; laion-fmri-tui needs at least {need_w}x{need_h}.")
