"""One registry of the app's keys: bindings, footer labels, help and palette.

Every key of every screen, dialog and widget has one entry here; each builds
its ``BINDINGS`` from it (:func:`bindings`), the help screen lists it without
importing a single dialog, and the command palette offers the app-wide
actions (:data:`COMMANDS`), so none of them can disagree.
:data:`SCREEN_KEYS` holds the keys one screen or widget has besides those;
:data:`DIALOGS` says which of them belong to which screen or dialog, so help
opened there lists exactly those (and :data:`EVERYWHERE`).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Command:
    id: str
    key: str
    action: str
    label: str
    help: str
    footer: bool = True
    priority: bool = False
    """Checked before the focused widget's keys (a question's answers)."""


COMMANDS: tuple[Command, ...] = (
    Command("toggle-select", "space", "toggle_select", "Select", "Select or unselect the node and all under it"),
    Command("filter", "slash", "focus_filter", "Filter", "Focus the entity filter bar (task, space, desc, ...)",
            priority=True),
    Command("download", "d", "download", "Download", "Review the plan and start the download"),
    Command("pause", "p", "pause", "Pause", "Pause or resume the transfers"),
    Command("retry", "r", "retry", "Retry", "Retry failed files (or a failed listing)", footer=False),
    Command("batch-command", "b", "batch_command", "Batch cmd", "Show the selection as a --batch command and SLURM script"),
    Command("preview", "i", "preview", "Preview", "Preview a downloaded HDF5 file", footer=False),
    Command("help", "question_mark", "help", "Help", "The keys of this screen and the environment knobs"),
    Command("quit", "q", "quit_app", "Quit", "Quit (asks first while transfers run)"),
)

SCREEN_KEYS: tuple[Command, ...] = (
    # the bucket tree (besides toggle-select)
    Command("cursor-down", "down,j", "cursor_down", "Down", "Move down", footer=False),
    Command("cursor-up", "up,k", "cursor_up", "Up", "Move up", footer=False),
    Command("expand", "right", "expand", "Expand", "Expand the node", footer=False),
    Command("collapse", "left", "collapse", "Collapse", "Collapse the node (or go to its parent)", footer=False),
    Command("open-row", "enter", "open_row", "Open",
            "Expand or collapse a branch; on a file or part, its details (full name, path)", footer=False),
    # the browser
    Command("leave-filter", "escape", "leave_filter", "Leave filter",
            "Back to the tree; the filter stays in force", footer=False),
    # the download review
    Command("review-start", "y,enter", "start", "Start", "Start the download"),
    Command("review-back", "n,escape", "back", "Back", "Back without downloading"),
    # the transfer dashboard
    Command("resume", "p", "resume", "Resume", "Resume the paused transfers"),
    Command("cancel", "c", "cancel", "Cancel", "Stop the download (partial files are kept)"),
    Command("bandwidth", "w", "bandwidth", "Bandwidth", "Change the shared bandwidth cap now"),
    Command("back", "escape", "back", "Back", "Back to the browser (when nothing runs)"),
    Command("retry-failed", "r", "retry_failed", "Retry", "Retry the failed files (shown when some failed)"),
    Command("run-over-pause", "p", "run_over('pause')", "Pause", "Says the run is over", footer=False),
    Command("run-over-cancel", "c", "run_over('cancel')", "Cancel", "Says the run is over", footer=False),
    # the licence
    Command("accept-licence", "a,y", "accept", "Accept", "Accept the CC0 licence"),
    Command("decline-licence", "n", "decline", "Decline", "Decline and quit"),
    # the data directory (first run): the path field answers enter itself, and types ? and q
    Command("data-dir-submit", "enter", "submit", "Continue", "Go on with this directory"),
    Command("data-dir-continue", "enter", "continue", "Continue", "Go on with this directory"),
    Command("data-dir-quit", "escape", "leave", "Quit", "Quit from the path field (nothing is saved)"),
    # the data-use form
    Command("dua-submit", "ctrl+s", "submit", "Submit", "Send the form to the access service"),
    Command("dua-cancel", "escape", "cancel", "Cancel", "Close the form (asks if anything is typed)"),
    # the batch command
    Command("close-dialog", "escape", "close", "Close", "Close"),
    Command("switch-tab", "ctrl+t", "switch_tab", "Command/Script", "Command/Script"),
    Command("write-file", "ctrl+s", "write", "Write file", "Write file"),
    Command("plain-view", "ctrl+o", "plain", "Plain text",
            "Show the text plainly in the terminal, to copy it (enter comes back)"),
    # questions (quit, cancel, discard)
    Command("confirm-yes", "y", "yes", "Yes", "Yes", priority=True),
    Command("confirm-yes-enter", "enter", "yes", "Yes", "Yes", footer=False, priority=True),
    Command("confirm-no", "n", "no", "No", "No", priority=True),
    Command("confirm-no-escape", "escape", "no", "No", "No", footer=False, priority=True),
    # the bandwidth dialog
    Command("set-bandwidth", "enter", "submit", "Set cap", "Set the cap typed (empty: no cap)"),
    Command("close-bandwidth", "escape", "close", "Close", "Close, the cap unchanged"),
    # a tree row's details
    Command("close-details", "escape,enter", "close", "Close", "Close"),
    # a tick box
    Command("toggle-button", "space", "toggle_button", "Toggle", "Tick or untick", footer=False),
)
"""Keys that belong to one screen, dialog or widget."""

DIALOGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("bucket browser", "BrowserScreen",
     ("cursor-down", "cursor-up", "expand", "collapse", "open-row", "toggle-select", "filter", "leave-filter",
      "download", "retry", "batch-command", "preview")),
    ("download review", "ReviewScreen", ("review-start", "review-back")),
    ("transfer dashboard", "TransfersScreen",
     ("pause", "resume", "retry-failed", "cancel", "bandwidth", "back", "help", "quit")),
    ("licence screen", "LicenceScreen", ("accept-licence", "decline-licence")),
    ("data directory screen", "DataDirScreen", ("data-dir-submit", "data-dir-continue", "data-dir-quit")),
    ("data-use form", "DuaFormScreen", ("dua-submit", "dua-cancel")),
    ("batch command", "BatchCommandScreen", ("close-dialog", "switch-tab", "write-file", "plain-view")),
    ("HDF5 preview", "H5PreviewScreen", ("close-dialog",)),
    ("bandwidth", "BandwidthScreen", ("set-bandwidth", "close-bandwidth")),
    ("row details", "RowInfoScreen", ("close-details",)),
    ("question", "ConfirmScreen", ("confirm-yes", "confirm-yes-enter", "confirm-no", "confirm-no-escape")),
)
"""The help's sections: each screen's or dialog's title, its class's name (help opened
from that screen lists that section only; named, not imported, so help imports no
dialog) and its keys, by id, in their order."""

FULL_SCREENS = frozenset({"BrowserScreen", "TransfersScreen", "LicenceScreen", "DataDirScreen"})
"""Of the classes named in :data:`DIALOGS`, those that fill the window: help heads their
section "On the ..." (the bucket browser, the licence screen); the others are dialogs
("In the ... dialog")."""


def section_title(title: str, screen: str) -> str:
    """The help's heading of one screen's or dialog's keys."""
    return f"On the {title}" if screen in FULL_SCREENS else f"In the {title} dialog"


def dialog_keys(screen: str) -> tuple[str, ...]:
    """The key ids of the dialog whose screen class is named ``screen``."""
    return next(ids for _, name, ids in DIALOGS if name == screen)


NAVIGATION: dict[str, tuple[tuple[str, str], ...]] = {
    "LicenceScreen": (("arrows, pgup/pgdn", "Scroll the licence text"),),
}
"""Keys a screen's widgets answer by themselves (no binding of ours), for its help section."""
EVERYWHERE = (("ctrl+p", "Command palette: every action by name"),)
"""Keys every screen answers, listed by help under "Everywhere" with ``?`` and ``q``."""


def bindings(*ids: str) -> list[Binding]:
    """Bindings for the commands with these ids, in this order (every app-wide
    command when none given)."""
    chosen = [by_id(i) for i in ids] if ids else list(COMMANDS)
    return [Binding(c.key, c.action, c.label, show=c.footer, id=c.id, tooltip=c.help, priority=c.priority)
            for c in chosen]


def by_id(command_id: str) -> Command:
    return next(c for c in (*COMMANDS, *SCREEN_KEYS) if c.id == command_id)
