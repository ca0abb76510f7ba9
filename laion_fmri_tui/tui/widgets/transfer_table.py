"""The files being fetched right now, one line per file.

Rows follow the ``active`` tuple of the engine's coalesced progress snapshot
rather than per-file events: a file that starts and ends between two
snapshots never flickers in, and the table is rewritten a few times a second
at most, whatever the number of chunks. Only the files that fit are shown,
largest first, and a shown file keeps its line until it ends; the border
says how many more are in flight. BIDS names are long, so the name column
is sized to the table and shortened in the middle, where the distinguishing
entities (subject, session, task) and the suffix both survive.

This is a plain line widget, not a ``DataTable``: the rows need no cursor or
scrolling, and a DataTable's row removal lays out the whole screen. With
small files coming and going that layout, and the table's full re-render,
were most of the app's CPU while it downloaded (``bench/app_bench.py``); here
a snapshot repaints only the lines whose text changed.
"""

from __future__ import annotations

import posixpath

from rich.segment import Segment
from textual.geometry import Region
from textual.reactive import var
from textual.strip import Strip
from textual.widget import Widget

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.units import size

BAR_CELLS = 10
BAR_WIDTH = BAR_CELLS + 5
"""The bar and its percentage: ``█████░░░░░  50%``."""
SIZE_WIDTH = 9
GAPS = 2 * 2
"""Two cells between the columns."""
MIN_NAME = 16
MAX_ROWS = 24
"""Rows shown at most (a 120x40 terminal shows about 20)."""


def short_name(key: str, width: int) -> str:
    """The key's file name, cut in the middle with ``…`` to fit ``width`` cells."""
    name = posixpath.basename(key) or key
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return f"{name[:head]}…{name[len(name) - (width - 1 - head):]}"


def bar(done: int, total: int) -> str:
    """A text progress bar with its percentage (``█████░░░░░  50%``)."""
    fraction = done / total if total else 1.0
    filled = min(BAR_CELLS, int(fraction * BAR_CELLS))
    return f"{'█' * filled}{'░' * (BAR_CELLS - filled)} {fraction:4.0%}"


def row_text(name: str, progress: str, amount: str, name_width: int) -> str:
    return f"{name:<{name_width}}  {progress:<{BAR_WIDTH}}  {amount:>{SIZE_WIDTH}}"


class TransferTable(Widget):
    """Active files with their own progress, under a header line."""

    COMPONENT_CLASSES = {"transfer-table--header", "transfer-table--stripe"}

    progress: var[ev.Progress | None] = var(None)
    """The latest snapshot; only its ``active`` files are shown."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Active files"
        self._files: list[ev.ActiveFile] = []
        """The files shown, in the order of their lines."""
        self._lines: list[str] = []
        """Each file's line as last painted."""

    def _name_width(self) -> int:
        return max(MIN_NAME, self.size.width - BAR_WIDTH - SIZE_WIDTH - GAPS)

    def _room(self) -> int:
        """Lines that fit under the header: on 80x24 a handful, so files
        nobody would see cost nothing."""
        height = self.size.height - 1
        return MAX_ROWS if height <= 0 else min(MAX_ROWS, height)

    def watch_progress(self) -> None:
        active = self.progress.active if self.progress is not None else ()
        shown = {a.key: a for a in shown_files(active, {a.key for a in self._files}, self._room())}
        staying = [shown.pop(a.key) for a in self._files if a.key in shown]
        self._files = staying + list(shown.values())
        self._paint_changed()
        more = len(active) - len(self._files)
        subtitle = f"{more} more in flight" if more > 0 else ""
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle

    def on_resize(self) -> None:
        self.watch_progress()  # names are cut to the new width, and as many files as fit
        self.refresh()

    def _paint_changed(self) -> None:
        width = self._name_width()
        lines = [row_text(short_name(a.key, width), bar(a.done, a.size), size(a.size), width) for a in self._files]
        for y in range(max(len(lines), len(self._lines))):
            if y >= len(lines) or y >= len(self._lines) or lines[y] != self._lines[y]:
                self.refresh(Region(0, y + 1, self.size.width, 1))
        self._lines = lines

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            text, style = row_text("File", "Progress", "Size", self._name_width()), self.get_component_rich_style("transfer-table--header")
        else:
            text = self._lines[y - 1] if y - 1 < len(self._lines) else ""
            striped = text and y % 2 == 0
            style = self.get_component_rich_style("transfer-table--stripe") if striped else self.rich_style
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)


def shown_files(active: tuple[ev.ActiveFile, ...], shown: set[str], limit: int = MAX_ROWS) -> list[ev.ActiveFile]:
    """The active files that get a row (at most ``limit``): those already shown,
    then the largest others."""
    kept = [a for a in active if a.key in shown][:limit]
    others = sorted((a for a in active if a.key not in shown), key=lambda a: -a.size)
    return kept + others[:limit - len(kept)]
