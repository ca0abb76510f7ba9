"""Printers of engine events: human lines or JSON lines.

Human output is made for job logs as much as for terminals: one line per
finished, skipped or failed file, a progress line at most every few seconds,
and a summary. On a terminal the progress line is redrawn in place; anywhere
else every line is plain and newline-terminated (no carriage returns, no
colour), so ``tail -f`` on a SLURM log reads cleanly. Lines of finished
files are written together (:class:`HeldLines`), JSON lines too. Retries are
summed up (:class:`RetryLines`): a throttling server makes hundreds a second.

The printers run on a thread of their own (:class:`PrinterThread`): the
engine's threads only queue events, so an output that blocks holds the
printer and never the transfer.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from laion_fmri_tui.batch.safe_output import printable
from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.plan import plan_file
from laion_fmri_tui.core.integrity.checkup import Checked, Status, Summary
from laion_fmri_tui.core.models import Plan
from laion_fmri_tui.core.redact import redact
from laion_fmri_tui.core.retry_lines import RetryLines
from laion_fmri_tui.core.units import count, eta, rate, size


def plan_table(plan: Plan, out: TextIO) -> None:
    """The ``--dry-run`` listing: one row per file, then totals."""
    width = min(100, max((len(i.key) for i in plan.items), default=10))
    out.write(f"{'state':<9} {'size':>10}  key\n")
    for item in plan.items:
        out.write(f"{item.state.value:<9} {size(item.size):>10}  {printable(item.key)}\n")
    for key in plan.held_out:
        out.write(f"{'held out':<9} {'-':>10}  {printable(key)}\n")
    for key, reason in plan.refused:
        out.write(f"{'refused':<9} {'-':>10}  {printable(key)}  ({printable(reason)})\n")
    for key, reason in plan.blocked:
        out.write(f"{'blocked':<9} {'-':>10}  {printable(key)}  ({printable(reason)})\n")
    out.write("-" * min(width + 22, 100) + "\n")
    out.write(totals_line(plan) + "\n")


def totals_line(plan: Plan) -> str:
    held = f"; {count(len(plan.held_out), 'held-out file')} excluded" if plan.held_out else ""
    if plan.refused:
        held += f"; {count(len(plan.refused), 'unsafe key')} refused"
    if plan.blocked:
        held += f"; {count(len(plan.blocked), 'file')} blocked (they fail the run)"
    if plan.skipped_subjects:
        held += f"; nothing matched for {', '.join(plan.skipped_subjects)}"
    return (f"{count(plan.files, 'file')}, {size(plan.bytes_total)} in all: {size(plan.bytes_to_fetch)} to fetch, "
            f"{size(plan.bytes_present)} already present{held}")


def verify_line(checked: Checked) -> str:
    """One ``--verify`` problem: ``MISSING key (why)``, ``REFUSED key (why)`` or ``BAD key: why``."""
    if checked.status is Status.MISSING:
        return printable(redact(f"MISSING  {checked.key}  ({checked.detail})"))
    if checked.status is Status.REFUSED:
        return printable(redact(f"REFUSED  {checked.key}  ({checked.detail})"))
    return printable(redact(f"BAD      {checked.key}: {checked.detail}"))


def verify_summary(s: Summary, repair: bool = False) -> str:
    """The last line of ``--verify``; it says what ``--repair`` will do (or that it could)."""
    if not s.complete:
        head = "verify: INCOMPLETE"
    elif s.refused:
        head = "verify: complete except refused keys"
    else:
        head = "verify: complete"
    refused = f", {s.refused} refused by the bucket" if s.refused else ""
    text = (f"{head}: {count(s.files, 'file')} checked, {s.ok} ok ({size(s.bytes_ok)}), "
            f"{s.missing} missing, {s.bad} bad{refused}")
    todo = s.missing + s.bad
    if todo and repair:
        text += f"; repairing: fetching {todo} file(s) again"
    elif todo:
        text += "; add --repair to fetch the missing and bad files again"
    return text


def verify_json(checked: Checked) -> dict:
    return {"event": "verify_file", "key": checked.key, "path": checked.path, "size": checked.size,
            "status": checked.status, "check": checked.check, "error": checked.detail}


def verify_summary_json(s: Summary) -> dict:
    return {"event": "verify_finished", "complete": s.complete, "files": s.files, "ok": s.ok,
            "missing": s.missing, "bad": s.bad, "refused": s.refused, "bytes_ok": s.bytes_ok}


class HeldLines:
    """Lines for one stream, written together. Urgent lines are written at once
    (after the held ones, in order); the rest when :meth:`flush` is called,
    which :class:`PrinterThread` does from its own thread a few times a second
    (:data:`WRITE_EVERY`), whatever the engine is doing. A write per line (a
    system call each, made on the transfer lane's thread) was a tenth of the
    client's time on 2,000 small files."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._held: list[str] = []

    def add(self, text: str, urgent: bool) -> None:
        self._held.append(text)
        if urgent:
            self.flush()

    def flush(self) -> None:
        if self._held:
            text = "\n".join(self._held) + "\n"
            self._held.clear()  # lines a broken log refused are not tried again, and again
            self._out.write(text)
        self._out.flush()


class HumanPrinter:
    """Readable lines; progress throttled to ``every`` seconds."""

    def __init__(self, out: TextIO, err: TextIO, *, tty: bool, every: float) -> None:
        self._out, self._err, self._tty, self._every = out, err, tty, every
        self._lock = threading.Lock()
        self._lines = HeldLines(out)
        self._last_progress = 0.0
        self._live = False
        self._complete = 0
        self._complete_bytes = 0
        self._retries = RetryLines()
        self.rerun_hint = True
        """Whether the summary of a run with failures says a rerun retries them.
        The runner turns it off when every failure is a file changed since a
        frozen plan: a rerun of that plan cannot mend those, and the closing
        note says what does."""

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            self._handle(event)

    def flush(self) -> None:
        """Write whatever is held, and the retries' line when one is due
        (called a few times a second, and at the end)."""
        with self._lock:
            for text in self._retries.due(time.monotonic()):
                self._line(f"warning: {text}", self._err)
            self._lines.flush()

    def _line(self, text: str, stream: TextIO | None = None, *, urgent: bool = True) -> None:
        text = printable(redact(text))
        if self._live:
            self._out.write("\r\x1b[K")
            self._live = False
        if stream is None:
            self._lines.add(text, urgent or self._tty)
            return
        self._lines.flush()  # what came before it on stdout, first
        stream.write(text + "\n")
        stream.flush()

    def _flush_complete(self) -> None:
        if self._complete:
            self._line(f"skipped {count(self._complete, 'file')} already complete ({size(self._complete_bytes)})")
            self._complete = 0

    def _handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.PlanReady):
            self._line(f"plan: {totals_line(event.plan)}")
            self._line(f"into {event.plan.data_dir}")
        elif isinstance(event, ev.FileSkipped) and event.kind is ev.SkipKind.COMPLETE:
            self._complete += 1
            self._complete_bytes += event.size
            return
        elif isinstance(event, ev.Progress):
            self._progress(event)
            return
        elif isinstance(event, ev.Retrying):
            for text in self._retries.add(event, time.monotonic()):
                self._line(f"warning: {text}", self._err)
            return
        self._flush_complete()
        if isinstance(event, ev.FileDone):
            resumed = f", resumed ({size(event.fetched)} fetched)" if event.fetched < event.size else ""
            self._line(f"done     {event.key}  {size(event.size)}  {event.verified} ok{resumed}", urgent=False)
        elif isinstance(event, ev.FileSkipped):
            self._line(f"skipped  {event.key}  ({event.reason})", urgent=False)
        elif isinstance(event, ev.FileFailed):
            self._line(f"FAILED   {event.key}: {event.error}")
        elif isinstance(event, ev.Notice):
            self._line(f"{event.level}: {event.message}", self._err)
        elif isinstance(event, ev.RunFinished):
            for text in self._retries.due(time.monotonic(), force=True):
                self._line(f"warning: {text}", self._err)
            self._summary(event)

    def _progress(self, p: ev.Progress) -> None:
        now = time.monotonic()
        if p.files_done == p.files_total or now - self._last_progress < self._every:
            return
        self._last_progress = now
        pct = 100 * p.bytes_done / p.bytes_total if p.bytes_total else 100.0
        text = (f"[{pct:5.1f}%] {size(p.bytes_done)} of {size(p.bytes_total)}, {rate(p.rate)}, "
                f"{eta(p.eta_seconds)}, {p.files_done}/{count(p.files_total, 'file')}"
                + (" (paused)" if p.paused else ""))
        if self._tty:
            self._lines.flush()
            self._out.write("\r\x1b[K" + text)
            self._out.flush()
            self._live = True
        else:
            self._line(text)

    def _summary(self, r: ev.RunFinished) -> None:
        speed = f" ({rate(r.bytes_fetched / r.elapsed)})" if r.elapsed > 0 and r.bytes_fetched else ""
        head = "interrupted" if r.cancelled else "finished"
        self._line(f"{head}: {r.done} done, {r.skipped} skipped, {r.failed} failed; "
                   f"{size(r.bytes_fetched)} fetched in {r.elapsed:.1f} s{speed}")
        for key, message in r.failures:
            self._line(f"  failed: {key}: {message}")
        if r.cancelled:
            self._line("partial files are kept: rerun the same command to resume")
        elif r.failed and self.rerun_hint:
            self._line("rerun the same command to retry the failed files")


class JsonPrinter:
    """One JSON object per event, one per line, on stdout."""

    def __init__(self, out: TextIO, *, with_items: bool = False) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._lines = HeldLines(out)
        self._with_items = with_items

    def __call__(self, event: ev.Event) -> None:
        data = to_json(event, self._with_items)
        with self._lock:
            self._lines.add(redact(json.dumps(data)), urgent=not isinstance(event, QUIET_EVENTS))

    def raw(self, data: dict) -> None:
        """Print one already-built JSON object (``--verify`` results)."""
        with self._lock:
            self._lines.add(redact(json.dumps(data)), urgent=True)

    def flush(self) -> None:
        """Write whatever is held (called a few times a second, and at the end)."""
        with self._lock:
            self._lines.flush()


QUIET_EVENTS = (ev.FileStarted, ev.FileDone, ev.FileSkipped, ev.Retrying)
"""Events whose lines wait for the next :meth:`HeldLines.flush`."""

WRITE_EVERY = 0.2
"""Seconds between writes of the printer's held lines (finished files): a job
log shows each within this, even while no transfer makes progress."""
OUTPUT_BOUND = 10_000
"""Events held at most for an output that does not take them (a few MB)."""
STOP_GRACE = 3.0
"""Seconds a run told to stop (SIGTERM, Ctrl-C) still waits for an output
that takes nothing, counted from the signal or from its last write."""


class PrinterThread:
    """The engine's events, handed to a printer on a thread of its own.

    The engine's threads (lanes, hash pool, the progress tick) only append to
    a queue here, under a lock never held while writing: an output that
    blocks (a pipe read slowly or not at all: ``| less``, a stalled ``ssh``
    session, tmux in copy mode, a log on a hung NFS mount) holds this thread
    alone, and the transfer goes on. (Writes made on the lanes' thread filled
    a pipe nobody read, stopped the transfer and, 476 s later, failed files.)

    While the output stays blocked, the queue keeps at most
    :data:`OUTPUT_BOUND` events; past that, lines of finished files, retries
    and progress are left out and counted (of progress, only the latest is
    kept), and once the output moves again one line says how many.
    Failures, notices and the end of the run are always kept, so the summary
    and the exit code are right whatever was left out. At the end
    (:meth:`close`) the run waits until its last line is written, like any
    program whose output is a pipe: every file is on disk by then. Unless it
    was told to stop (:meth:`stopping`): then an output that takes nothing
    for :data:`STOP_GRACE` seconds is given up (:attr:`abandoned`), so
    ``kill`` or a SLURM time limit ends the process, not SIGKILL.
    (It waited for the output to move, however often it was signalled.)"""

    def __init__(self, printer: Callable[[ev.Event], None], *, bound: int = OUTPUT_BOUND,
                 every: float = WRITE_EVERY) -> None:
        self._printer = printer
        self._bound, self._every = bound, every
        self._wake = threading.Condition()
        self._events: deque[ev.Event] = deque()
        self._progress: ev.Progress | None = None
        self._left_out = 0
        self._closed = False
        self._moved = time.monotonic()
        """When the printer last came back from a write (or a signal came)."""
        self._stopping = False
        self.abandoned = False
        """Whether :meth:`close` gave up on an output that took nothing: its
        thread is still in a write, so the process must not flush at exit."""
        self._thread = threading.Thread(target=self._write, name="output", daemon=True)
        self._thread.start()

    def __call__(self, event: ev.Event) -> None:
        """Queue ``event`` (any thread); never writes, never waits on the output."""
        with self._wake:
            if len(self._events) >= self._bound and not _always_kept(event):
                if isinstance(event, ev.Progress):
                    self._progress = event  # past the bound, only the latest is kept
                else:
                    self._left_out += 1
                return
            self._events.append(event)
            if not isinstance(event, QUIET_EVENTS):
                self._wake.notify()

    def stopping(self) -> None:
        """The run was told to stop: :meth:`close` waits for a stuck output only
        :data:`STOP_GRACE` more seconds (safe in a signal handler: two stores)."""
        self._moved = max(self._moved, time.monotonic())
        self._stopping = True

    def close(self) -> None:
        """Write everything queued, then stop the thread (waits for the output)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        while self._thread.is_alive():
            self._thread.join(self._every)  # in steps: the main thread stays open to signals
            if self._stopping and time.monotonic() - self._moved > STOP_GRACE:
                self.abandoned = True
                return

    def _write(self) -> None:
        while True:
            with self._wake:
                if not self._closed:
                    self._wake.wait(self._every)
                events, self._events = self._events, deque()
                progress, self._progress = self._progress, None
                left_out, self._left_out = self._left_out, 0
                closed = self._closed
            if left_out:
                self._printer(ev.Notice(f"the output was blocked: {count(left_out, 'line')} about finished "
                                        "files, retries and progress were left out; the summary counts "
                                        "every file"))
            for event in events:
                self._printer(event)
                self._moved = time.monotonic()
            if progress is not None and not closed:
                self._printer(progress)
            self._printer.flush()  # type: ignore[attr-defined]
            self._moved = time.monotonic()
            if closed:
                return


def _always_kept(event: ev.Event) -> bool:
    """Failures, notices and the end of the run: never left out (few, one per file at most)."""
    return isinstance(event, (ev.FileFailed, ev.RunFinished)) or (
        isinstance(event, ev.Notice) and not isinstance(event, ev.Retrying))


def plan_json(plan: Plan, with_items: bool) -> dict:
    """The ``plan`` event; with its items it is a plan file too (see core.plan_file)."""
    return plan_file.document(plan) if with_items else plan_file.summary(plan)


def to_json(event: ev.Event, with_items: bool = False) -> dict:
    if isinstance(event, ev.PlanReady):
        return plan_json(event.plan, with_items)
    if isinstance(event, ev.Progress):
        return {"event": "progress", "bytes_done": event.bytes_done, "bytes_total": event.bytes_total,
                "bytes_fetched": event.bytes_fetched, "rate": round(event.rate, 1),
                "eta_seconds": None if event.eta_seconds is None else round(event.eta_seconds, 1),
                "files_done": event.files_done, "files_total": event.files_total,
                "paused": event.paused,
                "active": [{"key": a.key, "done": a.done, "size": a.size} for a in event.active]}
    name = {ev.FileStarted: "file_started", ev.FileDone: "file_done", ev.FileSkipped: "file_skipped",
            ev.FileFailed: "file_failed", ev.Notice: "notice", ev.Retrying: "notice",
            ev.RunFinished: "run_finished"}[type(event)]
    data = {"event": name, **{k: v.value if isinstance(v, enum.Enum) else v for k, v in vars(event).items()}}
    if isinstance(event, ev.Retrying):
        data["delay"] = round(event.delay, 3)
        data["retried_for"] = round(event.retried_for, 3)
        data["gives_up_in"] = round(event.gives_up_in, 3)
    if isinstance(event, ev.RunFinished):
        data["elapsed"] = round(event.elapsed, 3)
        data["failures"] = [{"key": k, "error": m} for k, m in event.failures]
    return data
