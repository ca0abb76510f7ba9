"""EngineControl's calls take effect, wherever the engine runs.

The same test drives the in-process engine (``--batch``) and the app's
:class:`~laion_fmri_tui.core.run.engine_process.EngineProcess`, whose engine
runs in a child process: a pause stops bytes reaching the disk, a resume
finishes the held parts on their GETs, a bandwidth cap changes how many
bytes arrive between two of the engine's progress ticks, a cancel keeps the
``.part``. Everything is judged by the ``.part`` on disk, the server's
request log and the engine's events, never by a clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.core.models import Plan
from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.core.run.control import EngineControl
from laion_fmri_tui.core.run.engine_process import EngineProcess
from laion_fmri_tui.core.settings import EngineSettings, S3Settings, ServiceSettings
from laion_fmri_tui.core.service import DownloadService
from laion_fmri_tui.devserver import synthetic
from engines import Recorder, allocated, engine_for, window

MIB = 1024 * 1024
KEY = synthetic.MULTIPART_KEY
PARTS = -(-synthetic.MULTIPART_SIZE // MIB)


def _in_process(service: DownloadService, rec: Recorder) -> tuple[EngineControl, Callable[[Plan], object]]:
    engine = engine_for(service, rec)
    return engine, engine.run


def _child_process(service: DownloadService, rec: Recorder) -> tuple[EngineControl, Callable[[Plan], object]]:
    engine = EngineProcess(rec)
    return engine, lambda plan: engine.run(service.run_spec(plan))


@pytest.fixture(params=[_in_process, _child_process], ids=["in-process", "child-process"])
def start(request, s3, data_dir):
    """Start a run of the multipart object in 1 MiB parts, with the control
    paused before it begins; returns the control, the recorder and the runner."""
    service = DownloadService(ServiceSettings(
        data_dir=data_dir, s3=S3Settings(endpoint_url=s3.url),
        engine=EngineSettings(jobs=4, part_size=MIB, progress_interval=0.05),
    ))
    selection = Selection(subjects=("sub-01",), filters=Filters.build(ses=["02"]),
                          components=frozenset({"glmsingle"}))
    plan = service.plan(selection)
    plan = Plan(plan.data_dir, tuple(i for i in plan.items if i.key == KEY))
    rec = Recorder()
    control, run = request.param(service, rec)
    assert isinstance(control, EngineControl)
    runner = threading.Thread(target=run, args=(plan,), daemon=True)

    def begin() -> tuple[EngineControl, Recorder, threading.Thread]:
        runner.start()
        return control, rec, runner

    yield begin
    control.cancel()
    runner.join(30)


def test_pause_holds_the_bytes_and_resume_finishes_the_held_parts(start, s3, s3_objects, data_dir):
    s3.throttle(KEY, MIB)  # a 1 MiB part takes a second: four are in flight when the pause comes
    control, rec, runner = start()
    rec.wait_for(lambda e: rec.bytes_of(KEY) > 0)
    control.pause()
    assert control.paused
    rec.wait_for(lambda e: isinstance(e, ev.Progress) and e.paused)
    window()  # the lanes' turns under way end
    part = partfile.part_path(tempnames.current(data_dir / KEY))
    held = allocated(part)
    window(1.0)  # in which an engine that went on would write more
    assert allocated(part) == held < synthetic.MULTIPART_SIZE, "paused: not one more byte on disk"
    asked = len(s3.gets(KEY))
    control.resume()
    finished = rec.wait_for(lambda e: isinstance(e, ev.RunFinished))
    assert finished.done == 1 and not finished.cancelled
    assert (data_dir / KEY).read_bytes() == s3_objects[KEY].data
    assert asked < PARTS == len(s3.gets(KEY)), "the held parts went on: none was asked for again"


def test_a_bandwidth_cap_set_mid_run_paces_the_bytes_between_progress_ticks(start, s3):
    """Uncapped, this server sends four parts at 2 MiB/s each: about 400 KB
    between two ticks of 0.05 s. Capped at 50 kB/s mid-run, a tick sees a few
    KB. A read under way when the cap came is charged whole (its debt is paid
    by the ticks after it), so the last six of twelve ticks are judged: each
    adds far less than one uncapped tick, however late a tick comes on a
    loaded machine (a tick late by two seconds would still be within the bound)."""
    s3.throttle(KEY, 2 * MIB)
    control, rec, runner = start()
    rec.wait_for(lambda e: rec.bytes_of(KEY) > 0)
    control.pause()
    rec.wait_for(lambda e: isinstance(e, ev.Progress) and e.paused)
    window()  # the lanes' turns under way end: their next reads are capped
    control.set_bandwidth(50_000)
    assert control.bandwidth == 50_000
    control.resume()
    resumed = rec.wait_for(lambda e: isinstance(e, ev.Progress) and not e.paused)
    start_at = rec.events.index(resumed)
    rec.wait_for(lambda e: len([p for p in rec.events[start_at:] if isinstance(p, ev.Progress)]) >= 12)
    ticks = [p.bytes_fetched for p in rec.events[start_at:] if isinstance(p, ev.Progress)]
    steps = [b - a for a, b in zip(ticks, ticks[1:])][-6:]
    assert len(steps) == 6 and max(steps) <= 150_000, f"bytes between ticks under a 50 kB/s cap: {steps}"
    control.set_bandwidth(None)
    assert control.bandwidth is None
    jump = rec.wait_for(lambda e: isinstance(e, ev.RunFinished)
                        or (isinstance(e, ev.Progress) and e.bytes_fetched - ticks[-1] > 1_000_000))
    assert isinstance(jump, ev.Progress), "the cap, lifted, lets the bytes come again"
    control.cancel()


def test_cancel_ends_the_run_and_keeps_the_part(start, s3, data_dir):
    s3.throttle(KEY, MIB)
    control, rec, runner = start()
    rec.wait_for(lambda e: rec.bytes_of(KEY) > MIB)
    control.cancel()
    finished = rec.wait_for(lambda e: isinstance(e, ev.RunFinished))
    runner.join(30)
    assert finished.cancelled and finished.done == 0
    dest = data_dir / KEY
    assert partfile.part_path(dest).exists() and not dest.exists(), "the partial file is kept"
    assert allocated(partfile.part_path(dest)) > MIB


@pytest.mark.parametrize("make", [_in_process, _child_process], ids=["in-process", "child-process"])
def test_no_socket_is_read_after_a_cancel_under_a_cap(make, s3, data_dir):
    """A lane's turn serves every socket that has bytes. Capped at 8 kB/s with
    forty small files in flight (the server has sent them all: every socket is
    ready), a cancel used to be noticed by each socket's read only after it
    was made: one more read of 4 KiB per socket past the cap, after the user's
    ``c`` (measured: 16-27 kB past the last tick in 5 of 6 runs). Now no socket
    is read once the gate says cancel (measured: 0 bytes); the bound leaves the
    cap's own pace (8 kB a second) for a late tick on a loaded machine."""
    service = DownloadService(ServiceSettings(
        data_dir=data_dir, s3=S3Settings(endpoint_url=s3.url),
        engine=EngineSettings(jobs=40, max_bandwidth=8_000, progress_interval=0.05),
    ))
    plan = service.plan(Selection(subjects=("sub-03",), components=frozenset({"glmsingle", "rois"})))
    assert plan.files >= 60
    rec = Recorder()
    control, run = make(service, rec)
    runner = threading.Thread(target=run, args=(plan,), daemon=True)
    runner.start()
    try:
        rec.wait_for(lambda e: isinstance(e, ev.Progress) and e.bytes_fetched > 16_000)
        last = rec.of(ev.Progress)[-1].bytes_fetched
        control.cancel()
        finished = rec.wait_for(lambda e: isinstance(e, ev.RunFinished))
    finally:
        control.cancel()
        runner.join(30)
    assert finished.cancelled
    assert finished.bytes_fetched - last <= 8_000, (
        f"{finished.bytes_fetched - last} bytes read after the last tick before the cancel")
