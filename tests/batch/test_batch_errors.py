"""Exit codes and one-line errors: every user mistake is named, never a traceback."""

from __future__ import annotations

import json
import re

import pytest
from batchtools import files_under

from laion_fmri_tui.core.plan.bids import bidsify_local_key
from laion_fmri_tui.devserver import synthetic

GLM = "derivatives/glmsingle-tedana"


def one_line_error(result) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_exit_0_when_everything_is_fetched(run_batch, licensed_data_dir):
    result = run_batch("--subject", "03", "--ses", "03", "--data-dir", str(licensed_data_dir))
    assert result.returncode == 0, result.stderr
    assert "0 failed" in result.stdout.splitlines()[-1]


def test_exit_1_when_a_file_fails_and_the_others_still_land(run_batch, s3, licensed_data_dir, s3_objects):
    broken = f"{GLM}/sub-03/ses-03/func/sub-03_ses-03_task-images_desc-GLMsingle_summary.json"
    s3.fail_next(broken, 10, "reset")
    result = run_batch("--subject", "03", "--ses", "03", "--retries", "2", "--data-dir", str(licensed_data_dir))
    assert result.returncode == 1, result.stderr
    assert f"FAILED   {broken}" in result.stdout
    assert "rerun the same command to retry" in result.stdout
    assert len(s3.gets(broken)) == 2
    assert not (licensed_data_dir / broken).exists()
    others = [k for k in s3_objects if k.startswith(f"{GLM}/sub-03/ses-03/") and k != broken]
    for key in others:
        assert (licensed_data_dir / key).read_bytes() == s3_objects[key].data


def test_json_names_a_failures_kind_as_the_same_string_as_ever(run_batch, s3, licensed_data_dir):
    """Scripts read ``kind`` of ``file_failed``: it stays a plain string (here
    ``transient``: a connection that keeps dropping, its retries spent)."""
    broken = f"{GLM}/sub-03/ses-03/func/sub-03_ses-03_task-images_desc-GLMsingle_summary.json"
    s3.fail_next(broken, 10, "reset")
    result = run_batch("--subject", "03", "--ses", "03", "--retries", "2", "--json",
                       "--data-dir", str(licensed_data_dir))
    assert result.returncode == 1, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    [failed] = [e for e in events if e["event"] == "file_failed"]
    assert failed["key"] == broken and failed["kind"] == "transient" and "network error" in failed["error"]
    [finished] = [e for e in events if e["event"] == "run_finished"]
    assert finished["failures"] == [{"key": broken, "error": failed["error"]}]


def test_transient_503_and_dropped_connections_are_retried(run_batch, s3, licensed_data_dir, s3_objects):
    slow = f"{GLM}/sub-03/ses-03/func/sub-03_ses-03_task-images_desc-SingletrialBetas_trials.tsv"
    dropped = f"{GLM}/sub-03/ses-03/func/sub-03_ses-03_task-images_desc-GLMsingle_summary.json"
    s3.fail_next(slow, 2, "503")
    s3.fail_next(dropped, 1, "reset")
    result = run_batch("--subject", "03", "--ses", "03", "--data-dir", str(licensed_data_dir))
    assert result.returncode == 0, result.stderr
    assert [g.status for g in s3.gets(slow)] == [503, 503, 200]
    assert len(s3.gets(dropped)) == 2
    said = [int(m[1]) for m in re.finditer(r"^warning: retrying (\d+) requests? for", result.stderr, re.M)]
    assert sum(said) == 3, result.stderr  # the two 503s and the reset, summed up
    for key in (slow, dropped):
        assert (licensed_data_dir / key).read_bytes() == s3_objects[key].data


def test_a_denied_key_is_skipped_with_its_reason_and_the_run_goes_on(run_batch, s3, licensed_data_dir):
    denied = f"{GLM}/sub-03/ses-02/func/sub-03_ses-02_task-images_space-T1w_desc-Fracridge_statmap.json"
    s3.admin().put_object_acl(Bucket=synthetic.BUCKET, Key=denied, ACL="private")
    try:
        result = run_batch("--subject", "03", "--ses", "02", "--json", "--data-dir", str(licensed_data_dir))
    finally:
        s3.admin().put_object_acl(Bucket=synthetic.BUCKET, Key=denied, ACL="public-read")
    assert result.returncode == 5, result.stderr  # complete except a refused key: not 0, not 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    skipped = [e for e in events if e["event"] == "file_skipped" and e["key"] == denied]
    assert skipped and "403" in skipped[0]["reason"]
    assert not (licensed_data_dir / denied).exists()
    assert not (licensed_data_dir / (denied + ".part")).exists()
    [finished] = [e for e in events if e["event"] == "run_finished"]
    assert finished["done"] == events[0]["files"] - 1 and finished["skipped"] == 1
    assert events[-1]["event"] == "notice" and "1 key(s) refused by the bucket" in events[-1]["message"]


def test_a_key_that_would_escape_the_data_dir_is_refused(run_batch, s3, licensed_data_dir, tmp_path):
    from moto.s3.models import s3_backends

    evil = "derivatives/rois/sub-03/face/../../../../../escape.txt"
    account_partition = s3_backends.bucket_accounts[synthetic.BUCKET]
    backend = s3_backends[account_partition[1]][account_partition[0]]
    obj = backend.put_object(synthetic.BUCKET, evil, b"outside!", disable_notification=True)
    from moto.s3.models import get_canned_acl
    obj.set_acl(get_canned_acl("public-read"))
    try:
        result = run_batch("--subject", "03", "--ses", "01", "--data-dir", str(licensed_data_dir))
    finally:
        backend.delete_object(synthetic.BUCKET, evil)
    assert result.returncode == 0, result.stderr
    assert f"skipped  {evil}  (refusing S3 key" in result.stdout
    assert not any(p.name == "escape.txt" for p in tmp_path.rglob("escape.txt"))
    assert s3.gets(evil) == []


def test_exit_3_without_the_licence_and_no_prompt_without_a_terminal(run_batch, data_dir):
    result = run_batch("--subject", "01", "--data-dir", str(data_dir))
    assert result.returncode == 3
    line = one_line_error(result)
    assert "licence" in line and "--accept-license" in line
    assert files_under(data_dir) == set()


def test_accept_license_writes_the_marker_the_dataset_package_reads(run_batch, data_dir):
    result = run_batch("--subject", "03", "--ses", "03", "--accept-license", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert (data_dir / ".laion_fmri" / "license_accepted").is_file()


def test_exit_4_when_the_endpoint_is_unreachable(run_batch, licensed_data_dir):
    result = run_batch("--subject", "01", "--data-dir", str(licensed_data_dir),
                       "--endpoint-url", "http://127.0.0.1:9", endpoint=False)
    assert result.returncode == 4
    line = one_line_error(result)
    assert "could not reach" in line and "127.0.0.1:9" in line


def test_the_data_dir_comes_from_the_dataset_package_config(run_batch, licensed_data_dir, tmp_path):
    config = tmp_path / "home" / ".config" / "laion_fmri" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"data_dir": str(licensed_data_dir)}))
    result = run_batch("--subject", "03", "--ses", "03")
    assert result.returncode == 0, result.stderr
    assert (licensed_data_dir / "dataset_description.json").is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--subject", "sub-0 1"], "malformed subject"),
        (["--subject", "01", "--include-embeddings", "ResNet"], "unknown embedding model 'ResNet'"),
        (["--subject", "99"], "unknown subject sub-99; available: sub-01, sub-03, sub-05, sub-07"),
        (["--subject", "01", "--only", "glmsingle", "--ses", "31"], "ses-31 is held out"),
        (["--subject", "01", "--n-jobs", "0"], "--n-jobs/--jobs: must be between 1 and 256 (got 0)"),
        (["--subject", "01", "--part-size", "lots"], "not a size"),
        (["--subject", "01", "--part-size", "1"], "--part-size: must be at least 256K (got 1)"),
        (["--subject", "01", "--part-size", "255K"], "--part-size: must be at least 256K (got 255K)"),
        (["--subject", "01", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        ([], "nothing to download"),
    ],
)
def test_usage_errors_exit_2_with_one_line(run_batch, licensed_data_dir, args, expected):
    result = run_batch(*args, "--data-dir", str(licensed_data_dir))
    assert result.returncode == 2
    assert expected in one_line_error(result)


def test_missing_data_dir_exits_2(run_batch, tmp_path):
    missing = tmp_path / "nope"
    result = run_batch("--subject", "01", "--data-dir", str(missing))
    assert result.returncode == 2
    line = one_line_error(result)
    assert "does not exist" in line and f"mkdir -p {missing}" in line


def test_no_data_dir_configured_exits_2(run_batch):
    result = run_batch("--subject", "01")
    assert result.returncode == 2
    assert "no data directory: pass --data-dir DIR" in one_line_error(result)


def test_multipart_and_plain_md5_checks_are_reported(run_batch, licensed_data_dir):
    result = run_batch("--subject", "01", "--ses", "01", "02", "--part-size", "2M",
                       "--data-dir", str(licensed_data_dir))
    assert result.returncode == 0, result.stderr
    assert f"done     {synthetic.MULTIPART_KEY}  11.0 MB  etag ok" in result.stdout
    assert f"done     {synthetic.LARGE_KEY}  4.2 MB  md5 ok" in result.stdout
    assert bidsify_local_key(synthetic.MULTIPART_KEY) in files_under(licensed_data_dir)


@pytest.mark.parametrize(("url", "code", "said"), [
    ("http://127.0.0.1:99999", 2, "is not an http(s) URL with a host"),  # a port out of range
    ("127.0.0.1:9000", 2, "is not an http(s) URL with a host"),  # no scheme
    ("http://bad..host", 4, "could not reach the S3 endpoint http://bad..host (host not found)"),
])
def test_a_malformed_endpoint_is_one_clear_error(run_batch, licensed_data_dir, url, code, said):
    """A URL that cannot be one is a usage error at once (exit 2), before any
    request; a host name that cannot be encoded is not found (exit 4). One
    line that says why, never a traceback."""
    result = run_batch("--subject", "01", "--data-dir", str(licensed_data_dir), "--endpoint-url", url,
                       endpoint=False)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert said in one_line_error(result)
