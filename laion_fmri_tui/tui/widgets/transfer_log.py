"""The dashboard's log: what a user must know about besides progress.

Held-out files left out of the plan, files the bucket refused (access
denied), retries, re-minted links, resumed files, failures and the run's
summary. Finished files are not logged one by one: thousands of lines would
bury the few that matter. Retries are summed up as ``--batch`` sums them
(:class:`~laion_fmri_tui.core.retry_lines.RetryLines`: a line at most every
few seconds, and one for a file stuck for long): under S3 throttling they
came one line per request, hundreds a second, and pushed the rest out. Colours are the theme's ``$warning`` / ``$error``,
read when a line is written.
"""

from __future__ import annotations

import time

from rich.errors import StyleSyntaxError
from rich.style import Style
from rich.text import Text
from textual.widgets import RichLog

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.models import Plan
from laion_fmri_tui.core.retry_lines import RetryLines
from laion_fmri_tui.core.units import count, duration, rate, size
from laion_fmri_tui.tui.widgets.transfer_totals import RunCounts

RESUME_HINT = "cancelled — partial files kept, start the download again to resume"


class TransferLog(RichLog):
    """Warnings and errors of the runs on this screen, oldest first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, highlight=False, max_lines=2000, min_width=20)
        self.border_title = "Log"
        self.history: list[tuple[str, str]] = []
        """Every line as (level, plain text): wrapped strips are no place to search."""
        self._retries = RetryLines()

    def note(self, text: str, level: str = "info") -> None:
        """One line; ``level`` is ``info``, ``warning`` or ``error``."""
        self.history.append((level, text))
        self.write(Text(text, style=self._style(level)))

    def plan(self, plan: Plan) -> None:
        """What the plan left out before any transfer."""
        if plan.held_out:
            self.note(f"{count(len(plan.held_out), 'held-out file')} left out (their sessions are not yet released)",
                      "warning")
        if plan.skipped_subjects:
            self.note(f"nothing matched for {', '.join(plan.skipped_subjects)}", "warning")

    def event(self, event: ev.Event) -> None:
        """Log the engine events worth a line."""
        if isinstance(event, ev.FileSkipped) and event.kind is not ev.SkipKind.COMPLETE:
            self.note(f"skipped {event.key}: {event.reason}", "warning")
        elif isinstance(event, ev.FileFailed):
            self.note(f"failed {event.key}: {event.error}", "error")
        elif isinstance(event, ev.Retrying):
            for line in self._retries.add(event, time.monotonic()):
                self.note(line, "warning")
        elif isinstance(event, ev.Notice):
            self.note(event.message, event.level)
        elif isinstance(event, ev.FileStarted) and event.resume_from:
            self.note(f"resuming {event.key} from {size(event.resume_from)}")

    def retries_due(self, *, end: bool = False) -> None:
        """Write the sum of the retries not yet said, when its time has come (``end``: now,
        before the run's summary)."""
        for line in self._retries.due(time.monotonic(), force=end):
            self.note(line, "warning")

    def _style(self, level: str) -> Style | str:
        if level not in ("warning", "error"):
            return "dim"
        try:
            return Style.parse(self.app.theme_variables.get(level, ""))
        except StyleSyntaxError:  # a theme whose colour Rich cannot parse (ANSI names)
            return "bold"


def summary(result: ev.RunFinished, counts: RunCounts, elapsed: float) -> str:
    """The one-line end of a run, as the status line and the log show it."""
    already = f"{counts.already} already present, " if counts.already else ""
    tally = f"{already}{counts.done} done, {counts.skipped} skipped, {counts.failed} failed"
    moved = f"{size(result.bytes_fetched)} fetched in {duration(elapsed)}"
    if elapsed > 0 and result.bytes_fetched:
        moved += f" ({rate(result.bytes_fetched / elapsed)})"
    if result.cancelled:
        return f"{RESUME_HINT}; {tally}; {moved}"
    if result.failed:
        return f"finished with failures: {tally}; {moved}; press r to retry the failed files"
    return f"finished: {tally}; {moved}"
