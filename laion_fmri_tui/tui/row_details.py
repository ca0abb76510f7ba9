"""What the browser says about one tree row beyond what fits on it.

A row is cut to the tree's width (at 80 columns a session's files keep only
their last 20 cells), so the line under the tree shows the highlighted row's
whole name, and enter on a row that does not expand shows all of this: full
name, S3 key, where it goes on disk, size, state, why it cannot be ticked, a
failed listing's reason. Plain data from the tree's own state; no network.
"""

from __future__ import annotations

from pathlib import Path

from laion_fmri_tui.core.models import LocalState
from laion_fmri_tui.core.plan import bids
from laion_fmri_tui.core.plan.browse import BrowseNode, file_note
from laion_fmri_tui.core.units import size

ROOT_NAME = "the bucket's top level"


def listed_name(data: BrowseNode) -> str:
    """How a listing is named in a line: its label, or the top level's words."""
    return ROOT_NAME if data.id == "root" else data.label


def full_name(data: BrowseNode | None, failed_parent: BrowseNode | None = None) -> str:
    """The row's whole name: a file's real name (with the ``sub-XX_ses-YY_`` its
    row leaves out), a group's label; a failed listing's line names the listing."""
    if data is None:
        return f"listing {listed_name(failed_parent)} failed" if failed_parent is not None else ""
    if data.key is not None:
        return data.key.rsplit("/", 1)[1]
    return data.label


def failure_line(data: BrowseNode, reason: str) -> str:
    """A failed listing, whole, with what to do next."""
    return f"Listing {listed_name(data)} failed: {reason.rstrip('.')}. Press r to retry."


def file_state_line(state: LocalState, present: int, total: int) -> str:
    """A single file's state in words: complete, partial with the bytes kept, or not on disk."""
    if state is LocalState.COMPLETE:
        return "complete"
    if state is LocalState.PARTIAL:
        return f"partial: {size(present)} of {size(total)} kept"
    return "not on disk"


def details(data: BrowseNode | None, *, failed_parent: BrowseNode | None, error: str | None,
            stats_size: int | None, state: str | None, data_dir: Path | None,
            file: tuple[LocalState, int] | None = None, session_ticked: bool = False) -> list[tuple[str, str]]:
    """(label, value) lines of one row's details, in reading order.

    ``file`` is a single file's state and bytes kept (a session's file: the
    planner gives groups their ``state``, not files); ``session_ticked`` says
    whether its session is ticked, so its note never contradicts the ticks."""
    lines: list[tuple[str, str]] = []
    if data is None:  # a failed listing's line
        if failed_parent is not None and error is not None:
            lines.append(("failed", failure_line(failed_parent, error)))
        return lines
    if data.key is not None:
        lines.append(("S3 key", data.key))
        if data_dir is not None:
            lines.append(("on disk", str(bids.local_path(Path(data_dir), data.key))))
    if data.held_out:
        lines.append(("size", "held out"))
    elif data.size is not None:
        lines.append(("size", size(data.size)))
    elif stats_size is not None:
        lines.append(("size", size(stats_size)))
    if file is not None and data.key is not None:
        lines.append(("state", file_state_line(file[0], file[1], data.size or 0)))
    elif state:
        lines.append(("on disk" if data.key is None else "state", state))
    if error is not None:
        lines.append(("failed", failure_line(data, error)))
    if data.key is not None and not data.fragments:
        if session_ticked or file is None or file[0] is not LocalState.COMPLETE:
            lines.append(("note", file_note(session_ticked)))
    elif data.note:
        lines.append(("note", data.note))
    elif data.fragments:
        lines.append(("select", "space ticks it, with everything under it"))
    return lines
