"""``--plan FILE`` runs as a cluster user meets them: an unreachable bucket,
a file changed since the plan, a hand-edited plan, ``--verify --repair --dry-run``."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from batchtools import files_under

from laion_fmri_tui.devserver import synthetic

SELECTION = ("--subject", "03", "--only", "rois")  # 34 small files


def _plan(run_batch, data_dir: Path, tmp_path: Path) -> Path:
    """A plan saved from ``--dry-run --json``, as the README says one is made by hand."""
    result = run_batch(*SELECTION, "--data-dir", str(data_dir), "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "saved.plan.json"
    path.write_text(result.stdout)
    return path


def _dead_endpoint() -> str:
    """An address where nothing listens (the port was just free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_plan_against_an_unreachable_bucket_is_exit_4_with_the_listing_line(
        run_batch, licensed_data_dir, tmp_path):
    plan = _plan(run_batch, licensed_data_dir, tmp_path)
    dead = _dead_endpoint()
    listed = run_batch(*SELECTION, "--data-dir", str(licensed_data_dir), "--endpoint-url", dead, endpoint=False)
    frozen = run_batch("--plan", str(plan), "--endpoint-url", dead, "--retries", "1", endpoint=False)
    assert listed.returncode == 4, listed.stderr
    assert frozen.returncode == 4, frozen.stdout + frozen.stderr
    assert frozen.stderr == listed.stderr and len(frozen.stderr.splitlines()) == 1, frozen.stderr
    assert frozen.stdout == "" and files_under(licensed_data_dir) == set()


def test_a_plan_with_nothing_to_fetch_needs_no_bucket(run_batch, licensed_data_dir, tmp_path):
    """The probe is for runs that fetch: a complete tree checks out without a network."""
    assert run_batch(*SELECTION, "--data-dir", str(licensed_data_dir)).returncode == 0
    plan = _plan(run_batch, licensed_data_dir, tmp_path)
    again = run_batch("--plan", str(plan), "--endpoint-url", _dead_endpoint(), endpoint=False)
    assert again.returncode == 0, again.stderr
    assert "skipped 34 files already complete" in again.stdout


def test_files_changed_since_the_plan_say_make_a_new_plan_only(
        run_batch, s3, s3_objects, licensed_data_dir, tmp_path, monkeypatch):
    """Every failure an ETag change: a rerun of the same plan cannot mend it, so the
    log must not tell the user to rerun it."""
    plan = _plan(run_batch, licensed_data_dir, tmp_path)
    changed = sorted(item["key"] for item in json.loads(plan.read_text())["items"])[-1]
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)  # the seeding client's PUT reads it
    monkeypatch.delenv("AWS_PROFILE")
    admin = s3.admin()
    admin.put_object(Bucket=synthetic.BUCKET, Key=changed, Body=s3_objects[changed].data + b"!",
                     ACL="public-read")
    try:
        result = run_batch("--plan", str(plan))
    finally:
        admin.put_object(Bucket=synthetic.BUCKET, Key=changed, Body=s3_objects[changed].data,
                         ACL="public-read")
    log = result.stdout + result.stderr
    assert result.returncode == 1, log
    assert f"FAILED   {changed}: changed" in log
    assert "1 file(s) changed in the bucket since the plan" in log and "make a new plan" in log
    assert "rerun the same command" not in log, log


@pytest.mark.parametrize("key", [".laion_fmri/license_accepted", "README.part",
                                 "derivatives/x.nii.gz.part.json", "README.lock"])
def test_a_plan_key_that_names_the_tools_own_files_is_refused(run_batch, licensed_data_dir, tmp_path, key):
    plan = _plan(run_batch, licensed_data_dir, tmp_path)
    document = json.loads(plan.read_text())
    document["items"][0].update(key=key, path=str(licensed_data_dir.resolve() / key))
    plan.write_text(json.dumps(document))
    result = run_batch("--plan", str(plan))
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert key in line and "own files" in line, line
    assert files_under(licensed_data_dir) == set()


def test_verify_repair_dry_run_is_refused_and_writes_nothing(run_batch, s3, licensed_data_dir, tmp_path):
    plan = _plan(run_batch, licensed_data_dir, tmp_path)
    s3.clear_log()
    for argv in (("--plan", str(plan)), (*SELECTION, "--data-dir", str(licensed_data_dir))):
        result = run_batch(*argv, "--verify", "--repair", "--dry-run")
        assert result.returncode == 2, result.stdout + result.stderr
        [line] = result.stderr.splitlines()
        assert "--dry-run" in line and "--repair" in line, line
    assert files_under(licensed_data_dir) == set()
    assert not [r for r in s3.requests if r.method == "GET" and r.key], "a dry run fetches nothing"
