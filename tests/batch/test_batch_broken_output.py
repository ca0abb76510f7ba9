"""Output can never stop a download: a full disk, a closed pipe or an ASCII-only
encoding on stdout; the files are all fetched, the exit code tells, no traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from batchtools import batch_command, batch_env, planned

ARGS = ("--subject", "01", "--ses", "02", "--part-size", "1M", "--accept-license")


def all_fetched(items: list[dict], s3_objects) -> None:
    for item in items:
        assert Path(item["path"]).read_bytes() == s3_objects[item["key"]].data, item["key"]


def test_stdout_on_a_full_disk(s3, data_dir, s3_objects):
    items = planned(s3, data_dir, *ARGS)
    with open("/dev/full", "w") as full:
        result = subprocess.run(batch_command(*ARGS, "--data-dir", str(data_dir), "--endpoint-url", s3.url),
                                stdout=full, stderr=subprocess.PIPE, text=True, env=batch_env(),
                                stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert "standard output failed (No space left on device); the download was not stopped" in result.stderr
    all_fetched(items, s3_objects)


def test_stdout_a_pipe_closed_after_one_line(s3, data_dir, s3_objects):
    """As ``laion-fmri-tui --batch ... | head -1``."""
    items = planned(s3, data_dir, *ARGS)
    proc = subprocess.Popen(batch_command(*ARGS, "--data-dir", str(data_dir), "--endpoint-url", s3.url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=batch_env(),
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith("plan: ")
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err
    all_fetched(items, s3_objects)


def test_an_ascii_only_encoding_with_a_non_ascii_data_dir(s3, tmp_path, s3_objects):
    data_dir = tmp_path / "dätä-ü"
    data_dir.mkdir()
    items = planned(s3, data_dir, *ARGS)
    result = subprocess.run(batch_command(*ARGS, "--data-dir", str(data_dir), "--endpoint-url", s3.url),
                            capture_output=True, env=batch_env(PYTHONIOENCODING="ascii"),
                            stdin=subprocess.DEVNULL, timeout=120)
    out, err = result.stdout.decode("ascii"), result.stderr.decode("ascii")  # nothing else reached them
    assert result.returncode == 0, err
    assert "Traceback" not in err
    assert "into " + str(tmp_path) + "/d\\xe4t\\xe4-\\xfc" in out
    assert "finished: " in out
    all_fetched(items, s3_objects)


def test_stdout_closed_before_the_run(s3, data_dir, s3_objects):
    """As ``laion-fmri-tui --batch ... >&-``: Python starts with no sys.stdout at all."""
    items = planned(s3, data_dir, *ARGS)
    result = subprocess.run(batch_command(*ARGS, "--data-dir", str(data_dir), "--endpoint-url", s3.url),
                            stderr=subprocess.PIPE, text=True, env=batch_env(), stdin=subprocess.DEVNULL,
                            timeout=120, pass_fds=(), preexec_fn=lambda: os.close(1))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert "standard output failed (closed); the download was not stopped" in result.stderr
    all_fetched(items, s3_objects)


def test_a_json_plan_cut_short_by_its_reader_is_exit_1(s3, data_dir):
    """As ``--dry-run --json | head -c 10``: the plan's one line is longer than the
    pipe holds; the pipe took 64 KiB of it as its reader left, Python's buffered
    stream counted that as written and dropped the rest, and the run said 0."""
    command = batch_command("--subject", "all", "--accept-license", "--dry-run", "--json",
                            "--data-dir", str(data_dir), "--endpoint-url", s3.url)
    whole = subprocess.run(command, capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL,
                           timeout=120)
    assert whole.returncode == 0 and len(whole.stdout) > 1 << 17, (whole.returncode, len(whole.stdout))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=batch_env(),
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10) == b'{"event": '
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1, err
    assert "standard output failed (Broken pipe); the plan was not all written (exit 1)" in err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_emit_sbatch_with_its_stdout_closed_writes_its_files_and_says_so(s3, data_dir, tmp_path):
    script = tmp_path / "job.sh"
    result = subprocess.run(batch_command(*ARGS, "--emit-sbatch", str(script), "--shards", "2",
                                          "--data-dir", str(data_dir), "--endpoint-url", s3.url),
                            stderr=subprocess.PIPE, text=True, env=batch_env(), stdin=subprocess.DEVNULL,
                            timeout=120, preexec_fn=lambda: os.close(1))
    assert result.returncode == 1, result.stderr
    assert result.stderr == ("laion-fmri-tui: standard output failed (closed); the script and plan files were "
                             "written, not the line on how to submit them (exit 1)\n"), result.stderr
    assert script.is_file() and script.with_suffix(".plan.json").is_file()


def test_a_usage_error_with_stdout_closed_says_only_what_is_wrong(s3, data_dir):
    """Nothing was to be written to stdout: no word of it."""
    result = subprocess.run(batch_command("--subject", "99", "--accept-license", "--data-dir", str(data_dir),
                                          "--endpoint-url", s3.url),
                            stderr=subprocess.PIPE, text=True, env=batch_env(), stdin=subprocess.DEVNULL,
                            timeout=120, preexec_fn=lambda: os.close(1))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "standard output" not in result.stderr, result.stderr
