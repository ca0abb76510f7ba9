"""The selection as a ``--batch`` command and a SLURM script, to copy or save.

Nothing here runs anything: the text comes from :mod:`core.commandline`
(shared with tests that prove it parses back to the same selection) and the
only side effect is writing the file the user names. Closing is never
destructive, and an existing file is only replaced after a second press.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.app import ComposeResult, SuspendNotSupported
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TabbedContent, TabPane, TextArea

from laion_fmri_tui.core.scripts.command_line import (
    PROG, PROXY_WITHHELD, command_line, proxy_withheld, slurm_script, write_command_file,
)
from laion_fmri_tui.core.errors import LaionFmriError
from laion_fmri_tui.core.settings import NetworkSettings
from laion_fmri_tui.core.plan.selection import Selection
from laion_fmri_tui.tui.widgets.footer import Footer
from laion_fmri_tui.tui.commands import bindings

FILE_NAMES = {"command-tab": "laion-fmri-download.txt", "script-tab": "laion-fmri-download.sh"}
"""Default file per tab; the script is the one you ``sbatch`` (or run with bash)."""


class BatchCommandScreen(ModalScreen[None]):
    """Shows what the ticked selection is as a headless command; escape closes."""

    BINDINGS = bindings("close-dialog", "switch-tab", "write-file", "plain-view")

    def __init__(self, selections: Sequence[Selection], data_dir: Path, *,
                 program: Sequence[str] = (PROG,), endpoint_url: str | None = None,
                 access_url: str | None = None, network: NetworkSettings | None = None) -> None:
        """*program*, *endpoint_url*, *access_url* and *network* are how the app
        itself runs (its absolute path, the servers it was pointed at, its
        ``--proxy`` and ``--ca-bundle``), so the shown text runs as written."""
        super().__init__()
        self.requested = list(selections)
        """The selections shown (``selections`` is taken: Screen uses it for text selection)."""
        self.data_dir = Path(data_dir)
        self._how = {"program": tuple(program), "endpoint_url": endpoint_url, "access_url": access_url,
                     "network": network}
        self._texts = self._build_texts()
        self._confirm_replace: Path | None = None

    def _build_texts(self) -> dict[str, str]:
        try:
            return {"command-tab": command_line(self.requested, self.data_dir, **self._how),
                    "script-tab": slurm_script(self.requested, self.data_dir, **self._how)}
        except ValueError as error:  # empty selection, or unusable job settings
            return {"command-tab": f"# {error}", "script-tab": f"# {error}"}

    def compose(self) -> ComposeResult:
        with Vertical(id="batch-dialog", classes="tool-dialog"):
            yield Static("Run this selection without the app (--batch)", classes="tool-title")
            if proxy_withheld(self._how["network"]):
                yield Static(PROXY_WITHHELD, id="batch-note", classes="-warning")
            with TabbedContent(id="batch-tabs", initial="command-tab"):
                with TabPane("Command line", id="command-tab"):
                    yield TextArea(self._texts["command-tab"], read_only=True, soft_wrap=True,
                                   show_line_numbers=True, id="command-text", classes="tool-text")
                with TabPane("SLURM script", id="script-tab"):
                    yield TextArea(self._texts["script-tab"], read_only=True, soft_wrap=True,
                                   id="script-text", classes="tool-text")
            with Horizontal(id="write-row"):
                yield Label("Save to ", id="write-label")
                yield Input(str(self.data_dir / FILE_NAMES["command-tab"]), id="write-path", compact=True)
                yield Button("Write", id="write", variant="primary", compact=True)
            yield Static("", id="write-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#command-text", TextArea).focus()

    @property
    def active_tab(self) -> str:
        """``command-tab`` or ``script-tab``."""
        return self.query_one(TabbedContent).active or "command-tab"

    def text_for(self, tab: str) -> str:
        """The exact text shown in (and written from) *tab*."""
        return self._texts[tab]

    # switching ---------------------------------------------------------------
    def action_switch_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "script-tab" if self.active_tab == "command-tab" else "command-tab"

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Follow the tab with the proposed file name, unless the user typed their own."""
        path_input = self.query_one("#write-path", Input)
        proposed = {str(self.data_dir / name) for name in FILE_NAMES.values()}
        if event.pane.id in FILE_NAMES and path_input.value in proposed:
            path_input.value = str(self.data_dir / FILE_NAMES[event.pane.id])
        self._confirm_replace = None
        self._say("")

    # writing -----------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "write-path":
            self.action_write()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "write":
            self.action_write()

    def action_write(self) -> None:
        """Write the active tab's text; a second press confirms replacing a file."""
        raw = self.query_one("#write-path", Input).value.strip()
        if not raw:
            self._say("give a file name to write to", "-error")
            return
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = self.data_dir / path  # relative to what the user sees on screen, not the cwd
        if path.is_file() and self._confirm_replace != path:
            self._confirm_replace = path
            self._say(f"{path.name} exists: press Write again to replace it", "-warning")
            return
        self._confirm_replace = None
        tab = self.active_tab
        try:
            written = write_command_file(path, self.text_for(tab), executable=tab == "script-tab")
        except LaionFmriError as error:
            self._say(str(error), "-error")
            return
        # The path once, whole: twice (as "sbatch PATH") did not fit the message's lines at 80 columns.
        what = "Script" if tab == "script-tab" else "Command"
        hint = " (submit it with sbatch)" if tab == "script-tab" else ""
        self._say(f"{what} written to {written}{hint}", "-success")

    # plain view --------------------------------------------------------------
    def action_plain(self) -> None:
        """Hand the terminal back and print the text as it is: no border, no
        line numbers, no wrapping of the app's own, so the terminal's
        select-and-copy (tmux copy mode too) takes exactly the command."""
        text = self.text_for(self.active_tab)
        try:
            with self.app.suspend():
                print(f"\n{text}\n", flush=True)
                input("[laion-fmri-tui] press enter to go back to the app ")
        except SuspendNotSupported:
            self._say("no terminal to print to here: write the text to a file (^s)", "-warning")

    def _say(self, text: str, state: str = "") -> None:
        message = self.query_one("#write-message", Static)
        message.update(text)
        for name in ("-error", "-warning", "-success"):
            message.set_class(name == state, name)

    def action_close(self) -> None:
        self.dismiss(None)
