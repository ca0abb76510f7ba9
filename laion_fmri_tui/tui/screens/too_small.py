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
        self._have: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._message(), id="too-small")

    def on_mount(self) -> None:
        self.show_size(*(self._have or (self.app.size.width, self.app.size.height)))

    def on_screen_resume(self) -> None:
        """Uncovered again (a screen above it closed): go if the window is big enough now."""
        width, height = self.app.size
        if width >= self._need[0] and height >= self._need[1]:
            self.dismiss()
        else:
            self.show_size(width, height)

    def show_size(self, width: int, height: int) -> None:
        self._have = (width, height)
        if self.is_mounted:
            self.query_one("#too-small", Static).update(self._message())

    def _message(self) -> str:
        need_w, need_h = self._need
        have = f"Window is {self._have[0]}x{self._have[1]}; " if self._have else ""
        return f"{have}laion-fmri-tui needs at least {need_w}x{need_h}."
