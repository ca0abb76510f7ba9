"""Checks of files fetched as parallel parts: SIMD MD5 lanes, the hash pool, corruption."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

import pytest

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.settings import EngineSettings, S3Settings, ServiceSettings
from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.core.service import DownloadService
from laion_fmri_tui.core.transfer import hash_pool, part_window
from laion_fmri_tui.core.integrity import md5_steps
from laion_fmri_tui.core.disk import partfile
from laion_fmri_tui.core.integrity.md5_steps import Md5Stream, update_together
from laion_fmri_tui.core.disk.partfile import PartRecord
from laion_fmri_tui.devserver import synthetic
from engines import engine_for

KIB = 1024
MIB = 1024 * KIB
CHUNKED = (synthetic.MULTIPART_KEY, synthetic.LARGE_KEY)


def test_lanes_give_hashlibs_digests_for_any_length_and_lane_count(lanes):
    rng = random.Random(5)
    lengths = [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 4096 + 7, 70_000]
    for count in (1, 2, 7, 16):
        messages = [rng.randbytes(rng.choice(lengths)) for _ in range(count)]
        streams = [Md5Stream() for _ in messages]
        # whole blocks together while every message has them, then each one's rest alone
        common = min(len(m) for m in messages) // 64 * 64
        update_together(streams, [memoryview(m) for m in messages], common, [False] * count)
        for stream, message in zip(streams, messages):
            update_together([stream], [memoryview(message)[common:]], len(message) - common, [True])
        assert [s.hexdigest() for s in streams] == [hashlib.md5(m).hexdigest() for m in messages]


def test_a_partial_block_is_refused_before_the_end_of_a_message():
    if not md5_steps.NATIVE:
        pytest.skip("hashlib takes any length")
    with pytest.raises(ValueError):
        update_together([Md5Stream()], [memoryview(bytes(100))], 100, [False])


def _service(s3, data_dir, part_size: int) -> DownloadService:
    return DownloadService(ServiceSettings(
        data_dir=data_dir, s3=S3Settings(endpoint_url=s3.url),
        engine=EngineSettings(jobs=4, part_size=part_size, progress_interval=0.1),
    ))


def _ses(ses: str) -> Selection:
    return Selection(subjects=("sub-01",), filters=Filters.build(ses=[ses]), components=frozenset({"glmsingle"}))


def _run(service: DownloadService, *sessions: str) -> list:
    events: list = []
    for ses in sessions:
        engine_for(service, events.append).run(service.plan(_ses(ses)))
    return events


@pytest.mark.parametrize("part_size", [256 * KIB, 192 * KIB], ids=["aligned", "misaligned"])
def test_parts_are_checked_against_plain_and_multipart_etags(lanes, s3, data_dir, s3_objects, part_size):
    """192 KiB parts do not divide the 5 MiB upload parts: spans end inside a part."""
    events = _run(_service(s3, data_dir, part_size), "01", "02")
    done = {e.key: e.verified for e in events if isinstance(e, ev.FileDone)}
    assert done[synthetic.MULTIPART_KEY] == "etag" and done[synthetic.LARGE_KEY] == "md5"
    assert not [e for e in events if isinstance(e, ev.FileFailed)]
    for key in CHUNKED:
        assert (data_dir / key).read_bytes() == s3_objects[key].data
        assert len(s3.gets(key)) > 1, "fetched as parallel parts"


@pytest.fixture
def read_backs(monkeypatch) -> list[int]:
    """The bytes the hash pool reads back from ``.part`` files, window by window."""
    seen: list[int] = []

    class Counted(part_window.PartWindow):
        def __init__(self, fd: int, start: int, length: int) -> None:
            seen.append(length)
            super().__init__(fd, start, length)

    monkeypatch.setattr(part_window, "PartWindow", Counted)
    monkeypatch.setattr(hash_pool, "PartWindow", Counted)
    return seen


@pytest.mark.parametrize("part_size, read_back", [(5 * MIB, 0), (10 * MIB, 0), (7 * MIB, 5 * MIB)],
                         ids=["one-per-part", "two-per-part", "one-across-parts"])
def test_upload_parts_inside_a_ranged_part_are_hashed_as_they_arrive(lanes, s3, data_dir, s3_objects, read_backs,
                                                                     part_size, read_back):
    """The 10.5 MiB object was uploaded in 5 MiB parts. Those that lie inside one
    ranged part are hashed from the bytes as they arrive; with 7 MiB parts the
    second (5-10 MiB) spans two of them and is read back from the file instead."""
    key = synthetic.MULTIPART_KEY
    events = _run(_service(s3, data_dir, part_size), "02")
    assert {e.key: e.verified for e in events if isinstance(e, ev.FileDone)}[key] == "etag"
    assert (data_dir / key).read_bytes() == s3_objects[key].data
    assert len(s3.gets(key)) == -(-synthetic.MULTIPART_SIZE // part_size)
    assert sum(read_backs) == read_back


@pytest.mark.parametrize("key, part_size", [(synthetic.MULTIPART_KEY, 256 * KIB), (synthetic.LARGE_KEY, 256 * KIB),
                                            (synthetic.MULTIPART_KEY, 5 * MIB)],
                         ids=["multipart-etag-read-back", "plain-md5", "multipart-etag-streamed"])
def test_a_corrupted_part_fails_the_file_and_a_rerun_fetches_it(lanes, s3, data_dir, s3_objects, key, part_size):
    service = _service(s3, data_dir, part_size)
    ses = key.split("/ses-")[1][:2]
    s3.fail_next(key, 1, "flip")
    events = _run(service, ses)
    failed = {e.key: e.error for e in events if isinstance(e, ev.FileFailed)}
    assert list(failed) == [key] and "checksum mismatch" in failed[key]
    dest = data_dir / key
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    assert any(isinstance(e, ev.FileDone) for e in events), "the other files are kept"
    again = _run(service, ses)
    assert not [e for e in again if isinstance(e, ev.FileFailed)]
    assert dest.read_bytes() == s3_objects[key].data


@pytest.mark.parametrize("intact", [True, False], ids=["intact", "corrupted"])
def test_parts_left_by_an_earlier_run_are_checked_before_they_are_kept(lanes, s3, data_dir, s3_objects, intact):
    """What a run killed after its last part but before the rename leaves: every part
    recorded as done. It is checked when the file is opened, and kept only when it
    matches the ETag; else it is discarded with a notice and fetched again at once."""
    key, chunk = synthetic.MULTIPART_KEY, 256 * KIB
    obj = s3_objects[key]
    service = _service(s3, data_dir, chunk)
    etag = next(item.etag for item in service.plan(_ses("02")).items if item.key == key)
    data = bytearray(obj.data)
    if not intact:
        data[len(data) // 2] ^= 0x01
    dest = data_dir / key
    dest.parent.mkdir(parents=True)
    partfile.part_path(dest).write_bytes(bytes(data))
    record = PartRecord.with_parts(len(data), etag, chunk, list(range(-(-len(data) // chunk))))
    partfile.write_record(dest, record, fresh=True)
    s3.reset()
    events = _run(service, "02")
    assert {e.key: e.verified for e in events if isinstance(e, ev.FileDone)}[key] == "etag"
    assert dest.read_bytes() == obj.data
    notices = [e.message for e in events if isinstance(e, ev.Notice) and key in e.message]
    if intact:
        assert not s3.gets(key), "nothing fetched again"
        assert not notices
    else:
        assert s3.bytes_sent(key) == len(data), "fetched again, whole, in the same run"
        assert len(notices) == 1 and "fail the check" in notices[0], notices
    assert not partfile.part_path(dest).exists() and not partfile.record_path(dest).exists()


def _open_parts() -> list[str]:
    """This process's descriptors that point at a ``.part``."""
    fds = Path("/proc/self/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            pass
    return [t for t in targets if t.endswith(".part")]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_cancelled_run_closes_every_part_file_it_opened(s3, data_dir):
    """Parts still queued at a cancel end as cancelled: their files are closed, not leaked."""
    service = _service(s3, data_dir, 256 * KIB)
    s3.throttle(synthetic.MULTIPART_KEY, 1024 * KIB)
    events: list = []
    engine = engine_for(service, events.append)
    runner = threading.Thread(target=engine.run, args=(service.plan(_ses("02")),))
    runner.start()
    deadline = time.monotonic() + 20
    while not any(isinstance(e, ev.FileStarted) and e.key == synthetic.MULTIPART_KEY for e in list(events)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    engine.cancel()
    runner.join(20)
    finished = [e for e in events if isinstance(e, ev.RunFinished)]
    assert finished and finished[0].cancelled
    assert _open_parts() == []
    dest = data_dir / synthetic.MULTIPART_KEY
    assert partfile.part_path(dest).exists() and not dest.exists(), "the .part stays for the next run"
