"""The transfer engine through the service: events, coalescing, control."""

from __future__ import annotations

import threading
import time

import pytest

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.s3.endpoint import S3Settings
from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.core.service import DownloadService, ServiceSettings
from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.core.transfer.engine import EngineSettings
from laion_fmri_tui.devserver import synthetic
from engines import engine_for

MIB = 1024 * 1024


@pytest.fixture
def service(s3, data_dir) -> DownloadService:
    return DownloadService(ServiceSettings(
        data_dir=data_dir, s3=S3Settings(endpoint_url=s3.url),
        engine=EngineSettings(jobs=4, part_size=256 * 1024, progress_interval=0.1),
    ))


def ses02() -> Selection:
    return Selection(subjects=("sub-01",), filters=Filters.build(ses=["02"]), components=frozenset({"glmsingle"}))


class Recorder:
    def __init__(self) -> None:
        self.events: list = []
        self.lock = threading.Lock()

    def __call__(self, event) -> None:
        with self.lock:
            self.events.append((time.monotonic(), event))

    def of(self, kind):
        return [e for _, e in self.events if isinstance(e, kind)]


def test_event_order_and_totals(service, s3_objects):
    plan = service.plan(ses02())
    rec = Recorder()
    finished = engine_for(service, rec).run(plan)
    kinds = [type(e) for _, e in rec.events]
    assert kinds[0] is ev.PlanReady and kinds[-1] is ev.RunFinished
    assert finished.done == plan.files and finished.failed == 0
    assert finished.bytes_fetched == plan.bytes_to_fetch
    last = rec.of(ev.Progress)[-1]
    assert last.bytes_done == last.bytes_total == plan.bytes_total and last.files_done == plan.files
    started = {e.key for e in rec.of(ev.FileStarted)}
    assert started == {i.key for i in plan.items}


def test_progress_is_coalesced_not_one_event_per_chunk(service, s3):
    s3.throttle(synthetic.MULTIPART_KEY, 8 * MIB)
    plan = service.plan(ses02())
    rec = Recorder()
    finished = engine_for(service, rec).run(plan)
    chunks = -(-synthetic.MULTIPART_SIZE // (256 * 1024))
    progress = rec.of(ev.Progress)
    assert chunks == 42 and len(s3.gets(synthetic.MULTIPART_KEY)) == chunks
    assert len(progress) <= finished.elapsed / 0.1 + 2
    assert len(progress) < chunks
    times = [t for t, e in rec.events if isinstance(e, ev.Progress)]
    assert all(b - a >= 0.05 for a, b in zip(times, times[1:-1]))


def test_pause_holds_transfers_and_resume_finishes_them(service, s3, s3_objects):
    s3.throttle(synthetic.MULTIPART_KEY, 4 * MIB)
    plan = service.plan(ses02())
    rec = Recorder()
    engine = engine_for(service, rec)
    runner = threading.Thread(target=engine.run, args=(plan,))
    runner.start()
    while not rec.of(ev.FileStarted):
        time.sleep(0.01)
    engine.pause()
    time.sleep(0.3)
    held = s3.bytes_sent(synthetic.MULTIPART_KEY)
    time.sleep(0.6)
    assert s3.bytes_sent(synthetic.MULTIPART_KEY) - held <= 4 * 256 * 1024, \
        "a paused run fetches at most the rest of the 4 parts in flight"
    assert any(p.paused for p in rec.of(ev.Progress))
    engine.resume()
    runner.join(30)
    finished = rec.of(ev.RunFinished)[0]
    assert finished.failed == 0 and not finished.cancelled
    dest = service.data_dir / synthetic.MULTIPART_KEY
    assert dest.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data


def test_cancel_keeps_partial_files_for_the_next_run(service, s3, s3_objects):
    s3.throttle(synthetic.MULTIPART_KEY, 2 * MIB)
    plan = service.plan(ses02())
    rec = Recorder()
    engine = engine_for(service, rec)
    runner = threading.Thread(target=engine.run, args=(plan,))
    runner.start()
    dest = service.data_dir / synthetic.MULTIPART_KEY
    part = dest.with_name(dest.name + ".part")  # the shared name it is parked under when cancelled
    deadline = time.monotonic() + 20
    while not (partfile.part_path(tempnames.current(dest)).exists() and any(a.done > MIB for p in rec.of(ev.Progress) for a in p.active)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    engine.cancel()
    runner.join(10)
    assert rec.of(ev.RunFinished)[0].cancelled
    assert part.exists() and not dest.exists()
    again = service.plan(ses02())
    item = next(i for i in again.items if i.key == synthetic.MULTIPART_KEY)
    assert item.state.value == "partial" and item.present >= MIB
    s3.reset()
    engine_for(service, lambda e: None).run(again)
    assert dest.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    assert s3.bytes_sent(synthetic.MULTIPART_KEY) <= synthetic.MULTIPART_SIZE - item.present
