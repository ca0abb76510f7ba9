"""One registry of the app's keys: bindings, footer labels, help and palette.

Every action a user can take has one entry here; screens build their
``BINDINGS`` from it, the help screen lists it, and the command palette
offers it, so the three never disagree.
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


COMMANDS: tuple[Command, ...] = (
    Command("toggle-select", "space", "toggle_select", "Select", "Select or unselect the node and all under it"),
    Command("filter", "slash", "focus_filter", "Filter", "Focus the entity filter bar (task, space, desc, ...)"),
    Command("download", "d", "download", "Download", "Review the plan and start the download"),
    Command("pause", "p", "pause", "Pause", "Pause or resume the transfers"),
    Command("retry", "r", "retry", "Retry", "Retry failed files (or a failed listing)", footer=False),
    Command("batch-command", "b", "batch_command", "Batch cmd", "Show the selection as a --batch command and SLURM script"),
    Command("preview", "i", "preview", "Preview", "Preview a downloaded HDF5 file", footer=False),
    Command("help", "question_mark", "help", "Help", "The keys of this screen and the environment knobs"),
    Command("quit", "q", "quit_app", "Quit", "Quit (asks first while transfers run)"),
)

NAVIGATION = (
    ("up / down, k / j", "Move"),
    ("enter / right", "Expand"),
    ("left", "Collapse"),
    ("ctrl+p", "Command palette: every action by name"),
)


def bindings(*ids: str) -> list[Binding]:
    """Bindings for the commands with these ids (all when none given)."""
    chosen = [c for c in COMMANDS if not ids or c.id in ids]
    return [Binding(c.key, c.action, c.label, show=c.footer, id=c.id, tooltip=c.help) for c in chosen]


def by_id(command_id: str) -> Command:
    return next(c for c in COMMANDS if c.id == command_id)
