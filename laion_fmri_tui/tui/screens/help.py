"""Every key and the environment knobs, generated so it cannot drift from the bindings.

Keys come from :data:`commands.COMMANDS`, :data:`commands.NAVIGATION` and
:data:`commands.DIALOGS` (the registry every screen builds its ``BINDINGS``
from), displayed with the app's own key formatting. Opened from a screen, it
lists only that screen's keys (what its bindings, its focused widget and the
app answer there): ``d`` listed on the dashboard did nothing.
Only the environment section is prose, because it describes the terminal,
not the app; it is aimed at people on slow SSH links or colour-poor consoles.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from laion_fmri_tui.tui import commands
from laion_fmri_tui.tui.widgets.footer import Footer

ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("--mouse", "Turn mouse support on. It is off by default so your terminal's own "
                "select-and-copy keeps working."),
    ("TEXTUAL_FPS=10", "Redraw less often on a slow link. The app lowers the frame rate "
                       "itself when SSH_CONNECTION is set."),
    ("TEXTUAL_ANIMATIONS=none", "No animations (smooth scrolling, fades)."),
    ("NO_COLOR=1", "No colours at all; bold and reverse still mark focus and selection."),
    ("TERM / COLORTERM", "TERM=xterm-256color gives 256 colours; COLORTERM=truecolor "
                         "enables 24-bit colour. Unset COLORTERM if colours look wrong."),
    ("LAION_FMRI_S3_ENDPOINT_URL", "Another S3 endpoint (a mirror or a local test server)."),
    ("LAION_FMRI_ACCESS_URL", "Another stimulus access service."),
    ("LAION_FMRI_REQUEST_ID", "Stimulus request id for headless use; wins over the saved "
                              "auth.json. Scripts never contain it: export it before sbatch."),
)
"""Terminal and service settings, read from the environment at start."""


def dialog_bindings() -> list[tuple[str, str, list[Binding]]]:
    """The dialogs' own keys, read from the registry the dialogs build their
    ``BINDINGS`` from: no dialog is imported to list them. Each entry: title,
    the dialog's screen class name, its keys."""
    return [(title, screen, commands.bindings(*ids)) for title, screen, ids in commands.DIALOGS]


class HelpScreen(ModalScreen[None]):
    """Keys, navigation and environment settings; escape closes."""

    BINDINGS = [Binding("escape", "close", "Close", id="close-dialog")]

    def __init__(self, origin: Screen | None = None) -> None:
        """``origin``: the screen help was opened from; only its keys are listed
        (every key of the app without one)."""
        super().__init__()
        self._origin = origin
        self._bound = None if origin is None else {key for key in origin.active_bindings}

    def _answers(self, keys: str) -> bool:
        """Whether the origin screen answers any of ``keys`` (``k / j``, ``a,y``)."""
        names = {k.strip() for part in keys.split(",") for k in part.split(" / ")}
        return self._bound is None or bool(names & self._bound)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="tool-dialog"):
            yield Static("Keys and settings", classes="tool-title")
            with VerticalScroll(id="help-body"):
                yield from self._section("Actions", ((self._key(c.key), c.help) for c in commands.COMMANDS
                                                     if self._answers(c.key)))
                yield from self._section("Moving around", ((k, t) for k, t in commands.NAVIGATION
                                                           if self._answers(k)))
                for title, screen, keys in dialog_bindings():
                    if self._origin is not None and type(self._origin).__name__ != screen:
                        continue
                    keys = [b for b in keys if self._answers(b.key)]
                    yield from self._section(f"In the {title} dialog",
                                             ((self._key(k), text) for k, text in dialog_rows(keys)))
                yield from self._section("Start-up option and environment", ENVIRONMENT, stacked=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def _key(self, key: str) -> str:
        """``question_mark`` -> ``?``, ``ctrl+t`` -> ``^t``: what the footer shows."""
        return ", ".join(self.app.get_key_display(Binding(k.strip(), "")) for k in key.split(","))

    @staticmethod
    def _section(title: str, rows: Iterable[tuple[str, str]], *, stacked: bool = False) -> ComposeResult:
        """Key and text side by side, or stacked for long names (environment variables);
        nothing for a section without rows."""
        rows = list(rows)
        if not rows:
            return
        yield Static(title, classes="help-section")
        for key, text in rows:
            if stacked:
                yield Static(key, classes="help-key -stacked", markup=False)
                yield Static(text, classes="help-text -stacked", markup=False)
                continue
            with Horizontal(classes="help-row"):
                yield Static(key, classes="help-key", markup=False)
                yield Static(text, classes="help-text", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


def dialog_rows(keys: Iterable[Binding]) -> list[tuple[str, str]]:
    """One row per key of a dialog: keys the Actions section already lists are
    left out (a key means one thing everywhere), and one key bound to two
    actions by state (``p``: pause, resume) is one row, ``Pause / Resume``."""
    listed = {c.key for c in commands.COMMANDS}
    rows: dict[str, list[str]] = {}
    for binding in keys:
        if binding.key not in listed:
            rows.setdefault(binding.key, []).append(binding.description)
    return [(key, " / ".join(dict.fromkeys(texts))) for key, texts in rows.items()]
