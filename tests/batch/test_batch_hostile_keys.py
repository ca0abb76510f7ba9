"""Keys the bucket may hold that must not reach the disk or the terminal as they are:
two keys that map to one local path, and keys with control characters."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env, files_under
from own_bucket import own_bucket

FS = "derivatives/freesurfer/sub-07/"
HYPHENATED = FS + "label/sub-07_label-FFA-1_mask.txt"
PLAIN = FS + "label/sub-07_label-FFA1_mask.txt"  # de-hyphenated, both land at this path
EVIL = FS + "mri/evil\x1b]0;pwned\x07\r[ 100%] 9 of 9 files\n\x1b[2Jdone.txt"
FINE = FS + "mri/fine.txt"
PART = FS + "mri/orig.mgz.part"  # the name of a temp file
LOCK = FINE + ".lock"  # the name of FINE's lock
EXTRA = {HYPHENATED: "the hyphenated one", PLAIN: "the plain one", EVIL: "evil", FINE: "fine",
         PART: "not a temp file", LOCK: "not a lock"}
ARGS = ("--subject", "07", "--only", "freesurfer", "--accept-license")


# The module's own bucket server is started once per xdist worker: keep its tests on one
# worker so it starts once (tests/conftest.py says what else runs on one worker).
pytestmark = pytest.mark.xdist_group("batch_hostile_keys")


@pytest.fixture(scope="module")
def bucket() -> Iterator[str]:
    with own_bucket(EXTRA) as url:
        yield url


def run(url: str, data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(batch_command(*ARGS, *extra, "--data-dir", str(data_dir), "--endpoint-url", url),
                          capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)


def test_two_keys_at_one_local_path_fail_naming_both(bucket, data_dir):
    result = run(bucket, data_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"FAILED   {PLAIN}: {PLAIN} and {HYPHENATED} map to one local path {PLAIN}; "
            f"only {HYPHENATED} is fetched") in result.stdout
    assert (data_dir / PLAIN).read_text() == "the hyphenated one"
    assert (data_dir / FINE).read_text() == "fine"
    assert "cannot write" not in result.stdout + result.stderr


def test_control_characters_of_a_key_never_reach_the_terminal_raw(bucket, data_dir):
    result = run(bucket, data_dir)
    for text in (result.stdout, result.stderr):
        assert not set(text) & {"\x1b", "\x07", "\r"}, "no ESC, BEL or CR from a key"
        assert "\n[ 100%]" not in text and "\n\x1b" not in text, "no line forged by a key"
    assert "mri/evil\\x1b]0;pwned\\x07\\x0d[ 100%] 9 of 9 files\\x0a\\x1b[2Jdone.txt" in result.stdout
    assert "control characters in it (unsafe as a file name)" in result.stdout
    assert not [p for p in files_under(data_dir) if "evil" in p], "such a key is refused as a local name"


def test_json_output_escapes_them_too(bucket, data_dir):
    result = run(bucket, data_dir, "--json")
    assert not set(result.stdout) & {"\x1b", "\x07", "\r"}
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(e["event"] == "file_skipped" and e["key"] == EVIL for e in events)


def test_dry_run_and_verify_escape_them(bucket, data_dir):
    for extra in (("--dry-run",), ("--verify",)):
        result = run(bucket, data_dir, *extra)
        assert not set(result.stdout + result.stderr) & {"\x1b", "\x07", "\r"}, extra


def test_keys_named_like_the_tools_own_files_are_refused(bucket, data_dir):
    """A key ``X.part`` or ``X.lock`` would be taken for another file's temp file or lock."""
    result = run(bucket, data_dir)
    for key in (PART, LOCK):
        assert f"refusing S3 key {key!r}: the tool's own files have that name" in result.stdout, result.stdout
    on_disk = files_under(data_dir)
    assert not [p for p in on_disk if p.endswith((".part", ".lock"))], on_disk
    assert (data_dir / FINE).read_text() == "fine"
