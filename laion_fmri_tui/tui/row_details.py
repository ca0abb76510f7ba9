"""What the browser says about one tree row beyond what fits on it.

A row is cut to the tree's width (at 80 columns a session's files keep only
their last 20 cells), so the line under the tree shows the highlighted row's
whole name (and, for a partial row, how much of it is on disk), and enter on
a row that does not expand shows all of this: full name, S3 key, where it
goes on disk, size, state (for a partial group, which of its files are on
disk and how much of each), why it cannot be ticked, a failed listing's
reason. Plain data from the tree's own state; no network.
"""

from __future__ import annotations

from pathlib import Path

from laion_fmri_tui.core.models import LocalState
from laion_fmri_tui.core.plan import bids
from laion_fmri_tui.core.plan.browse import BrowseNode, file_note
from laion_fmri_tui.core.units import count, size
from laion_fmri_tui.tui.widgets.bucket_tree import NO_MATCH, NodeStats

ROOT_NAME = "the bucket's top level"
MAX_KEPT_LISTED = 6
"""Files of a partial group its details name one by one (more would scroll out of an 80x23 dialog)."""


def listed_name(data: BrowseNode) -> str:
    """How a listing is named in a line: its label, or the top level's words."""
    return ROOT_NAME if data.id == "root" else data.label


def full_name(data: BrowseNode | None, failed_parent: BrowseNode | None = None) -> str:
    """The row's whole name: a file's real name (with the ``sub-XX_ses-YY_`` its
    row leaves out), a group's label; a failed listing's line names the listing."""
    if data is None:
        return f"listing {listed_name(failed_parent)} failed" if failed_parent is not None else ""
    if data.key is not None:
        return data.key.rsplit("/", 1)[-1]
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


def group_state_line(stats: NodeStats) -> str:
    """A group's state in words, with how much of it is on disk: ``partial`` alone
    told nothing (which files? how much?)."""
    if stats.state != "partial" or not stats.own:
        return stats.state
    done = sum(1 for item in stats.own if item.state is LocalState.COMPLETE)
    total = sum(item.size for item in stats.own)
    return (f"partial: {done} of {count(len(stats.own), 'file')} complete, "
            f"{size(stats.kept)} of {size(total)} on disk")


def state_line(data: BrowseNode | None, stats: NodeStats | None) -> str:
    """The highlighted row's state as the line under the tree says it, for a
    partial row only (its row says ``partial`` or ``40% kept`` and no more);
    empty for the others, whose row says all."""
    if data is None or stats is None or stats.state != "partial":
        return ""
    if data.key is not None:
        return file_state_line(LocalState.PARTIAL, stats.kept, data.size or 0)
    return group_state_line(stats)


def kept_lines(data: BrowseNode, stats: NodeStats) -> list[tuple[str, str]]:
    """Which files of a partial group are on disk, and how much of each; a file
    every session brings along (the R2mean map, in "averages") says so."""
    if stats.state != "partial":
        return []
    companions = {bids.r2mean_key(f.subject) for f in data.fragments if f.subject is not None}
    on_disk = [item for item in stats.own if item.state is not LocalState.ABSENT]
    lines = []
    for item in on_disk[:MAX_KEPT_LISTED]:
        state = ("complete" if item.state is LocalState.COMPLETE
                 else f"{size(item.present)} of {size(item.size)} kept")
        came = " (it comes with every session fetched)" if item.key in companions else ""
        lines.append(("kept", f"{item.key.rsplit('/', 1)[-1]}: {state}{came}"))
    if len(on_disk) > MAX_KEPT_LISTED:
        lines.append(("kept", f"and {count(len(on_disk) - MAX_KEPT_LISTED, 'more file')}"))
    return lines


def details(data: BrowseNode | None, *, failed_parent: BrowseNode | None, error: str | None,
            stats: NodeStats | None, data_dir: Path | None,
            file: tuple[LocalState, int] | None = None, session_ticked: bool = False) -> list[tuple[str, str]]:
    """(label, value) lines of one row's details, in reading order.

    ``stats`` is what the tree knows of the row (a group's plan, a file's
    state); ``file`` is a single file's state and bytes kept, read now;
    ``session_ticked`` says whether a session's file's session is ticked, so
    its note never contradicts the ticks."""
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
    elif stats is not None and stats.state != NO_MATCH:
        lines.append(("size", size(stats.size)))
    if file is not None and data.key is not None:
        lines.append(("state", file_state_line(file[0], file[1], data.size or 0)))
    elif stats is not None and stats.state != "absent":
        lines.append(("on disk" if data.key is None else "state", group_state_line(stats)))
        lines += kept_lines(data, stats)
    if error is not None:
        lines.append(("failed", failure_line(data, error)))
    if data.note:
        lines.append(("note", data.note))
    elif data.key is not None and not data.fragments:
        if session_ticked or file is None or file[0] is not LocalState.COMPLETE:
            lines.append(("note", file_note(session_ticked)))
    elif data.fragments:
        lines.append(("select", "space ticks it, with everything under it"))
    return lines
