"""The transfer dashboard: one plan, run by the core engine in a thread worker.

The engine (not Textual) owns the download threads, because ``--batch`` runs
the same engine; the screen's worker only calls the blocking ``run(plan)``.
Progress is coalesced twice over: the engine emits at most one snapshot per
``progress_interval``, and the bridge keeps only the newest, which the screen
takes with the file events queued since on a timer, so the widgets re-render
a few times a second however fast chunks and small files arrive.

The engine runs in a child process (:mod:`laion_fmri_tui.core.run.engine_process`),
built there from the run's :class:`~laion_fmri_tui.core.run.spec.RunSpec`:
the browser makes the spec (checking access, once) before it opens this
screen. Given only a plan, the worker makes the spec first (network I/O the
UI thread must not wait on); its access errors (no request id, unknown id...)
end the worker and are shown on the screen. The worker runs on a daemon
thread that quitting does not wait for (:mod:`laion_fmri_tui.tui.executor`):
the app stops the child on its way out, killing it if it does not answer. The screen holds the run's
:class:`~laion_fmri_tui.core.run.control.EngineControl` from the start: a key
pressed before the child runs is kept by it and applied when it does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.errors import LaionFmriError
from laion_fmri_tui.core.models import Plan
from laion_fmri_tui.core.run.control import EngineControl
from laion_fmri_tui.core.run.engine_process import EngineProcess
from laion_fmri_tui.core.run.spec import RunSpec
from laion_fmri_tui.core.service import DownloadService
from laion_fmri_tui.core.units import cap, count, size
from laion_fmri_tui.tui.bridge import EngineBridge
from laion_fmri_tui.tui.commands import bindings, dialog_keys
from laion_fmri_tui.tui.heap import release_heap, settle_heap
from laion_fmri_tui.tui.messages import TransferFinished
from laion_fmri_tui.tui.run_phase import RunPhase
from laion_fmri_tui.tui.runs import retry_plan
from laion_fmri_tui.tui.screens.confirm import ConfirmScreen
from laion_fmri_tui.tui.widgets.footer import Footer
from laion_fmri_tui.tui.widgets.transfer_log import TransferLog, summary
from laion_fmri_tui.tui.widgets.transfer_table import TransferTable
from laion_fmri_tui.tui.widgets.transfer_totals import RunCounts, TransferTotals, plan_progress

RENDER_INTERVAL = 0.5
"""Seconds between re-renders of the totals and the table (as often as
``rclone -P`` redraws). At four a second, the renders of a subject's download
cost the app about 0.2 CPU s, taken from the transfers on a two-core node."""
RATE_SAMPLES = 60
"""Throughput samples kept for the sparkline (30 s at the render interval)."""
RUN_OVER = {RunPhase.FINISHED: "The run has finished", RunPhase.FAILED: "The run has finished",
            RunPhase.CANCELLED: "The run was cancelled", RunPhase.ERROR: "The download is not running"}
"""What p and c say once the run is over (the title of their notification), by phase."""
CANCEL_QUESTION = ("Cancel the download? Finished files stay, and partial files are kept: "
                   "start the download again to resume them.")


class TransfersScreen(Screen[None]):
    """Downloads one plan; ``escape`` goes back once nothing is running."""

    BINDINGS = bindings(*dialog_keys("TransfersScreen"), "retry", "run-over-pause", "run-over-cancel")
    """Once the run is over, pause and cancel leave the footer, and p or c says why they do nothing.
    ``r Retry`` shows in the footer only while there is something to retry; otherwise
    the hidden ``retry`` takes r and says why nothing happens."""

    phase: var[RunPhase] = var(RunPhase.STARTING, bindings=True)
    """Where the current run is (see :class:`~laion_fmri_tui.tui.run_phase.RunPhase`)."""
    progress: var[ev.Progress | None] = var(None)
    """The newest engine snapshot, taken every RENDER_INTERVAL."""
    rates: var[tuple[float, ...]] = var(())
    """Recent throughput samples for the sparkline."""
    counts: var[RunCounts] = var(RunCounts())
    """Done / skipped / failed, kept across retries (failed is reset by one)."""
    before: var[int] = var(0)
    """Bytes of the dashboard's plan on disk when it opened (see TransferTotals.before)."""

    def __init__(self, plan: Plan, *, spec: RunSpec | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``spec``: the run of ``plan``, access checked (None: the worker makes it);
        ``clock`` times the run for the summary (tests inject a fixed one)."""
        super().__init__()
        self.plan = plan
        """The plan of the current run (after ``r``, only the files that failed)."""
        self._spec = spec
        self._last_spec: RunSpec | None = None
        """The spec of the latest run that started (set by the worker)."""
        self._clock = clock
        self._run = 0
        self.engine: EngineControl = EngineProcess(lambda event: None)
        """The current run's controls (a new one for each run)."""
        self._bridge = EngineBridge(self, 0)
        self._counts = RunCounts(total=plan.files)
        self._whole = plan.bytes_total
        """Bytes of the plan the dashboard was opened with: the totals speak of it
        through every retry, as the file counts do (see :meth:`_of_whole`)."""
        self._carried = 0
        """Bytes of that plan on disk outside the current run (0 for the first run)."""
        self._started = 0.0
        self._failed: tuple[str, ...] = ()
        self.result: ev.RunFinished | None = None
        """The engine's account of the latest run that ended (counts, bytes, its elapsed time)."""

    @property
    def transfers_running(self) -> bool:
        """True from the start of a run until its end (the app asks before quitting)."""
        return self.phase.running

    def compose(self) -> ComposeResult:
        yield Static("", id="transfers-target")
        yield TransferTotals(id="transfers-totals").data_bind(
            TransfersScreen.progress, TransfersScreen.rates, TransfersScreen.counts, TransfersScreen.phase,
            TransfersScreen.before)
        yield TransferTable(id="transfers-active").data_bind(TransfersScreen.progress)
        yield TransferLog(id="transfers-log")
        yield Static("", id="transfers-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TransferLog).plan(self.plan)
        self.set_interval(RENDER_INTERVAL, self._publish)
        self._start(self.plan)
        self.call_after_refresh(settle_heap)  # the dashboard and its plan stay for the run

    def on_unmount(self) -> None:
        # Quitting mid-run: the engine was told to stop when the quit was confirmed
        # (stop_engine); whatever the way out (a signal too), tell it again here.
        self.stop_engine()
        release_heap()

    def stop_engine(self) -> None:
        """Tell the run's engine to stop, keeping every ``.part``, and return at once.

        Quitting mid-run calls this before the app ends, so the child's own
        cancel overlaps the app's shutdown; the bounded wait for its end (it is
        killed after STOP_GRACE) comes once the terminal is given back
        (:meth:`LaionFmriApp.wait_for_engines`)."""
        stops = self.app.engine_stops  # type: ignore[attr-defined]
        if self.transfers_running and self.engine.stop not in stops:
            stops.append(self.engine.stop)
        self.engine.cancel()

    # runs --------------------------------------------------------------------
    def _start(self, plan: Plan) -> None:
        self._run += 1
        self.plan, self._bridge = plan, EngineBridge(self, self._run)
        self.engine = EngineProcess(self._bridge, self.app.spare_engine)  # type: ignore[attr-defined]
        service = self.app.context.service()
        session_cap = self.app.context.engine.max_bandwidth
        if session_cap != service.settings.engine.max_bandwidth:
            self.engine.set_bandwidth(session_cap)  # the cap set with w in this session (a retry's too)
        spec, self._spec = self._spec, None
        self._failed = ()
        if self._run == 1:
            self.before = plan.bytes_present
        else:  # a retry: what the runs before put on disk stays counted, less what this one resumes
            self._carried = (self.progress.bytes_done if self.progress is not None else 0) - plan.bytes_present
        self.progress = self._of_whole(plan_progress(plan))
        self.rates = ()
        self.phase = RunPhase.STARTING
        self._downloading = (f"Downloading {count(plan.files, 'file')} ({size(plan.bytes_to_fetch)} to fetch) "
                             f"into {plan.data_dir}")
        self.query_one("#transfers-target", Static).update(self._downloading)
        self._show_status("")
        self._started = self._clock()
        self._transfer(service, spec or plan, self.engine)

    @work(thread=True, exclusive=True, exit_on_error=False, group="transfers", description="download")
    def _transfer(self, service: DownloadService, run: RunSpec | Plan, engine: EngineProcess) -> ev.RunFinished:
        spec = run if isinstance(run, RunSpec) else service.run_spec(run)
        self._last_spec = spec  # r reuses its grant
        return engine.run(spec)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "transfers" or event.state is not WorkerState.ERROR:
            return
        self._publish()  # what the engine reported before it stopped comes first
        self._nothing_in_flight()
        error = event.worker.error
        text = str(error) if isinstance(error, LaionFmriError) else f"the download stopped: {error!r}"
        what = "did not start" if self.phase is RunPhase.STARTING else "stopped"
        self._failed = tuple(item.key for item in self.plan.pending)  # r tries the whole plan again
        self.phase = RunPhase.ERROR
        log = self.query_one(TransferLog)
        log.retries_due(end=True)
        log.note(text, "error")
        self._show_target()
        self._show_status(f"the download {what} (the log says why): r tries again, esc goes back", "-error")

    # engine events -----------------------------------------------------------
    def on_transfer_finished(self, message: TransferFinished) -> None:
        if message.run != self._run:
            return
        result = self.result = message.result
        self._publish()
        self._nothing_in_flight()  # parts still queued at a cancel are not "active" either
        self._failed = tuple(key for key, _ in result.failures)
        self.phase = (RunPhase.CANCELLED if result.cancelled else RunPhase.FAILED if result.failed
                      else RunPhase.FINISHED)
        text = summary(result, self.counts, self._clock() - self._started)
        log = self.query_one(TransferLog)
        log.retries_due(end=True)
        log.note(text, "error" if result.failed else "info")
        self._show_status(text, "-error" if result.failed else "-warning" if result.cancelled else "")
        self._show_target()

    def _show_target(self) -> None:
        """The header once the run is over: what happened, not "Downloading"."""
        c, where = self._counts, self.plan.data_dir
        files = f"{c.present} of {count(c.total, 'file')}"
        text = {
            RunPhase.FINISHED: f"Downloaded {files} into {where}",
            RunPhase.FAILED: f"{c.failed} failed (r retries): {files} in {where}",
            RunPhase.CANCELLED: f"Cancelled (partial files kept): {files} in {where}",
            RunPhase.ERROR: f"Not downloading: {files} in {where}",
        }.get(self.phase)
        if text is not None:
            self.query_one("#transfers-target", Static).update(text)

    def _publish(self) -> None:
        """Take the newest snapshot and file events from the bridge and hand
        them to the widgets (timer and end of run)."""
        latest, events = self._bridge.take()
        log = self.query_one(TransferLog)
        for event in events:
            if isinstance(event, ev.PlanReady) and self.phase is RunPhase.STARTING:
                self.phase = RunPhase.PAUSED if self.engine.paused else RunPhase.RUNNING
            self._counts = self._counts.after(event)
            log.event(event)
        log.retries_due()
        self.counts = self._counts
        if latest is not None:
            self.progress = self._of_whole(latest)
            if self.phase is RunPhase.RUNNING:
                self.rates = (*self.rates, latest.rate)[-RATE_SAMPLES:]

    def _of_whole(self, progress: ev.Progress) -> ev.Progress:
        """A snapshot of the current run in bytes of the dashboard's whole plan:
        after ``r`` the bar and "X of Y" go on from where the failed run left them
        (Y stays the whole download) instead of starting over on the retried files."""
        return dataclasses.replace(progress, bytes_done=min(self._carried + progress.bytes_done, self._whole),
                                   bytes_total=self._whole)

    def _nothing_in_flight(self) -> None:
        """The run is over: the table shows no file as active."""
        if self.progress is not None:
            self.progress = dataclasses.replace(self.progress, active=())

    def _show_status(self, text: str, state: str = "") -> None:
        status = self.query_one("#transfers-status", Static)
        status.update(text)
        status.display = bool(text)
        for name in ("-error", "-warning"):
            status.set_class(name == state, name)

    # actions -----------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pause", "resume"):
            return self.phase.active and self.engine.paused == (action == "resume")
        if action == "cancel":
            return self.phase.active
        if action == "retry_failed":
            return bool(self._failed) and not self.transfers_running  # in the footer when r would retry
        if action == "retry":
            return True  # says why when there is nothing to retry
        if action in ("back", "run_over"):
            return not self.transfers_running
        return True

    def action_pause(self) -> None:
        """Workers hold between reads; their connections stay open."""
        self._set_paused(True)

    def action_resume(self) -> None:
        self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        if paused:
            self.engine.pause()
        else:
            self.engine.resume()
        if self.phase is not RunPhase.STARTING:
            self.phase = RunPhase.PAUSED if paused else RunPhase.RUNNING
        # The header says what is happening now: not "Downloading" while nothing moves.
        self.query_one("#transfers-target", Static).update(
            self._downloading.replace("Downloading", "Paused (p resumes):", 1) if paused else self._downloading)
        self.refresh_bindings()

    def action_run_over(self, what: str) -> None:
        """p or c once nothing runs: a key that did nothing, and said nothing, looked broken."""
        self.notify(f"nothing to {what}", title=RUN_OVER.get(self.phase, "The run is over"), timeout=3)

    def action_bandwidth(self) -> None:
        from laion_fmri_tui.tui.screens.bandwidth import BandwidthScreen

        def chosen(answer) -> None:
            context = self.app.context
            if answer is None:  # escape: say so, as enter does (a silent close looked like a lost key)
                now = context.engine.max_bandwidth
                said = f"cap unchanged ({cap(now) if now else 'no cap'})"
            else:
                self.engine.set_bandwidth(answer[0])
                # Kept for the rest of the session: the next run (a retry, or another
                # download from the browser) starts with it.
                context.engine = dataclasses.replace(context.engine, max_bandwidth=answer[0])
                said = f"capped at {cap(answer[0])}" if answer[0] else "no longer capped"
            self.query_one(TransferLog).note(f"bandwidth {said}")
            self.notify(f"bandwidth {said}", timeout=3)

        self.app.push_screen(BandwidthScreen(self.app.context.engine.max_bandwidth), chosen)

    def action_cancel(self) -> None:
        self.app.push_screen(ConfirmScreen(CANCEL_QUESTION, yes="Cancel download", no="Keep going"),
                             self._cancel_answered)

    def _cancel_answered(self, yes: bool | None) -> None:
        if not yes or not self.phase.active:
            return
        self.engine.cancel()
        self.phase = RunPhase.CANCELLING

    def action_retry_failed(self) -> None:
        self.action_retry()

    def action_retry(self) -> None:
        """Run again over the files that failed (or all, if the run never started)."""
        if self.transfers_running:
            self.notify("r retries failed files once this run has ended", timeout=3)
            return
        if not self._failed:
            self.notify("nothing failed, so nothing to retry", timeout=3)
            return
        self._counts = dataclasses.replace(self._counts, failed=0)
        plan = retry_plan(self.plan, self._failed)
        if self._last_spec is not None:
            self._spec = self._last_spec.with_plan(plan)  # the same grant: access is not asked again
        self.query_one(TransferLog).note(f"retrying {count(plan.files, 'file')}", "info")
        self._start(plan)

    def action_back(self) -> None:
        if not self.transfers_running:
            self.dismiss(None)

    async def action_help(self) -> None:
        await self.app.run_action("help")

    async def action_quit_app(self) -> None:
        await self.app.run_action("quit_app")

