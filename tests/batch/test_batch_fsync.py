"""Data is on stable storage before a file takes its name (issue 21 item 6).

Seen from outside: the batch CLI runs under strace, which logs every
fdatasync; each call's descriptor is the ``.part`` of a file that is renamed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env

from laion_fmri_tui.devserver import synthetic

MIB = 1024 * 1024
SELECTION = ("--subject", "01", "--ses", "01", "02")


def traced(s3, data_dir: Path, log: Path, *args: str) -> subprocess.CompletedProcess:
    if shutil.which("strace") is None:
        if os.environ.get("CI"):
            pytest.fail("strace is missing (install it: .ci/run's apt line)")
        pytest.skip("strace is not installed")
    command = ["strace", "-f", "-qq", "-e", "trace=fdatasync", "-y", "-o", str(log),
               *batch_command(*SELECTION, *args, "--data-dir", str(data_dir), "--endpoint-url", s3.url)]
    return subprocess.run(command, capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL,
                          timeout=180)


def synced(log: Path) -> list[str]:
    """The files fdatasync was called on (strace -y names each descriptor's path)."""
    return re.findall(r"fdatasync\(\d+<([^>]*)>\) = 0", log.read_text())


@pytest.mark.parametrize("part_size", [(), ("--part-size", "1M")], ids=["adapted", "ranged-parts"])
def test_each_large_file_is_flushed_before_its_rename(s3, licensed_data_dir, tmp_path, s3_objects, part_size):
    log = tmp_path / "strace.log"
    result = traced(s3, licensed_data_dir, log, *part_size)
    assert result.returncode == 0, result.stdout + result.stderr
    large = {key for key in (synthetic.LARGE_KEY, synthetic.MULTIPART_KEY)}
    names = [Path(path).name for path in synced(log)]
    for key in large:
        name = Path(key).name
        assert sum(1 for n in names if n.startswith(name + ".") and n.endswith(".part")) == 1, (key, names)
        assert (licensed_data_dir / key).read_bytes() == s3_objects[key].data
    assert len(names) == len(large), "small files written front to back are not flushed one by one"


def test_no_fsync_flushes_nothing(s3, licensed_data_dir, tmp_path):
    log = tmp_path / "strace.log"
    result = traced(s3, licensed_data_dir, log, "--no-fsync")
    assert result.returncode == 0, result.stdout + result.stderr
    assert synced(log) == []
