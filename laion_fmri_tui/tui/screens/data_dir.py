"""First run: choose the data directory, saved where the dataset package reads it.

The typed path is checked in a thread worker (a stat on a hung network mount
must not freeze the UI) and again when saving, so a stale check never lets a
bad directory through. The path is shown with ``~`` for the home folder: it
is what users type over SSH, and it keeps the screen free of per-machine
prefixes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Input, Label, Static
from textual.worker import Worker, WorkerState

from laion_fmri_tui.core.disk import datadir
from laion_fmri_tui.core.errors import DataDirError
from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.tui.widgets.tick_box import TickBox
from laion_fmri_tui.tui.widgets.footer import Footer

EXPLANATION = (
    "laion-fmri-tui downloads into one data directory that mirrors the bucket "
    "(derivatives/, sub-XX/, stimuli/). It is saved in {config}, the file the "
    "laion_fmri Python package reads, so both tools share one copy. Choose a disk "
    "with room: a subject's derivatives take several GB, raw data hundreds of GB."
)


def shown(path: Path | str) -> str:
    """``path`` with the home folder written as ``~``."""
    text, home = str(path), str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home):]
    return text


@dataclass(frozen=True)
class DirCheck:
    """What the typed path is: ``ok``, ``missing`` (creatable) or a problem."""

    kind: str
    """``empty``, ``ok``, ``missing``, ``not-dir``, ``not-writable``, ``cannot-create`` or ``error``."""
    message: str
    path: Path | None = None
    """The absolute path, when the text names one."""

    @property
    def usable(self) -> bool:
        return self.kind in ("ok", "missing")


def check_dir(text: str) -> DirCheck:
    """Inspect the typed directory without changing anything (blocking I/O)."""
    if not text.strip():
        return DirCheck("empty", "Enter a directory.")
    path = Path(text.strip()).expanduser().absolute()
    note = "" if Path(text.strip()).expanduser().is_absolute() else f" ({shown(path)})"
    if path.is_dir():
        if os.access(path, os.W_OK | os.X_OK):
            return DirCheck("ok", f"✓ Exists and is writable{note}.", path)
        return DirCheck("not-writable", f"✗ Not writable by you{note}; choose another.", path)
    if path.exists():
        return DirCheck("not-dir", f"✗ A file, not a directory{note}; choose another.", path)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return DirCheck("missing", f"Does not exist yet{note}: tick “Create it” to make it.", path)
    return DirCheck("cannot-create", f"✗ Cannot be created: {shown(parent)} is not a writable directory.", path)


def create_and_save(text: str, create: bool) -> Path:
    """Create the directory if asked, then store it in the config file."""
    checked = check_dir(text)
    if checked.kind == "missing" and not create:
        raise ValueError("✗ It does not exist yet: tick “Create it” or choose another.")
    if not checked.usable or checked.path is None:
        raise ValueError(checked.message)
    checked.path.mkdir(parents=True, exist_ok=True)
    try:
        datadir.save_data_dir(checked.path)
    except DataDirError as error:  # its .laion_fmri is a file: named, nothing saved
        raise ValueError(f"✗ {error}") from None
    return checked.path.resolve()


class PathInput(Input):
    """The path field, its enter named in the footer: an Input hides its own enter
    there and takes ``?`` and ``q`` as text, so the first frame's footer showed
    no key of the screen but the palette's."""

    BINDINGS = bindings("data-dir-submit")


class DataDirScreen(Screen[Path | None]):
    """Ask where the data goes; dismiss with the saved path, or None to quit."""

    BINDINGS = bindings("data-dir-continue", "data-dir-quit")
    """enter on the tick box (which leaves enter to its screen) goes on; escape in the
    path field quits (``q`` is a letter of a path there)."""

    def __init__(self, default: Path) -> None:
        super().__init__()
        self._default = default
        self._check = DirCheck("empty", "")

    def compose(self) -> ComposeResult:
        with Vertical(id="data-dir", classes="form-page"):
            yield Static("Where should the LAION-fMRI data go?", classes="form-title")
            yield Static(EXPLANATION.format(config=shown(datadir.config_path())), classes="form-text")
            yield Label("Data directory", classes="field-label")
            yield PathInput(value=shown(self._default), id="data-dir-input")
            yield Static("", id="data-dir-status", classes="field-status")
            yield TickBox("Create it", id="create-dir", classes="-hidden")
            with Horizontal(classes="buttons"):
                yield Button("Quit", id="quit")
                yield Button("Continue", id="continue", variant="primary", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#data-dir-input", Input).focus()
        self._run_check(self._text)

    @property
    def _text(self) -> str:
        return self.query_one("#data-dir-input", Input).value

    @property
    def _create(self) -> bool:
        return self.query_one("#create-dir", Checkbox).value

    # checking ----------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._run_check(event.value)

    @work(thread=True, exclusive=True, group="data-dir-check", exit_on_error=False,
          name="data-dir-check", description="Check the typed data directory")
    def _run_check(self, text: str) -> DirCheck:
        try:
            return check_dir(text)
        except OSError as error:  # e.g. a folder on the way that we may not even list
            return DirCheck("error", f"✗ Cannot inspect it: {error.strerror or error}")

    def _show_check(self, checked: DirCheck) -> None:
        self._check = checked
        self.query_one("#create-dir", Checkbox).set_class(checked.kind != "missing", "-hidden")
        self._show_state()

    def _show_state(self) -> None:
        """The status line and Continue for the latest check and the tick box
        as they are now: ticking "Create it" answers the missing directory at once."""
        checked = self._check
        creating = checked.kind == "missing" and self._create
        status = self.query_one("#data-dir-status", Static)
        status.update(f"✓ Will be created ({shown(checked.path)}): enter goes on." if creating
                      else checked.message)
        status.set_class(not checked.usable and checked.kind != "empty", "-error")
        status.set_class(checked.kind == "ok" or creating, "-ok")
        self._update_continue()

    def _update_continue(self) -> None:
        ready = self._check.kind == "ok" or (self._check.kind == "missing" and self._create)
        self.query_one("#continue", Button).disabled = not ready

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._show_state()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """escape quits from the path field only: elsewhere ``q`` does (and the
        footer would name Quit twice)."""
        if action == "leave":
            return isinstance(self.focused, PathInput)
        return True

    def action_leave(self) -> None:
        self.dismiss(None)

    def action_continue(self) -> None:
        """enter on the tick box: go on, as enter in the path field does."""
        self._save(self._text, self._create)

    # saving ----------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._check.kind == "missing" and not self._create and self._check.path is not None:
            # The answer is one key away: space ticks "Create it", enter goes on.
            self.query_one("#create-dir", Checkbox).focus()
        self._save(event.value, self._create)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "quit":
            self.dismiss(None)
        elif event.button.id == "continue":
            self._save(self._text, self._create)

    @work(thread=True, exclusive=True, group="data-dir-save", exit_on_error=False,
          name="data-dir-save", description="Create and save the data directory")
    def _save(self, text: str, create: bool) -> Path | str:
        """The saved path, or why it could not be used (an answer, not a crash)."""
        try:
            return create_and_save(text, create)
        except ValueError as error:
            return str(error)
        except OSError as error:
            return f"✗ Cannot use it: {error.strerror or error}"

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Route both workers' outcomes; failures become the status line."""
        worker, state = event.worker, event.state
        if state == WorkerState.SUCCESS and worker.name == "data-dir-check":
            if worker.result is not None:
                self._show_check(worker.result)
        elif state == WorkerState.SUCCESS and worker.name == "data-dir-save":
            if isinstance(worker.result, Path):
                self.dismiss(worker.result)
            else:
                self._show_problem(str(worker.result))
        elif state == WorkerState.ERROR and worker.name in ("data-dir-check", "data-dir-save"):
            self._show_problem(f"✗ Unexpected error: {worker.error}")

    def _show_problem(self, text: str) -> None:
        status = self.query_one("#data-dir-status", Static)
        status.update(text)
        status.set_classes("field-status -error")
