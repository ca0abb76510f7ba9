"""A multipart ETag that several part sizes fit is still checked byte for byte.

10.5 MiB uploaded in parts of 8 MiB has the ETag ``<md5>-2``; parts of 6, 7, 8,
9 or 10 MiB all give two parts, so no single part size can be inferred. Every
candidate's ETag is computed in one pass and one must match (issue 21 item 2:
such files used to be checked by size only, and a flipped byte passed).

The object lives in a moto server of the test's own, in a child process (see
``own_bucket``), so the session's bucket keeps its file counts; the child
flips the first byte of the object's first GET when asked.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env
from own_bucket import OneObjectBucket, one_object_bucket

from laion_fmri_tui.devserver import synthetic

MIB = 1024 * 1024
KEY = (f"{synthetic.GLM}/sub-05/ses-01/func/"
       "sub-05_ses-01_task-images_space-T1w_stat-effect_desc-Ambiguous_statmap.nii.gz")
SIZE = 10 * MIB + MIB // 2
DATA = random.Random(KEY).randbytes(SIZE)
SELECTION = ("--subject", "05", "--ses", "01", "--desc", "Ambiguous", "--suffix", "statmap", "--extension", ".nii.gz")

# The module's own bucket server is started once per xdist worker: keep its tests on one
# worker so it starts once (tests/conftest.py says what else runs on one worker).
pytestmark = pytest.mark.xdist_group("batch_ambiguous_etag")


@pytest.fixture(scope="module")
def bucket() -> Iterator[OneObjectBucket]:
    with one_object_bucket(KEY, SIZE) as served:
        yield served


def run(url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(batch_command(*SELECTION, *args, "--data-dir", str(data_dir), "--endpoint-url", url),
                          capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)


@pytest.mark.parametrize("how", [(), ("--part-size", "1M")], ids=["sequential", "ranged-parts"])
def test_a_flipped_byte_under_an_ambiguous_multipart_etag_fails_the_file(bucket, licensed_data_dir, how):
    dest = licensed_data_dir / KEY
    bucket.flip_next()
    first = run(bucket.url, licensed_data_dir, *how)
    assert first.returncode == 1, first.stdout + first.stderr
    assert f"FAILED   {KEY}: checksum mismatch" in first.stdout
    assert not dest.exists()
    again = run(bucket.url, licensed_data_dir, *how)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"done     {KEY}  11.0 MB  etag ok" in again.stdout
    assert dest.read_bytes() == DATA


def test_verify_finds_a_flipped_byte_under_an_ambiguous_multipart_etag(bucket, licensed_data_dir):
    dest = licensed_data_dir / KEY
    assert run(bucket.url, licensed_data_dir).returncode == 0
    good = run(bucket.url, licensed_data_dir, "--verify")
    assert good.returncode == 0, good.stdout + good.stderr
    data = bytearray(dest.read_bytes())
    data[SIZE // 2] ^= 0x01
    dest.write_bytes(bytes(data))
    bad = run(bucket.url, licensed_data_dir, "--verify")
    assert bad.returncode != 0
    lines = [line for line in bad.stdout.splitlines() if KEY in line]
    assert lines and "checksum mismatch" in lines[0], bad.stdout
