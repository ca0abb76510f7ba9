"""Run totals: bytes, a progress bar, rate and ETA, throughput history, counts.

The widget holds no engine state of its own: the transfers screen owns the
values and binds them here with ``data_bind``, so this only turns them into
text. Its labels have fixed widths (``transfers.tcss``) and are updated
without a layout pass: a new layout of the whole screen at every render
was most of the app's CPU while it downloaded. Rate and ETA are the engine's
(a sliding window), formatted as ``--batch`` prints them
(:mod:`laion_fmri_tui.core.units`), the ETA in its short form to fit its label.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.widgets import Label, ProgressBar, Sparkline

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.models import LocalState, Plan
from laion_fmri_tui.core.units import count, rate, short_eta, size
from laion_fmri_tui.tui.run_phase import RunPhase

PHASE_TEXT = {
    RunPhase.STARTING: "starting…",
    RunPhase.PAUSED: "paused: p resumes",
    RunPhase.CANCELLING: "cancelling…",
    RunPhase.FINISHED: "complete",
    RunPhase.FAILED: "finished with failures",
    RunPhase.CANCELLED: "cancelled",
    RunPhase.ERROR: "not started",
}
"""What the rate label says when nothing is streaming."""


@dataclass(frozen=True)
class RunCounts:
    """Files settled so far, across a run and its retries."""

    done: int = 0
    """Fetched and verified."""
    already: int = 0
    """Already complete on disk when the run started: shown apart, not as this run's work."""
    skipped: int = 0
    """Not fetched for another reason: refused by the bucket (held out, access denied),
    an unsafe key, or fetched meanwhile by another process."""
    failed: int = 0
    """Given up on in the latest run; ``r`` retries them."""
    total: int = field(default=0, compare=False)
    """Files of the plan the dashboard was opened with (a retry's smaller plan
    does not change it), so "N of total files" is made of the same counts as the words before it."""

    @property
    def present(self) -> int:
        """Files in place: fetched now or already complete (failed ones are not)."""
        return self.done + self.already + self.skipped

    def after(self, event: ev.Event) -> RunCounts:
        """These counts with one more file settled, if ``event`` settles one."""
        if isinstance(event, ev.FileDone):
            return dataclasses.replace(self, done=self.done + 1)
        if isinstance(event, ev.FileSkipped) and event.kind is ev.SkipKind.COMPLETE:
            return dataclasses.replace(self, already=self.already + 1)
        if isinstance(event, ev.FileSkipped):
            return dataclasses.replace(self, skipped=self.skipped + 1)
        if isinstance(event, ev.FileFailed):
            return dataclasses.replace(self, failed=self.failed + 1)
        return self


def plan_progress(plan: Plan) -> ev.Progress:
    """What the totals show before the engine's first snapshot of ``plan``."""
    complete = sum(1 for i in plan.items if i.state is LocalState.COMPLETE)
    return ev.Progress(bytes_done=plan.bytes_present, bytes_total=plan.bytes_total, bytes_fetched=0,
                       rate=0.0, eta_seconds=None, files_done=complete, files_total=plan.files)


def shown_progress(done: int, total: int) -> float:
    """``done`` rounded down to a whole percent of ``total``: Textual's bar label
    rounds to the nearest percent, which showed 100% at 99.6% (and so with a
    small file failed)."""
    if done >= total:
        return float(total)
    return math.floor(100 * done / total) * total / 100


class TransferTotals(Vertical):
    """Three lines of totals above the active-files table."""

    progress: var[ev.Progress | None] = var(None)
    """The latest coalesced snapshot of the run."""
    rates: var[tuple[float, ...]] = var(())
    """Recent throughput samples (bytes/s), oldest first, for the sparkline."""
    counts: var[RunCounts] = var(RunCounts())
    """Done / skipped / failed so far."""
    phase: var[RunPhase] = var(RunPhase.STARTING)
    """The screen's run phase."""
    before: var[int] = var(0)
    """Bytes of the run's plan already on disk when it started (complete files and
    resumed ``.part`` bytes): the bar and its figures show only this run's work,
    so a run of 3 new files beside 100 present ones starts at 0%, not at 97%."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="totals-bar"):
            yield ProgressBar(total=None, show_eta=False, id="total-progress")
            yield Label("", id="total-bytes")
        with Horizontal(id="totals-rate"):
            yield Label("", id="total-rate")
            yield Sparkline((), id="throughput").data_bind(data=TransferTotals.rates)
        yield Label("", id="total-counts")

    def watch_progress(self) -> None:
        p = self.progress
        if p is None:
            return
        before = min(self.before, p.bytes_total)
        done, todo = max(0, p.bytes_done - before), p.bytes_total - before
        self.query_one(ProgressBar).update(total=max(todo, 1), progress=shown_progress(done, max(todo, 1)))
        self.query_one("#total-bytes", Label).update(f"{size(done)} of {size(todo)}", layout=False)
        self._show_rate()
        self._show_counts()

    def watch_phase(self) -> None:
        self._show_rate()

    def watch_counts(self) -> None:
        self._show_counts()

    def _show_rate(self) -> None:
        p = self.progress
        if self.phase is RunPhase.RUNNING and p is not None:
            text = f"{rate(p.rate)} · {short_eta(p.eta_seconds)}"
        else:
            text = PHASE_TEXT.get(self.phase, str(self.phase))
        label = self.query_one("#total-rate", Label)
        label.update(text, layout=False)
        label.set_class(self.phase is RunPhase.PAUSED, "-warning")

    def _show_counts(self) -> None:
        c, p = self.counts, self.progress
        total = c.total or (p.files_total if p is not None else 0)
        files = f" · {c.present} of {count(total, 'file')}" if total else ""
        already = f"{c.already} already present · " if c.already else ""
        label = self.query_one("#total-counts", Label)
        label.update(f"{already}{c.done} done · {c.skipped} skipped · {c.failed} failed{files}", layout=False)
        label.set_class(c.failed > 0, "-error")
