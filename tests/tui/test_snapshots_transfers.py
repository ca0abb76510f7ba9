"""How the transfer dashboard looks, at 80x24 and 120x40.

End states are captured from real runs; a live run's rate, ETA and active
rows depend on timing, so the mid-run look is captured by handing the screen
a fixed engine snapshot once its run is over. The screen's clock is injected
(each reading four seconds after the last), so the summary's elapsed time and
average rate are fixed, and the sparkline is given a fixed history once the
run is over. The data directory is the conftest's fixed path.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.core.units import size
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.run_phase import RunPhase
from laion_fmri_tui.tui.widgets.transfer_log import TransferLog
from laion_fmri_tui.tui.widgets.transfer_totals import RunCounts
from laion_fmri_tui.tui.screens.transfers import TransfersScreen

SIZES = [(80, 24), (120, 40)]
RATES = tuple(float(n) for n in (0, 2, 5, 9, 12, 14, 15, 15, 13, 15, 16, 16, 14, 15, 12, 8, 4))
MIB = 1 << 20
ACTIVE = tuple(
    ev.ActiveFile(f"sub-01/glmsingle/ses-{n:02d}/sub-01_ses-{n:02d}_task-images_space-T1w_desc-betas.h5",
                  done, 2048 * MIB)
    for n, done in ((3, 1990 * MIB), (4, 1500 * MIB), (5, 700 * MIB), (6, 90 * MIB))
) + tuple(ev.ActiveFile(f"sub-01/rois/sub-01_roi-{n:03d}_mask.nii.gz", 30_000, 61_000) for n in range(40))
MID_RUN = ev.Progress(bytes_done=41 * 1024 * MIB, bytes_total=61 * 1024 * MIB, bytes_fetched=40 * 1024 * MIB,
                      rate=612e6, eta_seconds=35.0, files_done=130, files_total=401, active=ACTIVE)


PHASE_BOUND = 180.0
"""Seconds a real run may take to reach the phase a snapshot shows: a failure bound
only. 400 pauses of 0.05 s (20 s and more) were too few on a loaded two-core
machine, where the run, moto and the app share the CPU."""


def step_clock(step: float = 4.0) -> Callable[[], float]:
    counter = itertools.count()
    return lambda: next(counter) * step


def ses02() -> Selection:
    return Selection(subjects=("sub-01",), filters=Filters.build(ses=["02"]),
                     components=frozenset({"glmsingle"}))


def shows(context, selection: Selection, phase: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.pause()
        plan = context.service().plan(selection)
        screen = TransfersScreen(plan, clock=step_clock())
        await app.push_screen(screen)
        deadline = time.monotonic() + PHASE_BOUND
        while screen.phase != phase and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert screen.phase == phase
        if phase == "finished":
            screen.rates = RATES
        await pilot.pause()
    return run_before


def mid_run(context):
    """The dashboard as a run shows it, from a fixed snapshot (four multi-GB
    betas and many small files in flight), once the real run is over. Every
    part of the screen tells of that one snapshot: the header, the totals and
    counts, the table, a log with what such a run logs (the finished run's
    summary cleared; a resumed file), and the keys of a running download."""
    finished = shows(context, ses02(), "finished")

    async def run_before(pilot) -> None:
        await finished(pilot)
        screen = pilot.app.screen
        screen.phase, screen.rates = RunPhase.RUNNING, tuple(r * 40e6 for r in RATES)
        screen.progress = MID_RUN
        screen._show_status("")
        log = screen.query_one(TransferLog)
        log.clear()
        log.history.clear()
        log.event(ev.FileStarted(ACTIVE[2].key, ACTIVE[2].size, resume_from=512 * MIB))
        screen._counts = screen.counts = RunCounts(done=MID_RUN.files_done, total=MID_RUN.files_total)
        screen.query_one("#transfers-target").update(  # as _start words the header of such a plan
            f"Downloading {MID_RUN.files_total} files ({size(MID_RUN.bytes_total)} to fetch) "
            f"into {screen.plan.data_dir}")
        await pilot.pause()
        # One state throughout: nothing on the screen tells of the real run that ended.
        assert not any("finished" in text for _, text in log.history), log.history
        assert screen.transfers_running and screen.check_action("pause", ()) and screen.check_action("cancel", ())
        assert all(a.done < a.size for a in MID_RUN.active), "a file shown in flight is not complete"
    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_finished_download(snap_compare, snapshot_context, size):
    assert snap_compare(LaionFmriApp(snapshot_context), terminal_size=size,
                        run_before=shows(snapshot_context, ses02(), "finished"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_download_mid_run(snap_compare, snapshot_context, size):
    """The largest files first, the rest counted in the border."""
    assert snap_compare(LaionFmriApp(snapshot_context), terminal_size=size, run_before=mid_run(snapshot_context))


def test_access_required(snap_compare, snapshot_context, access):
    assert snap_compare(LaionFmriApp(snapshot_context), terminal_size=(80, 24),
                        run_before=shows(snapshot_context, Selection(stimuli=True), "error"))
