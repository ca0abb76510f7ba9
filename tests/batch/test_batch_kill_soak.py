"""Issue 21 item 1: a SIGKILL at any moment costs at most 2% of the bytes on disk.

A soak of 40 kills of ``--batch`` at random moments (chosen by the bytes the
link has carried, not by time) through a slow link shared by every connection
(:class:`~laion_fmri_tui.devserver.shaped_link.ShapedLink`), then a last run that finishes. After each
kill the test reads the ``.part`` for the bytes on disk; the next run's Range
headers, from the server's request log, say which of them it asked for again
(see :mod:`laion_fmri_tui.devserver.soak`).

The object lives in a moto server of the test's own, in a child process (see
``own_bucket``), so the session's bucket keeps its file counts.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from batchtools import batch_command, batch_env
from own_bucket import OneObjectBucket, one_object_bucket

from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.devserver import synthetic
from laion_fmri_tui.devserver.shaped_link import ShapedLink
from laion_fmri_tui.devserver.soak import Soak

MIB = 1024 * 1024
KEY = (f"{synthetic.GLM}/sub-05/ses-01/func/"
       "sub-05_ses-01_task-images_space-T1w_stat-effect_desc-Soak_statmap.nii.gz")
SIZE = 64 * MIB
PART = 2 * MIB
SELECTION = ("--subject", "05", "--ses", "01", "--desc", "Soak", "--suffix", "statmap", "--extension", ".nii.gz",
             "--part-size", "2M")
KILLS = 40
RATE = 24 * MIB
"""The whole link's bytes per second, shared by every connection."""
BETWEEN = (256 * 1024, 2 * MIB)
"""Each run is killed when the link has carried this many bytes more (chosen at random)."""
SHARE = 0.02

@pytest.fixture(scope="module")
def bucket() -> Iterator[OneObjectBucket]:
    with one_object_bucket(KEY, SIZE) as served:
        yield served


def test_forty_kills_through_a_slow_link_refetch_at_most_two_percent_of_the_bytes_on_disk(
        bucket, licensed_data_dir):
    data = random.Random(KEY).randbytes(SIZE)
    dest = licensed_data_dir / KEY
    link = ShapedLink(("127.0.0.1", int(bucket.url.rsplit(":", 1)[1])), RATE)
    listed = batch_command(*SELECTION, "--data-dir", str(licensed_data_dir), "--endpoint-url", bucket.url)
    plan = licensed_data_dir.parent / "soak.plan.json"  # each run lists nothing: it starts sooner
    plan.write_text(subprocess.run([*listed, "--dry-run", "--json"], capture_output=True, text=True,
                                   env=batch_env(), stdin=subprocess.DEVNULL, timeout=120, check=True).stdout)
    command = batch_command("--plan", str(plan), "--part-size", "2M", "--data-dir", str(licensed_data_dir),
                            "--endpoint-url", link.url)
    rng = random.Random(21)
    soak = Soak(data, PART)
    try:
        while soak.kills < KILLS:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL, env=batch_env())
            stop_at = link.delivered + rng.randint(*BETWEEN)
            deadline = time.monotonic() + 60  # a failure bound only
            while link.delivered < stop_at and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert not dest.exists(), "the object is larger than the soak: make SIZE larger"
            soak.run_ended(bucket.gets(), partfile.part_path(tempnames.current(dest)))
        last = subprocess.run(command, capture_output=True, text=True, env=batch_env(),
                              stdin=subprocess.DEVNULL, timeout=120)
        assert last.returncode == 0, last.stdout + last.stderr
        soak.run_ended(bucket.gets(), None, killed=False)
    finally:
        link.close()
    print(f"{soak.kills} kills: {soak.again} bytes fetched again of {soak.brought} brought to disk "
          f"({100 * soak.share:.2f}%); {soak.in_flight} sent to killed runs never reached the disk")
    assert dest.read_bytes() == data
    assert soak.kills == KILLS and soak.brought > 8 * MIB, "the killed runs brought bytes to disk"
    assert soak.share <= SHARE, (
        f"{soak.again} bytes fetched again of {soak.brought} brought to disk by {soak.kills} killed runs "
        f"({100 * soak.share:.2f}%)")
