"""The selection summary: files, bytes to fetch, bytes present, free space."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from laion_fmri_tui.core.models import LocalState, Plan
from laion_fmri_tui.core.units import count, size


class SelectionSummary(Static):
    """Always shows what ``d`` would do, and warns when it will not fit."""

    def on_mount(self) -> None:
        self.border_title = "Selection"
        self.show_plan(None, 0)

    def show_planning(self) -> None:
        self.set_class(False, "-warning", "-error")
        self.update("planning…")

    def show_error(self, message: str) -> None:
        self.set_class(True, "-error")
        self.update(message)

    def show_no_match(self, filter_text: str) -> None:
        """The selection holds no file: said with the keys that change that (the
        planner's own words name ``--batch`` flags and ``laion-fmri-tui info``)."""
        self.set_class(True, "-warning")
        self.set_class(False, "-error")
        if filter_text:
            self.update(Text(f"Nothing to fetch: no file of the ticked nodes passes the filter {filter_text}."
                             "\n\n/      change the filter\nspace  untick a node that shows \"no match\""))
        else:
            self.update("Nothing to fetch: the ticked nodes hold no file.\n\nspace  untick them")

    def show_plan(self, plan: Plan | None, free: int) -> None:
        self.set_class(False, "-warning", "-error")
        if plan is None:
            self.update("Nothing selected.\n\nspace  select a node\nd      download\nb      batch command")
            return
        on_disk = sum(1 for item in plan.items if item.state is LocalState.COMPLETE)
        lines = [
            # how many of the files that pass the filter are on disk already (the tree's
            # file rows say which)
            count(plan.files, "file") + (f" ({on_disk} on disk)" if on_disk else ""),
            f"{size(plan.bytes_to_fetch)} to fetch",
            f"{size(plan.bytes_present)} present",
            f"{size(free)} free",
        ]
        if plan.held_out:
            lines.append(f"{len(plan.held_out)} held out")
        if plan.bytes_to_fetch > free:
            lines.append("")
            lines.append("will not fit: free space or narrow the selection")
            self.set_class(True, "-warning")
        self.update("\n".join(lines))
