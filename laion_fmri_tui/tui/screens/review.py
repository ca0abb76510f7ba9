"""``d``: the plan to review before anything is fetched; starts only on confirm.

The dialog keeps the app's confirm contract: ``y`` or ``enter`` confirms,
``n`` or ``escape`` declines, and the dialog says so. It shows what the
selection costs: files and bytes, what is already on disk (those are not
fetched again), and the free space, and refuses to start a plan that does
not fit (as ``--batch`` does).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from laion_fmri_tui.core.models import LocalState, Plan
from laion_fmri_tui.core.units import count, size
from laion_fmri_tui.tui.widgets.footer import Footer
from laion_fmri_tui.tui.commands import bindings

KEY_HINT = "y / enter  start the download      n / escape  back"


def review_lines(plan: Plan, free: int) -> list[str]:
    """The plan in a few lines (kept out of the widget so its wording has one home)."""
    complete = [i for i in plan.items if i.state is LocalState.COMPLETE]
    partial = [i for i in plan.items if i.state is LocalState.PARTIAL]
    lines = [f"{count(plan.files, 'file')}, {size(plan.bytes_total)} in all",
             f"to fetch:         {count(len(plan.pending), 'file')}, {size(plan.bytes_to_fetch)}",
             f"already present:  {count(len(complete), 'file')} complete"
             + (f", {count(len(partial), 'file')} partly ({size(sum(i.present for i in partial))} kept)"
                if partial else ""),
             f"free space:       {size(free)} in {plan.data_dir}"]
    if plan.held_out:
        lines.append(f"held out (never requested): {count(len(plan.held_out), 'file')}")
    return lines


class ReviewScreen(ModalScreen[bool]):
    """Dismisses True to start the download, False to go back."""

    BINDINGS = bindings("review-start", "review-back")

    def __init__(self, plan: Plan, free: int) -> None:
        super().__init__()
        self.plan, self.free = plan, free

    @property
    def fits(self) -> bool:
        return self.plan.bytes_to_fetch <= self.free

    def compose(self) -> ComposeResult:
        with Vertical(id="review", classes="dialog"):
            yield Static("Download this selection?", classes="question")
            yield Static("\n".join(review_lines(self.plan, self.free)), id="review-plan", markup=False)
            if not self.fits:
                yield Static("Will not fit: free space or narrow the selection.", id="review-warning",
                             classes="-warning")
            yield Static(KEY_HINT if self.fits else "n / escape  back", id="review-keys")
        yield Footer()

    def action_start(self) -> None:
        if not self.fits:
            self.notify("the selection does not fit in the free space", severity="warning")
            return
        self.dismiss(True)

    def action_back(self) -> None:
        self.dismiss(False)
