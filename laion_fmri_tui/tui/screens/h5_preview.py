"""A look inside a downloaded HDF5 file: its datasets and, for embeddings, the first rows.

Reading is :mod:`core.h5info`'s job; this screen only runs it in a thread
worker (a file on a network share can take a while to open) and fills two
tables. A file that cannot be read gives one line in place of the tables.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.core import units
from laion_fmri_tui.core.h5info import DatasetInfo, EmbeddingRow, H5InfoError, describe, is_embeddings, preview_rows
from laion_fmri_tui.tui.widgets.footer import Footer

PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 6
"""Values read per row; as many as fit are shown."""
CELL_PADDING = 1
"""DataTable's default cell padding, on each side of a column."""
IMAGE_ID_WIDTH = 20
"""Cells of an image id in the rows table, its end kept (``…cluster_1000_i0.png``):
whole ids (38 cells) left room for one value at 80 columns."""


def short_id(image_id: str) -> str:
    return image_id if len(image_id) <= IMAGE_ID_WIDTH else "…" + image_id[-(IMAGE_ID_WIDTH - 1):]


def first_values(info: DatasetInfo) -> str:
    """The dataset's first values in the room an 80-column dialog leaves (about 30
    cells): numbers side by side, a text only its first one (its end kept); ``…``
    when the row has more."""
    values = list(info.first)
    if values and info.dtype.startswith("string"):
        values = [short_id(values[0])]
    more = bool(values) and len(values) < (info.shape[-1] if info.shape else 1)
    return " ".join(values) + (" …" if more else "")


class H5PreviewScreen(ModalScreen[None]):
    """Datasets (name, shape, type, size) of one file; escape closes."""

    BINDINGS = bindings("close-dialog")

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.datasets: list[DatasetInfo] | None = None
        """What the worker found; None while reading or after an error."""
        self.rows: list[EmbeddingRow] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="h5-dialog", classes="tool-dialog"):
            yield Static(self.path.name, id="h5-name", classes="tool-title", markup=False)
            yield Static(f"in {self.path.parent}", id="h5-folder", classes="-muted", markup=False)
            yield Static("Reading…", id="h5-status")
            yield DataTable(id="h5-datasets", cursor_type="row", zebra_stripes=True)
            yield Static(f"First {PREVIEW_ROWS} rows", id="h5-rows-title")
            yield DataTable(id="h5-rows", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#h5-datasets", DataTable).add_columns("Dataset", "Shape", "Type", "Size", "First values")
        self.query_one("#h5-rows-title").display = False
        self.query_one("#h5-rows").display = False
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="h5-preview",
          description="reading an HDF5 file")
    def _read(self) -> None:
        worker = get_current_worker()
        try:
            datasets = describe(self.path)
            rows = (preview_rows(self.path, PREVIEW_ROWS, columns=PREVIEW_COLUMNS)
                    if is_embeddings(datasets) else [])
            on_disk = self.path.stat().st_size
        except (H5InfoError, OSError) as error:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._show_error, str(error))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, datasets, rows, on_disk)

    def _show(self, datasets: list[DatasetInfo], rows: list[EmbeddingRow], on_disk: int) -> None:
        if not self.is_attached:  # closed while the worker was reading
            return
        self.datasets, self.rows = datasets, rows
        noun = "dataset" if len(datasets) == 1 else "datasets"
        self.query_one("#h5-status", Static).update(f"{len(datasets)} {noun}, {units.size(on_disk)} on disk")
        table = self.query_one("#h5-datasets", DataTable)
        for info in datasets:
            shape = " × ".join(str(n) for n in info.shape) or "scalar"
            size = units.size(info.size_bytes) if info.size_bytes is not None else "variable"
            table.add_row(info.name, shape, info.dtype, size, first_values(info), key=info.name)
        if rows:
            self._show_rows(rows)
        table.focus()

    def _show_rows(self, rows: list[EmbeddingRow]) -> None:
        table = self.query_one("#h5-rows", DataTable)
        width = self._values_that_fit(rows)
        table.add_columns("#", "image_ids", "valid", "‖v‖", *(f"[{i}]" for i in range(width)))
        for row in rows:
            valid = "-" if row.valid is None else ("yes" if row.valid else "no")
            table.add_row(str(row.index), short_id(row.image_id), valid, f"{row.norm:.3f}",
                          *(f"{v:+.3f}" for v in row.values[:width]))
        title = self.query_one("#h5-rows-title", Static)
        dims = next((d.shape[1] for d in self.datasets or [] if d.name == "embedding"), width)
        shown = "value 0" if width == 1 else f"values 0-{width - 1}"
        title.update(f"First {len(rows)} rows ({shown} of {dims}; ‖v‖ is the L2 norm)")
        title.display = True
        table.display = True

    def _values_that_fit(self, rows: list[EmbeddingRow]) -> int:
        """How many value columns fit beside the fixed ones without a cut: at 80
        columns the sixth value ran past the dialog's edge, and the title said
        "values 0-5" over two and a half of them. Each column is its widest cell
        plus DataTable's padding of one on each side."""
        room = self.query_one("#h5-dialog").content_size.width  # five rows: no vertical scrollbar
        index = max(len(str(r.index)) for r in rows)
        image = max(len("image_ids"), *(len(short_id(r.image_id)) for r in rows))
        norm = max(len("‖v‖"), *(len(f"{r.norm:.3f}") for r in rows))
        fixed = sum(w + 2 * CELL_PADDING for w in (index, image, len("valid"), norm))
        value = max(len(f"{v:+.3f}") for r in rows for v in r.values) + 2 * CELL_PADDING
        return max(1, min(len(rows[0].values), (room - fixed) // value))

    def _show_error(self, message: str) -> None:
        if not self.is_attached:
            return
        status = self.query_one("#h5-status", Static)
        status.update(message)
        status.add_class("-error")
        self.query_one("#h5-datasets").display = False

    def action_close(self) -> None:
        self.dismiss(None)
