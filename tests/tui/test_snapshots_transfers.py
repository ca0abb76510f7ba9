"""How the transfer dashboard looks, at 80x24 and 120x40.

Only end states are captured, because only they are deterministic: a live
run's rate, ETA and active rows depend on timing. The screen's clock is
injected (each reading four seconds after the last), so the summary's elapsed
time and average rate are fixed, and the sparkline is given a fixed history
once the run is over. The data directory is the conftest's fixed path.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from laion_fmri_tui.core.selection import Filters, Selection
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.transfers import TransfersScreen

SIZES = [(80, 24), (120, 40)]
RATES = tuple(float(n) for n in (0, 2, 5, 9, 12, 14, 15, 15, 13, 15, 16, 16, 14, 15, 12, 8, 4))


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
        for _ in range(400):
            if screen.phase == phase:
                break
            await pilot.pause(0.05)
        assert screen.phase == phase
        if phase == "finished":
            screen.rates = RATES
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_finished_download(snap_compare, snapshot_context, size):
    assert snap_compare(LaionFmriApp(snapshot_context), terminal_size=size,
                        run_before=shows(snapshot_context, ses02(), "finished"))


def test_access_required(snap_compare, snapshot_context, access):
    assert snap_compare(LaionFmriApp(snapshot_context), terminal_size=(80, 24),
                        run_before=shows(snapshot_context, Selection(stimuli=True), "error"))
