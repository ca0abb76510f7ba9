"""The package's other commands, headless: ``config`` and ``info``, as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from batchtools import batch_env

from laion_fmri_tui.devserver import synthetic

GLM = "derivatives/glmsingle-tedana"


def tool(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``laion-fmri-tui ARGS`` (no --batch added) with the test's environment."""
    return subprocess.run([sys.executable, "-m", "laion_fmri_tui", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=batch_env(), timeout=timeout)


def one_line_error(result) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def config_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "laion_fmri" / "config.json"


# ---- --help ------------------------------------------------------------------

@pytest.mark.parametrize("help_args", [["--help"], ["--batch", "--help"]])
def test_help_shows_both_commands(help_args):
    result = tool(*help_args)
    assert result.returncode == 0, result.stderr
    assert "laion-fmri-tui config --data-dir DIR" in result.stdout
    assert "laion-fmri-tui info [--subject ID|all] [--json]" in result.stdout
    assert "--retry-for TIME" in result.stdout  # the app and --batch both take it


@pytest.mark.parametrize("args", [["--retry-for", "soon"], ["--batch", "--retry-for", "10x", "--subject", "01"]])
def test_a_retry_for_that_is_not_a_time_is_a_usage_error(args):
    result = tool(*args)
    assert result.returncode == 2 and "is not a time" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---- config --------------------------------------------------------------------

def test_config_writes_the_file_the_dataset_package_reads(data_dir, tmp_path):
    result = tool("config", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert str(data_dir.resolve()) in result.stdout
    # The package's get_data_dir(): json.load(<XDG_CONFIG_HOME>/laion_fmri/config.json)["data_dir"]
    assert json.loads(config_file().read_text()) == {"data_dir": str(data_dir.resolve())}
    assert (data_dir / ".laion_fmri").is_dir()


def test_config_relative_dir_is_stored_absolute_and_used_by_batch(run_batch, data_dir, s3):
    """Relative paths are resolved (the package stores them as typed, so they
    depend on the working directory); --batch then needs no --data-dir."""
    result = subprocess.run([sys.executable, "-m", "laion_fmri_tui", "--batch", "config", "--data-dir", "data"],
                            cwd=data_dir.parent, capture_output=True, text=True, env=batch_env())
    assert result.returncode == 0, result.stderr
    assert json.loads(config_file().read_text())["data_dir"] == str(data_dir.resolve())
    run = run_batch("--subject", "03", "--ses", "03", "--accept-license")
    assert run.returncode == 0, run.stderr
    assert (data_dir / GLM / "sub-03" / "ses-03").is_dir()


def test_config_keeps_other_settings_in_the_file(data_dir):
    config_file().parent.mkdir(parents=True)
    config_file().write_text(json.dumps({"data_dir": "/old", "other": 1}))
    assert tool("config", "--data-dir", str(data_dir)).returncode == 0
    assert json.loads(config_file().read_text()) == {"data_dir": str(data_dir.resolve()), "other": 1}


@pytest.mark.parametrize(("args", "expected"), [
    (["config"], "the following arguments are required: --data-dir"),
    (["config", "--data-dir", "/nonexistent/laion"], "does not exist; create it"),
    (["config", "--data-dir", "x", "--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_config_bad_input_is_one_line_exit_2(args, expected):
    result = tool(*args)
    assert result.returncode == 2
    assert expected in one_line_error(result)
    assert not config_file().exists()


# ---- info ------------------------------------------------------------------------

def test_info_lists_subjects_and_parts_without_downloading(s3, data_dir):
    result = tool("info", "--endpoint-url", s3.url)
    assert result.returncode == 0, result.stderr
    assert "s3://laion-fmri: 4 subjects" in result.stdout
    assert "  sub-01  glmsingle rois freesurfer anatomical localizers raw\n" in result.stdout
    assert "  sub-07  raw\n" in result.stdout
    assert "stimuli/task-images_desc-CLIP_embeddings.h5" in result.stdout
    assert not [r for r in s3.requests if r.method == "GET" and r.key], "info downloads nothing"
    assert list(data_dir.iterdir()) == []


def test_info_subject_sessions_sizes_and_local_state_as_json(run_batch, s3, access, licensed_data_dir, s3_objects):
    fetched = run_batch("--subject", "01", "--ses", "02", "--data-dir", str(licensed_data_dir))
    assert fetched.returncode == 0, fetched.stderr
    s3.clear_log()
    result = tool("info", "--subject", "01", "--json", "--data-dir", str(licensed_data_dir),
                  "--endpoint-url", s3.url, "--access-url", access.url)
    assert result.returncode == 0, result.stderr
    assert not [r for r in s3.requests if r.method == "GET" and r.key]
    info = json.loads(result.stdout)
    assert info["subjects"] == ["sub-01", "sub-03", "sub-05", "sub-07"]
    assert info["parts"]["sub-03"] == ["glmsingle", "rois"]
    (detail,) = info["details"]
    parts = {p["part"]: p for p in detail["parts"]}
    assert list(parts) == ["glmsingle", "rois", "freesurfer", "anatomical", "localizers", "raw"]
    sessions = {s["session"]: s for s in parts["glmsingle"]["sessions"]}
    ses02 = [o for k, o in s3_objects.items() if k.startswith(f"{GLM}/sub-01/ses-02/")]
    assert sessions["ses-02"]["files"] == sessions["ses-02"]["local_files"] == len(ses02)
    assert sessions["ses-02"]["bytes"] == sessions["ses-02"]["local_bytes"] == sum(len(o.data) for o in ses02)
    assert sessions["ses-01"]["files"] > 0 and sessions["ses-01"]["local_files"] == 0
    assert sessions["ses-31"]["held_out"] and sessions["ses-31"]["files"] == 0
    assert sessions[None]["local_files"] == 1, "the R2mean map came with ses-02"
    assert parts["rois"]["files"] == parts["rois"]["local_files"] == 30
    assert parts["raw"]["held_out_files"] == 1
    assert {f["key"]: f["state"] for f in info["dataset_files"]} == dict.fromkeys(synthetic.ROOT_KEYS, "complete")
    total = sum(len(o.data) for k, o in s3_objects.items()
                if k.startswith(("derivatives/", "sub-01/")) and "sub-01" in k and not synthetic.is_denied(k)
                and not k.startswith("derivatives/tedana/"))
    assert detail["bytes"] == total
    dry = run_batch("--subject", "01", "--only", "glmsingle", "rois", "freesurfer", "anatomical", "localizers",
                    "raw", "--dry-run", "--json", "--data-dir", str(licensed_data_dir))
    plan = json.loads(dry.stdout)
    roots = sum(len(s3_objects[k].data) for k in synthetic.ROOT_KEYS)
    assert (detail["bytes"], detail["local_bytes"]) == (plan["bytes_total"] - roots, plan["bytes_present"] - roots)


def test_info_text_names_sessions_and_what_is_on_disk(run_batch, s3, access, licensed_data_dir):
    fetched = run_batch("--subject", "03", "--ses", "01", "--data-dir", str(licensed_data_dir))
    assert fetched.returncode == 0, fetched.stderr
    result = tool("info", "--subject", "sub-03", "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url,
                  "--access-url", access.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    ses01 = next(line for line in lines if line.strip().startswith("ses-01"))
    ses02 = next(line for line in lines if line.strip().startswith("ses-02"))
    assert "on disk: 16 files" in ses01 and "on disk: 0 files" in ses02
    assert any("ses-31" in line and "held out" in line for line in lines)
    assert "README" in result.stdout and "complete" in result.stdout


def test_info_uses_the_configured_data_dir(s3, access, data_dir):
    assert tool("config", "--data-dir", str(data_dir)).returncode == 0
    result = tool("info", "--json", "--endpoint-url", s3.url, "--access-url", access.url)
    assert json.loads(result.stdout)["data_dir"] == str(data_dir.resolve())


@pytest.mark.parametrize(("args", "code", "expected"), [
    (["--subject", "99"], 2, "unknown subject sub-99; available: sub-01, sub-03, sub-05, sub-07"),
    (["--subject", "sub-0 1"], 2, "malformed subject"),
    (["--data-dir", "/nonexistent/laion"], 2, "does not exist"),
    (["--frobnicate"], 2, "unrecognized arguments: --frobnicate"),
])
def test_info_bad_input_is_one_line(s3, args, code, expected):
    result = tool("--batch", "info", *args, "--endpoint-url", s3.url)
    assert result.returncode == code
    line = one_line_error(result)
    assert line.startswith("laion-fmri-tui info: ") and expected in line


def test_info_unreachable_endpoint_is_exit_4():
    result = tool("info", "--endpoint-url", "http://127.0.0.1:9")
    assert result.returncode == 4
    assert "could not reach the S3 endpoint" in one_line_error(result)
