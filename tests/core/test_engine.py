"""The transfer engine through the service: events, coalescing, control."""

from __future__ import annotations

import threading

import pytest

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.settings import EngineSettings, S3Settings, ServiceSettings
from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.core.service import DownloadService
from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.devserver import synthetic
from engines import Recorder, allocated, engine_for, window

MIB = 1024 * 1024


@pytest.fixture
def service(s3, data_dir) -> DownloadService:
    return DownloadService(ServiceSettings(
        data_dir=data_dir, s3=S3Settings(endpoint_url=s3.url),
        engine=EngineSettings(jobs=4, part_size=256 * 1024, progress_interval=0.1),
    ))


def ses02() -> Selection:
    return Selection(subjects=("sub-01",), filters=Filters.build(ses=["02"]), components=frozenset({"glmsingle"}))


def test_event_order_and_totals(service, s3_objects):
    plan = service.plan(ses02())
    rec = Recorder()
    finished = engine_for(service, rec).run(plan)
    kinds = [type(e) for e in rec.events]
    assert kinds[0] is ev.PlanReady and kinds[-1] is ev.RunFinished
    assert finished.done == plan.files and finished.failed == 0
    assert finished.bytes_fetched == plan.bytes_to_fetch
    last = rec.of(ev.Progress)[-1]
    assert last.bytes_done == last.bytes_total == plan.bytes_total and last.files_done == plan.files
    started = {e.key for e in rec.of(ev.FileStarted)}
    assert started == {i.key for i in plan.items}


def test_progress_is_coalesced_not_one_event_per_part(s3, data_dir):
    """42 parts, and a progress interval longer than the run should take:
    a handful of ``Progress`` events (the ticker's and the last one), not one
    per part. Counted, not timed: a slow machine only adds ticks."""
    service = DownloadService(ServiceSettings(
        data_dir=data_dir, s3=S3Settings(endpoint_url=s3.url),
        engine=EngineSettings(jobs=4, part_size=256 * 1024, progress_interval=2.0),
    ))
    plan = service.plan(ses02())
    rec = Recorder()
    engine_for(service, rec).run(plan)
    parts = -(-synthetic.MULTIPART_SIZE // (256 * 1024))
    progress = rec.of(ev.Progress)
    assert parts == 42 and len(s3.gets(synthetic.MULTIPART_KEY)) == parts
    assert 1 <= len(progress) < parts // 4, len(progress)


def test_pause_holds_transfers_and_resume_finishes_them(s3, data_dir, s3_objects):
    """Paused with four 1 MiB parts in flight (a second each): not one more
    byte reaches the ``.part`` while paused, and the resume finishes the held
    parts on their GETs (11 parts, 11 GETs)."""
    service = DownloadService(ServiceSettings(
        data_dir=data_dir, s3=S3Settings(endpoint_url=s3.url),
        engine=EngineSettings(jobs=4, part_size=MIB, progress_interval=0.05),
    ))
    s3.throttle(synthetic.MULTIPART_KEY, MIB)
    plan = service.plan(ses02())
    rec = Recorder()
    engine = engine_for(service, rec)
    runner = threading.Thread(target=engine.run, args=(plan,), daemon=True)
    runner.start()
    dest = service.data_dir / synthetic.MULTIPART_KEY
    part = partfile.part_path(tempnames.own_base(dest))  # this process's temp name while it fetches
    rec.wait_for(lambda e: rec.bytes_of(synthetic.MULTIPART_KEY) > 0)
    engine.pause()
    rec.wait_for(lambda e: isinstance(e, ev.Progress) and e.paused)
    window()  # the lanes' turns under way end
    held = allocated(part)
    window(1.0)  # in which a run that went on would write more
    assert allocated(part) == held < synthetic.MULTIPART_SIZE, "a paused run writes nothing, not even its parts in flight"
    gets = len(s3.gets(synthetic.MULTIPART_KEY))
    engine.resume()
    runner.join(30)
    finished = rec.of(ev.RunFinished)[0]
    assert finished.failed == 0 and not finished.cancelled
    parts = -(-synthetic.MULTIPART_SIZE // MIB)
    assert len(s3.gets(synthetic.MULTIPART_KEY)) == parts and gets < parts, "held parts went on, none asked again"
    assert dest.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data


def test_cancel_keeps_partial_files_for_the_next_run(service, s3, s3_objects):
    s3.throttle(synthetic.MULTIPART_KEY, 2 * MIB)
    plan = service.plan(ses02())
    rec = Recorder()
    engine = engine_for(service, rec)
    runner = threading.Thread(target=engine.run, args=(plan,), daemon=True)
    runner.start()
    dest = service.data_dir / synthetic.MULTIPART_KEY
    part = dest.with_name(dest.name + ".part")  # the shared name it is parked under when cancelled
    rec.wait_for(lambda e: rec.bytes_of(synthetic.MULTIPART_KEY) > MIB)
    assert partfile.part_path(tempnames.current(dest)).exists()
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
