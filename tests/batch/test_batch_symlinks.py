"""Symbolic links planted in the data directory are never written through.

On group-writable scratch anyone can plant a link at a file's temp names or
final path; the tool refuses such a file with one clear line (or, for names
it does not use, ignores the link) and the file the link points to is left
exactly as it was. A link to a folder that the user made is followed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env

from laion_fmri_tui.devserver import synthetic

ARGS = ("--subject", "01", "--ses", "02", "--part-size", "1M")
OUTSIDE = b"a file outside the data directory, not to be touched\n"


def run(s3, data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(batch_command(*ARGS, *extra, "--data-dir", str(data_dir), "--endpoint-url", s3.url),
                          capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)


@pytest.mark.parametrize("suffix, refused", [(".part", True), (".lock", True),
                                             (".part.json", False), (".part.json.tmp", False)])
def test_a_link_at_a_temp_name_is_never_written_through(s3, licensed_data_dir, tmp_path, s3_objects, suffix, refused):
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(OUTSIDE)
    link = big.with_name(big.name + suffix)
    link.symlink_to(outside)

    result = run(s3, licensed_data_dir)

    assert outside.read_bytes() == OUTSIDE, "the linked file is untouched"
    assert "Traceback" not in result.stderr
    if refused:
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"FAILED   {synthetic.MULTIPART_KEY}: refusing {link}: it is a symbolic link; remove it and rerun" \
            in result.stdout
        assert not big.exists() and link.is_symlink()
        assert "done     " in result.stdout, "the other files are fetched"
    else:  # a name the run does not use: its own temp names are per process
        assert result.returncode == 0, result.stdout + result.stderr
        assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data


def test_a_link_at_the_final_path_does_not_count_as_complete(s3, licensed_data_dir, tmp_path):
    """A link to an outside file of the right size: refused, by the run and by --verify."""
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    outside = tmp_path / "outside.bin"
    content = b"\0" * synthetic.MULTIPART_SIZE
    outside.write_bytes(content)
    big.symlink_to(outside)

    result = run(s3, licensed_data_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"FAILED   {synthetic.MULTIPART_KEY}: refusing {big}: the file's path is a symbolic link "
            "(links to folders are followed, links to files are not); replace it with the file or remove it"
            ) in result.stdout
    assert s3.gets(synthetic.MULTIPART_KEY) == []
    assert outside.read_bytes() == content and big.is_symlink()

    verify = run(s3, licensed_data_dir, "--verify")
    assert verify.returncode == 1
    assert f"BAD      {synthetic.MULTIPART_KEY}: refusing {big}: the file's path is a symbolic link" in verify.stdout


def test_a_folder_the_user_linked_is_followed(s3, licensed_data_dir, tmp_path, s3_objects):
    elsewhere = tmp_path / "other-disk"
    elsewhere.mkdir()
    (licensed_data_dir / "derivatives").symlink_to(elsewhere)
    result = run(s3, licensed_data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    landed = elsewhere / synthetic.MULTIPART_KEY.removeprefix("derivatives/")
    assert landed.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    assert not [p for p in elsewhere.rglob("*") if p.name.endswith((".part", ".part.json", ".lock"))]
    assert os.path.islink(licensed_data_dir / "derivatives")
