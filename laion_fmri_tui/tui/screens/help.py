"""Every key and the environment knobs, generated so it cannot drift from the bindings.

Keys come from :mod:`commands` (the registry every screen builds its
``BINDINGS`` from), displayed with the app's own key formatting. Opened from a
screen, help lists that screen's section of :data:`commands.DIALOGS` (named
"On the ... screen" or "In the ... dialog"), then the keys that work
everywhere: the licence's help listed the tree's moves, which do nothing there.
Opened from a screen the registry does not name, only the app-wide keys it
answers are listed. Only the environment section is prose, because it
describes the terminal, not the app; it is aimed at people on slow SSH links
or colour-poor consoles.

Each section's rows are one widget (:class:`HelpRows`, a grid drawn by Rich),
not two widgets a row: with about eighty widgets to mount, ``?`` took 145 ms
of CPU to open, and on a core the download shares, a key pressed while it
opened waited 200-450 ms (``bench/field.py``, app). As a grid it takes about
60 ms.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
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
                origin = None if self._origin is None else type(self._origin).__name__
                own: set[str] = set()
                for title, screen, keys in dialog_bindings():
                    if origin is not None and screen != origin:
                        continue
                    own |= {b.key for b in keys}
                    rows = [(self._key(k), text) for k, text in dialog_rows(keys)]
                    rows += commands.NAVIGATION.get(screen, ())
                    yield from self._section(commands.section_title(title, screen), rows)
                app_wide = [(self._key(c.key), c.help) for c in commands.COMMANDS
                            if (origin is None or c.key not in own) and self._answers(c.key)
                            and (origin is not None or not any(c.id in ids for _, _, ids in commands.DIALOGS))]
                yield from self._section("Everywhere", [*app_wide, *commands.EVERYWHERE])
                yield from self._section("Start-up option and environment", ENVIRONMENT, stacked=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def _key(self, key: str) -> str:
        """``question_mark`` -> ``?``, ``ctrl+t`` -> ``^t``: what the footer shows."""
        return ", ".join(self.app.get_key_display(Binding(k.strip(), "")) for k in key.split(","))

    @staticmethod
    def _section(title: str, rows: Iterable[tuple[str, str]], *, stacked: bool = False) -> ComposeResult:
        """A section's title and its rows; nothing for a section without rows."""
        rows = list(rows)
        if not rows:
            return
        yield Static(title, classes="help-section")
        yield HelpRows(rows, stacked=stacked)

    def action_close(self) -> None:
        self.dismiss(None)


def dialog_rows(keys: Iterable[Binding]) -> list[tuple[str, str]]:
    """One row per meaning of a screen's keys, with their help text: keys that mean
    the same (``y``, ``enter``: Yes) share a row, and one key bound to two actions by
    state (``p``: pause, resume) is one row, its first (most general) text."""
    texts: dict[str, str] = {}
    for binding in keys:
        texts.setdefault(binding.key, binding.tooltip or binding.description)
    rows: dict[str, list[str]] = {}
    for key, text in texts.items():
        rows.setdefault(text, []).append(key)
    return [(",".join(keys), text) for text, keys in rows.items()]


class HelpRows(Static):
    """One section's rows: key and text side by side (the text wraps beside its key),
    or stacked for long names (environment variables: the name, then its text indented).

    ``rows`` holds what is shown, ``(key, text)`` in order; the key's colour
    comes from the stylesheet (``help-rows--key``)."""

    COMPONENT_CLASSES = {"help-rows--key"}
    KEY_WIDTH = 17
    """Columns of the key (a gap of one follows): the longest key, ``space, enter``-like, fits."""

    def __init__(self, rows: Iterable[tuple[str, str]], *, stacked: bool = False) -> None:
        super().__init__()
        self.rows: list[tuple[str, str]] = list(rows)
        self.stacked = stacked

    def render(self) -> RenderableType:
        key_style = self.get_component_rich_style("help-rows--key")
        grid = Table.grid(padding=(0, 1) if not self.stacked else 0, expand=True)
        if self.stacked:
            grid.add_column(ratio=1)
            for key, text in self.rows:
                grid.add_row(Text(key, style=key_style))
                grid.add_row(Padding(Text(text), (0, 0, 0, 4)))
        else:
            grid.add_column(width=self.KEY_WIDTH, no_wrap=False)
            grid.add_column(ratio=1)
            for key, text in self.rows:
                grid.add_row(Text(key, style=key_style), Text(text))
        return grid
