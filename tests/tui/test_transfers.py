"""The transfer dashboard, driven by keys against the loopback S3 server.

Every journey runs the real app and the real engine; the server is slowed
(``s3.throttle``) where a test must act while bytes are moving, and made to
drop connections (``s3.fail_next``) to produce a failed file. Waits poll the
screen's state with a deadline instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.models import LocalState, Plan
from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.devserver import synthetic
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.bridge import EngineBridge
from laion_fmri_tui.tui.context import AppContext
from laion_fmri_tui.tui.screens.confirm import ConfirmScreen
from laion_fmri_tui.tui.messages import TransferFinished
from laion_fmri_tui.tui.runs import retry_plan
from laion_fmri_tui.tui.screens import transfers
from laion_fmri_tui.tui.screens.transfers import TransfersScreen
from laion_fmri_tui.tui.widgets.transfer_log import TransferLog
from laion_fmri_tui.tui.widgets.transfer_table import MAX_ROWS, bar, short_name, shown_files
from laion_fmri_tui.tui.widgets.transfer_totals import RunCounts, plan_progress

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
BIG = synthetic.MULTIPART_KEY


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def ses02() -> Selection:
    """sub-01 ses-02 GLMsingle: 21 files, one of them the 10.5 MiB multipart object."""
    return Selection(subjects=("sub-01",), filters=Filters.build(ses=["02"]),
                     components=frozenset({"glmsingle"}))


async def wait_for(pilot: Pilot, predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def start(app: LaionFmriApp, pilot: Pilot, plan: Plan) -> TransfersScreen:
    await pilot.pause()
    screen = TransfersScreen(plan)
    await app.push_screen(screen)
    return screen


def log_text(screen: TransfersScreen) -> str:
    return "\n".join(text for _, text in screen.query_one(TransferLog).history)


def text_of(screen: TransfersScreen, selector: str) -> str:
    return str(screen.query_one(selector).render())


def assert_on_disk(plan: Plan, s3_objects) -> None:
    for item in plan.items:
        assert item.dest.read_bytes() == s3_objects[item.key].data, item.key


async def test_download_completes_and_shows_counts(context: AppContext, s3_objects) -> None:
    plan = context.service().plan(ses02())
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(app, pilot, plan)
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: screen.phase == "finished", "the run to finish")
        assert_on_disk(plan, s3_objects)
        assert screen.counts == RunCounts(done=plan.files)
        assert not screen.transfers_running
        assert f"{plan.files} done · 0 skipped · 0 failed" in text_of(screen, "#total-counts")
        assert text_of(screen, "#transfers-status").startswith(f"finished: {plan.files} done")
        assert screen.progress is not None and screen.progress.bytes_done == plan.bytes_total
        await pilot.press("escape")
        assert app.screen is not screen


async def test_pause_holds_the_transfer_and_resume_finishes_it(context, s3, s3_objects) -> None:
    s3.throttle(BIG, 1024 * 1024)
    plan = context.service().plan(ses02())
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: s3.bytes_sent(BIG) > 0, "the big file to start")
        await wait_for(pilot, lambda: screen.phase == "running", "the dashboard's next render")
        assert screen.active_bindings["p"].binding.action == "pause"
        await pilot.press("p")
        assert screen.phase == "paused" and screen.transfers_running
        assert screen.active_bindings["p"].binding.action == "resume", "the footer offers Resume"
        await wait_for(pilot, lambda: screen.progress is not None and screen.progress.paused,
                       "the engine to report the pause")
        assert "paused" in text_of(screen, "#total-rate")
        # Reads in flight drain into socket buffers; then nothing more is sent.
        last = -1
        while (sent := s3.bytes_sent(BIG)) != last:
            last = sent
            await pilot.pause(0.3)
        await pilot.pause(0.5)
        assert s3.bytes_sent(BIG) == last < synthetic.MULTIPART_SIZE
        await pilot.press("p")
        assert screen.phase == "running"
        await wait_for(pilot, lambda: screen.phase == "finished", "the run to finish")
        assert_on_disk(plan, s3_objects)


async def test_w_changes_the_shared_bandwidth_cap_while_running(context, s3, s3_objects) -> None:
    s3.throttle(BIG, 1024 * 1024)
    plan = context.service().plan(ses02())
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: s3.bytes_sent(BIG) > 0, "the big file to start")
        await pilot.press("w")
        await pilot.pause()
        await pilot.press(*"2M", "enter")
        await pilot.pause()
        engine = screen.engine
        assert engine.bandwidth == 2_000_000  # M: 10**6, as rates are shown
        assert "bandwidth capped at 2 MB/s" in log_text(screen)  # as typed (it read 2.1 MB/s for 2 MiB)
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("enter")  # empty: no cap
        await pilot.pause()
        assert engine.bandwidth is None
        s3.throttle(BIG, None)
        await wait_for(pilot, lambda: screen.phase == "finished", "the run to finish")
        assert_on_disk(plan, s3_objects)


async def test_cancel_keeps_the_partial_file_and_a_new_run_resumes(context, s3, s3_objects) -> None:
    s3.throttle(BIG, 512 * 1024)
    plan = context.service().plan(ses02())
    dest = next(i.dest for i in plan.items if i.key == BIG)
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: len(getattr(partfile.read_record(tempnames.current(dest)), "chunks_done",
                                                  ())) >= 2,
                       "two parts of the big file recorded on disk")
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")  # the confirming answer, by its key
        await wait_for(pilot, lambda: screen.phase == "cancelled", "the cancel to finish")
        assert "partial files kept, start the download again to resume" in text_of(screen, "#transfers-status")
        assert not dest.exists() and dest.with_name(dest.name + ".part").exists()
        await pilot.press("escape")
        assert app.screen is not screen

        s3.reset()
        again = context.service().plan(ses02())
        item = next(i for i in again.items if i.key == BIG)
        assert item.state is LocalState.PARTIAL and item.present >= 2 * MIB
        second = await start(app, pilot, again)
        await wait_for(pilot, lambda: second.phase == "finished", "the resumed run to finish")
        assert dest.read_bytes() == s3_objects[BIG].data
        assert s3.bytes_sent(BIG) <= synthetic.MULTIPART_SIZE - item.present
        assert f"resuming {BIG}" in log_text(second)


async def test_failed_file_is_logged_and_r_retries_it(context, s3, s3_objects) -> None:
    context.engine = dataclasses.replace(context.engine, retries=1)
    s3.fail_next(BIG, 20, "reset")
    plan = context.service().plan(ses02())
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: screen.phase == "failed", "the run to end with a failure")
        assert screen.counts == RunCounts(done=plan.files - 1, failed=1)
        assert f"failed {BIG}:" in log_text(screen)
        assert "press r to retry" in text_of(screen, "#transfers-status")
        s3.reset()  # clears the remaining faults
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.phase == "finished", "the retry to finish")
        assert screen.plan.files == 1 and screen.plan.items[0].key == BIG
        assert screen.counts == RunCounts(done=plan.files)
        assert_on_disk(plan, s3_objects)


async def test_quit_asks_while_running_and_escape_never_cancels(context, s3) -> None:
    s3.throttle(BIG, 128 * 1024)  # 40 s a part: still running after the keys on a loaded machine
    plan = context.service().plan(ses02())
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(app, pilot, plan)
        dest = next(i.dest for i in plan.items if i.key == BIG)
        await wait_for(pilot, lambda: screen.phase == "running", "the run to start")
        await wait_for(pilot, lambda: partfile.part_path(tempnames.current(dest)).exists(), "the big file's .part")
        engine = _run_engine(screen)
        await pilot.press("escape")
        assert app.screen is screen and screen.phase == "running"
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # "Keep going"
        assert app.screen is screen and screen.transfers_running
        assert app.is_running
    # Leaving the app stops the engine: its process has ended by the time the app
    # has (the throttled file alone would take 20 s more); the partial file stays,
    # and the next plan resumes it (parked, or under the ended process's own name
    # if it had to be killed).
    assert not _running(engine), "the engine process outlived the app"
    item = next(i for i in context.service().plan(ses02()).items if i.key == BIG)
    assert item.state is LocalState.PARTIAL and item.present > 0 and not dest.exists()


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has ended, only its parent has not reaped it yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status.splitlines())


def _run_engine(screen: TransfersScreen) -> int:
    """The pid of the process running this screen's download, as the handle knows it.

    (Scanning the test process's children by command line also found the
    engines of earlier tests in the same process still ending on a loaded
    machine, and a spare being started.)"""
    pid = screen.engine.pid
    assert pid is not None and _running(pid), "no engine process runs the download"
    return pid


async def test_a_killed_engine_process_still_counts_what_it_reported(context, s3, monkeypatch) -> None:
    """Files the engine reported before it was killed are counted and logged
    before the error, which says the download stopped (not that it never started)."""
    monkeypatch.setattr(transfers, "RENDER_INTERVAL", 3600.0)  # only the run's end takes the events
    s3.throttle(BIG, 256 * 1024)
    plan = context.service().plan(ses02())
    small = [item.dest for item in plan.items if item.key != BIG]
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: all(dest.exists() for dest in small), "the small files on disk")
        await pilot.pause(0.5)  # their events cross the pipe
        assert screen.counts == RunCounts(), "nothing taken before the end"
        pid = _run_engine(screen)
        os.kill(pid, signal.SIGKILL)
        await wait_for(pilot, lambda: screen.phase == "error", "the error")
        assert screen.counts == RunCounts(done=len(small))
        assert screen.progress is not None and screen.progress.active == (), "nothing is shown in flight"
        assert "the download stopped" in text_of(screen, "#transfers-status")
        assert log_text(screen).splitlines()[-1].startswith("the transfer process ended unexpectedly")


async def test_access_error_is_shown_on_the_screen(context, access) -> None:
    plan = context.service().plan(Selection(stimuli=True))
    assert any(i.source == "access" for i in plan.pending)
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: screen.phase == "error", "the access error")
        assert "did not start" in text_of(screen, "#transfers-status")
        assert "data-use agreement" in log_text(screen)
        assert not screen.transfers_running
        assert screen.check_action("retry", ()) is True, "r tries the whole plan again"
        await pilot.press("escape")
        assert app.screen is not screen


def test_short_names_fit_and_keep_both_ends() -> None:
    name = short_name(BIG, 30)
    assert len(name) == 30 and name.startswith("sub-01_ses-02") and name.endswith(".nii.gz")
    assert short_name("a/b/short.h5", 30) == "short.h5"
    assert bar(0, 10) == "░" * 10 + "   0%" and bar(10, 10) == "█" * 10 + " 100%"


def test_the_table_keeps_its_rows_then_adds_the_largest_up_to_its_cap() -> None:
    """Hundreds of small files in flight must not each get a row (see transfer_table)."""
    active = tuple(ev.ActiveFile(f"k{i}", 0, 1000 - i) for i in range(300))  # k0 is the largest
    shown = shown_files(active, {"k299", "k150", "gone"})
    assert len(shown) == MAX_ROWS
    assert [a.key for a in shown[:2]] == ["k150", "k299"], "rows still in flight keep their place"
    assert [a.key for a in shown[2:]] == [f"k{i}" for i in range(MAX_ROWS - 2)], "then the largest"
    assert shown_files(active[:3], set()) == list(active[:3])
    assert [a.key for a in shown_files(active, {"k299"}, 3)] == ["k299", "k0", "k1"], "as many as fit"


def test_bridge_keeps_the_newest_snapshot_and_every_file_event_in_order() -> None:
    """Only the end of the run is a message; the rest waits for the screen's next render."""
    posted: list = []

    class Target:
        def post_message(self, message) -> bool:
            posted.append(message)
            return True

    sink = EngineBridge(Target(), run=3)  # type: ignore[arg-type]
    older = plan_progress(Plan(Path("/data"), ()))
    newer = dataclasses.replace(older, bytes_fetched=5)
    burst = [ev.FileDone(k, 5, 5, "md5") for k in ("a", "b", "c")]
    for event in (older, burst[0], newer, burst[1]):
        sink(event)
    assert posted == []
    assert sink.take() == (newer, burst[:2])
    assert sink.take() == (None, []), "taken once"
    sink(burst[2])
    finished = ev.RunFinished(done=3, skipped=0, failed=0, bytes_fetched=5, elapsed=1.0)
    sink(finished)
    assert [(type(m), m.run, m.result) for m in posted] == [(TransferFinished, 3, finished)]
    assert sink.take() == (None, [burst[2]]), "what came before the end waits for the screen"


def test_retry_plan_measures_the_partial_file_again(tmp_path: Path) -> None:
    from laion_fmri_tui.core.models import PlanItem
    from laion_fmri_tui.core.disk import partfile

    items = tuple(PlanItem(key=k, dest=tmp_path / k, size=100, etag="e", component="dataset")
                  for k in ("a", "b"))
    (tmp_path / "b.part").write_bytes(b"x" * 40)
    partfile.write_record(tmp_path / "b", partfile.PartRecord(size=100, etag="e"))
    plan = retry_plan(Plan(tmp_path, items), ["b"])
    assert [(i.key, i.state, i.present) for i in plan.items] == [("b", LocalState.PARTIAL, 40)]
