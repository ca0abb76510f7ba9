"""Ask for a new shared bandwidth cap while transfers run (``w`` on the dashboard)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.tui.widgets.footer import Footer
from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.units import cap, parse_rate

KEY_HINT = "enter  set the cap      esc  close, the cap unchanged"


class CapInput(Input):
    """The input, its enter named in the footer (an Input's own enter is hidden
    there, and it is the key the dialog is answered with)."""

    BINDINGS = bindings("set-bandwidth")


class BandwidthScreen(ModalScreen["tuple[int | None] | None"]):
    """Dismisses with ``(bytes_per_second or None,)``, or None when closed unchanged."""

    BINDINGS = bindings("close-bandwidth")

    def __init__(self, current: int | None) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        now = cap(self._current) if self._current else "no cap"
        with Vertical(classes="dialog", id="bandwidth-dialog"):
            yield Static(f"Shared bandwidth cap for all workers (now: {now}).\n"
                         "Type e.g. 300k or 50M (kB/s, MB/s); leave empty for no cap.")
            yield CapInput(placeholder="50M", id="bandwidth-input")
            yield Static("", id="bandwidth-error", classes="-error")
            yield Static(KEY_HINT, id="bandwidth-keys", classes="-muted")
        yield Footer()  # its keys, as every dialog shows them

    def on_input_changed(self, event: Input.Changed) -> None:
        """An error shown for earlier text goes once the text is a rate (or empty):
        it no longer describes what is typed."""
        text = event.value.strip()
        try:
            if text:
                parse_rate(text)
        except UsageError:
            return
        self.query_one("#bandwidth-error", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.dismiss((None,))
            return
        try:
            self.dismiss((parse_rate(text),))
        except UsageError as error:
            self.query_one("#bandwidth-error", Static).update(str(error))

    def action_close(self) -> None:
        self.dismiss(None)
