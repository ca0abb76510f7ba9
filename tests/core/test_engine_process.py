"""The app's engine in a child process: same events, same control, nothing in-process."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading

import pytest

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.access.client import Grant, SignedFile
from laion_fmri_tui.core.access.errors import AccessRequiredError
from laion_fmri_tui.core.run.engine_process import EngineProcess, SpareEngine
from laion_fmri_tui.core.run.spec import RunSpec
from laion_fmri_tui.core.errors import LaionFmriError
from laion_fmri_tui.core.models import Plan, PlanItem
from laion_fmri_tui.core.disk import partfile
from laion_fmri_tui.devserver import synthetic
from engines import Recorder
from test_engine import service, ses02  # noqa: F401 (service is a fixture)

MIB = 1024 * 1024


def transfer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("transfer-", "progress"))]


def test_child_fetches_the_plan_and_relays_every_event(service, s3_objects):
    plan = service.plan(ses02())
    rec = Recorder()
    seen_threads: list[list[str]] = []

    def sink(event) -> None:
        seen_threads.append(transfer_threads())
        rec(event)

    finished = EngineProcess(sink).run(service.run_spec(plan))
    kinds = [type(e) for e in rec.events]
    assert kinds[0] is ev.PlanReady and kinds[-1] is ev.RunFinished
    assert finished == rec.of(ev.RunFinished)[0]
    assert finished.done == plan.files and finished.failed == 0
    assert {e.key for e in rec.of(ev.FileDone)} == {i.key for i in plan.items}
    for item in plan.items:
        assert item.dest.read_bytes() == s3_objects[item.key].data
    assert not any(seen_threads), "the workers ran in this process"


def test_a_pause_sent_before_the_child_exists_holds_the_run_from_its_start(service, s3):
    """The app may pause while its engine child is still starting: the command
    waits and reaches the child once it runs (it reports a paused run); then
    resume and cancel reach it. What each does to the bytes: test_engine_control.py."""
    s3.throttle(synthetic.MULTIPART_KEY, 2 * MIB)
    plan = service.plan(ses02())
    rec = Recorder()
    engine = EngineProcess(rec)
    engine.pause()  # before the child exists: applied as soon as it does
    runner = threading.Thread(target=engine.run, args=(service.run_spec(plan),), daemon=True)
    runner.start()
    paused = rec.wait_for(lambda e: isinstance(e, ev.Progress) and e.paused)
    engine.resume()
    after = rec.events.index(paused)
    rec.wait_for(lambda e: any(isinstance(p, ev.Progress) and not p.paused for p in rec.events[after:]))
    engine.cancel()
    runner.join(30)
    finished = rec.of(ev.RunFinished)[0]
    assert finished.cancelled
    dest = service.data_dir / synthetic.MULTIPART_KEY
    assert partfile.part_path(dest).exists() and not dest.exists(), "the partial file is kept"


def stimulus_requests(s3) -> list:
    """Requests for the plan's file: the session's server may still log a late GET of an
    earlier test's child (its connections end after the test), which is not this test's."""
    return [r for r in s3.requests if "stimuli" in (r.key or "")]


def test_a_missing_request_id_is_found_before_any_child_starts(service, s3):
    """A plan with a stimulus file and no request id: making its spec says so."""
    stimulus = PlanItem(key="task-images_stimuli.h5", dest=service.data_dir / "stimuli" / "task-images_stimuli.h5",
                        size=10, etag="", component="stimuli", sha256="0" * 64, source="access")
    with pytest.raises(AccessRequiredError):
        service.run_spec(Plan(service.data_dir, (stimulus,)))
    assert not stimulus_requests(s3)


def test_a_failure_to_start_in_the_child_is_raised_in_the_parent(service, s3):
    """The child cannot build its engine (an access-service URL that is no URL): the parent raises why."""
    stimulus = PlanItem(key="task-images_stimuli.h5", dest=service.data_dir / "stimuli" / "task-images_stimuli.h5",
                        size=10, etag="", component="stimuli", sha256="0" * 64, source="access")
    grant = Grant("an id", "never", (SignedFile(stimulus.dest.name, "http://127.0.0.1:9/x", 10, "0" * 64),))
    settings = dataclasses.replace(service.settings, access_url="ftp://nowhere")
    rec = Recorder()
    with pytest.raises(LaionFmriError) as raised:
        EngineProcess(rec).run(RunSpec(Plan(service.data_dir, (stimulus,)), settings, grant))
    assert "must start with http:// or https://" in str(raised.value)
    assert not rec.events and not stimulus_requests(s3)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_prewarmed_child_runs_the_next_plan(service, s3_objects):
    plan = service.plan(ses02())
    spares = SpareEngine()
    spare = spares.prewarm()
    assert spares.prewarm() == spare, "one spare at a time"
    engine = EngineProcess(Recorder(), spares)
    finished = engine.run(service.run_spec(plan))
    assert engine.pid == spare and finished.done == plan.files
    assert not alive(spare), "the used child was reaped"
    follow_up = spares.prewarm()
    assert follow_up != spare
    spares.discard()
    assert not alive(follow_up), "a discarded spare exits on its closed stdin"


def test_a_spare_has_the_engine_loaded_before_its_plan_comes():
    """Pressing d must not wait for the engine's imports: a spare loads them
    while the user still chooses, then waits for its plan."""
    code = (
        "import os, sys, threading, time\n"
        "from laion_fmri_tui.core.run import engine_process\n"
        "read, _keep = os.pipe()  # no plan ever comes\n"
        "threading.Thread(target=engine_process.serve, daemon=True,\n"
        "                 args=(os.fdopen(read, 'rb'), open(os.devnull, 'wb'))).start()\n"
        "deadline = time.monotonic() + 10\n"
        "while 'laion_fmri_tui.core.transfer.lane' not in sys.modules and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "print('laion_fmri_tui.core.transfer.lane' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "True", result.stderr[-500:]


def test_a_spare_from_another_environment_is_not_used(service, s3_objects, monkeypatch):
    spares = SpareEngine()
    spare = spares.prewarm()
    monkeypatch.setenv("LAION_FMRI_REQUEST_ID", "set after the spare started")
    engine = EngineProcess(Recorder(), spares)
    finished = engine.run(service.run_spec(service.plan(ses02())))
    assert finished.failed == 0 and engine.pid != spare
    assert not alive(spare), "the stale spare was ended"


def test_the_child_runs_this_package_whatever_its_working_directory_holds(service, s3_objects, tmp_path,
                                                                          monkeypatch):
    """Started from a source checkout of another version, the engine must still be
    this program's: a ``laion_fmri_tui`` in the working directory is never imported."""
    decoy = tmp_path / "checkout" / "laion_fmri_tui"
    (decoy / "core").mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy laion_fmri_tui was imported')\n")
    (decoy / "core" / "__init__.py").write_text("")
    (decoy / "core" / "run").mkdir()
    (decoy / "core" / "run" / "__init__.py").write_text("")
    (decoy / "core" / "run" / "engine_process.py").write_text("raise SystemExit('the decoy engine was imported')\n")
    monkeypatch.chdir(decoy.parent)
    plan = service.plan(ses02())
    finished = EngineProcess(Recorder()).run(service.run_spec(plan))
    assert finished.done == plan.files and finished.failed == 0
