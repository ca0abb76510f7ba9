"""The files being fetched right now, one row per file, keyed by S3 key.

Rows follow the ``active`` tuple of the engine's coalesced progress snapshot
rather than per-file events: a file that starts and ends between two
snapshots never flickers in, and the table is rewritten a few times a second
at most, whatever the number of chunks. At most :data:`MAX_ROWS` files are
shown, largest first, and a shown file keeps its row until it ends: with
hundreds of small files in flight, adding and removing a row for each cost
the app a fifth of a core, taken from the transfers it shows (measured in
``bench/app_bench.py``); the border says how many more are in flight. BIDS
names are long, so the name column is sized to the table and shortened in
the middle, where the distinguishing entities (subject, session, task) and
the suffix both survive.
"""

from __future__ import annotations

import posixpath

from textual.events import Resize
from textual.reactive import var
from textual.widgets import DataTable

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.units import size

BAR_CELLS = 10
OTHER_COLUMNS = 15 + 9 + 3 * 2 + 4
"""Progress and size columns, cell padding, border and scrollbar."""
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


class TransferTable(DataTable[str]):
    """Active files with their own progress."""

    progress: var[ev.Progress | None] = var(None)
    """The latest snapshot; only its ``active`` files are shown."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, show_cursor=False)
        self._name_width = 40
        self.border_title = "Active files"

    def on_mount(self) -> None:
        self._add_columns()

    def on_resize(self, event: Resize) -> None:
        width = max(MIN_NAME, event.size.width - OTHER_COLUMNS)
        if width != self._name_width:
            self._name_width = width
            self.clear(columns=True)
            self._add_columns()
            self.watch_progress()

    def _room(self) -> int:
        """Rows that fit under the header (the border says how many more are in
        flight): on 80x24 a handful, so updating rows nobody sees costs nothing."""
        height = self.scrollable_content_region.height - 1
        return MAX_ROWS if height <= 0 else min(MAX_ROWS, height)

    def _add_columns(self) -> None:
        self.add_column("File", width=self._name_width, key="file")
        self.add_column("Progress", width=15, key="bar")
        self.add_column("Size", width=9, key="size")

    def watch_progress(self) -> None:
        active = self.progress.active if self.progress is not None else ()
        shown = shown_files(active, {key.value for key in self.rows}, self._room())
        wanted = {a.key for a in shown}
        for row_key in list(self.rows):
            if row_key.value not in wanted:
                self.remove_row(row_key)
        for item in shown:
            cell = bar(item.done, item.size)
            if item.key not in self.rows:
                self.add_row(short_name(item.key, self._name_width), cell, size(item.size), key=item.key)
            elif self.get_cell(item.key, "bar") != cell:
                self.update_cell(item.key, "bar", cell)
        more = len(active) - len(shown)
        self.border_subtitle = f"{more} more in flight" if more > 0 else ""


def shown_files(active: tuple[ev.ActiveFile, ...], shown: set[str], limit: int = MAX_ROWS) -> list[ev.ActiveFile]:
    """The active files that get a row (at most ``limit``): those already shown,
    then the largest others."""
    kept = [a for a in active if a.key in shown][:limit]
    others = sorted((a for a in active if a.key not in shown), key=lambda a: -a.size)
    return kept + others[:limit - len(kept)]
