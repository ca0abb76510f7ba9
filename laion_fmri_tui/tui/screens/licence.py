"""The CC0 dataset licence, accepted once per data directory.

Acceptance writes the dataset package's own marker (``core.licence``), so the
``laion_fmri`` package and ``--batch`` see it too. Only an explicit ``a`` (or
``y``) or the Accept button accepts, and ``n`` declines: ``d`` is the app's
download key everywhere, so it means nothing here. Escape is not bound, and the licence text, not the
Accept button, has the focus at first so a stray Enter does nothing.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.core import licence
from laion_fmri_tui.tui.screens.data_dir import shown
from laion_fmri_tui.tui.widgets.footer import Footer


def reflow(text: str) -> str:
    """Undo the hard line breaks of ``text`` so it wraps to any width.

    Paragraphs stay apart, and lines starting with ``*`` stay list items.
    """
    paragraphs = []
    for block in text.strip().split("\n\n"):
        items: list[str] = []
        for line in block.splitlines():
            stripped = line.strip()
            if stripped.startswith("* ") or not items:
                items.append(("  • " + stripped[2:]) if stripped.startswith("* ") else stripped)
            else:
                items[-1] += " " + stripped
        paragraphs.append("\n".join(items))
    return "\n\n".join(paragraphs)


class LicenceScreen(Screen[bool]):
    """Show the licence; dismiss True once the marker is written, False on decline."""

    BINDINGS = bindings("accept-licence", "decline-licence")

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self._data_dir = Path(data_dir)

    def compose(self) -> ComposeResult:
        with Vertical(id="licence", classes="form-page"):
            yield Static(licence.LICENCE_TITLE, classes="form-title")
            yield Static(
                f"Accepting is recorded once for {shown(self._data_dir)} (the marker the "
                "laion_fmri package also reads); declining quits without downloading. "
                "↑/↓ and PgUp/PgDn scroll the text.",
                classes="form-text -muted",
            )
            with VerticalScroll(id="licence-text"):
                yield Static(reflow(licence.LICENCE_TEXT), markup=False)
            yield Static("", id="licence-status", classes="field-status")
            with Horizontal(classes="buttons"):
                yield Button("Decline (n)", id="decline")
                yield Button("Accept (a)", id="accept", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#licence-text", VerticalScroll).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "accept":
            self.action_accept()
        elif event.button.id == "decline":
            self.action_decline()

    def action_accept(self) -> None:
        """Write the marker off the UI thread (the data dir may be a network mount)."""
        self.query_one("#licence-status", Static).update("Recording your acceptance…")
        self._write_marker()

    def action_decline(self) -> None:
        self.dismiss(False)

    @work(thread=True, exclusive=True, group="licence", exit_on_error=False,
          name="licence-accept", description="Write the licence acceptance marker")
    def _write_marker(self) -> Path | OSError:
        try:
            return licence.accept(self._data_dir)
        except OSError as error:  # read-only or vanished data dir: say so, stay here
            return error

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.name != "licence-accept" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        if isinstance(worker.result, Path):
            self.dismiss(True)
            return
        status = self.query_one("#licence-status", Static)
        status.update(f"✗ Could not record the acceptance: {worker.result or worker.error}")
        status.add_class("-error")
