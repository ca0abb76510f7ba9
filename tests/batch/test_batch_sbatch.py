"""``--batch --emit-sbatch FILE``: writes the array script, downloads nothing."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from batchtools import files_under

from laion_fmri_tui.core.units import size


def test_emit_writes_an_executable_array_script(run_batch, tmp_path: Path) -> None:
    out = tmp_path / "job.sh"
    data = tmp_path / "data"
    data.mkdir()
    result = run_batch("--subject", "01", "--data-dir", str(data), "--emit-sbatch", str(out),
                       "--shards", "3", "--slurm-partition", "short", "--slurm-time", "0:10:00",
                       "--slurm-cpus-per-task", "2", "--slurm-job-name", "lf",
                       "--slurm-command", f"{sys.executable} -m laion_fmri_tui")
    assert result.returncode == 0, result.stderr
    plan = tmp_path / "job.plan.json"
    frozen = json.loads(plan.read_text())
    assert result.stdout.strip() == (
        f"wrote {out} (3 array task(s)), plan {plan} ({frozen['files']} files, "
        f"{size(frozen['bytes_total'])}); submit with: sbatch {out}")
    assert out.stat().st_mode & 0o777 == 0o755
    lines = out.read_text().splitlines()
    assert {"#SBATCH --array=0-2", "#SBATCH --job-name=lf", "#SBATCH --output=lf-%A_%a.log",
            "#SBATCH --open-mode=append", "#SBATCH --mem=2G",
            "#SBATCH --partition=short", "#SBATCH --time=0:10:00",
            "#SBATCH --cpus-per-task=2"} <= set(lines)
    [command] = [line for line in lines if line.startswith(shlex.quote(sys.executable))]
    argv = shlex.split(command)
    assert argv[argv.index("--plan") + 1] == str(plan)
    assert "--endpoint-url" in argv and "--accept-license" in argv
    assert "--subject" not in argv, "the plan holds the selection"
    # N is written in: a task resubmitted alone (sbatch --array=1) still runs shard 1 of 3
    assert argv[-4:] == ["--shard", "$SLURM_ARRAY_TASK_ID/3", "||", "status=$?"]
    assert frozen["format"] == "laion-fmri-tui plan" and frozen["data_dir"] == str(data.resolve())
    assert all({"key", "path", "size", "etag"} <= set(item) for item in frozen["items"])
    assert files_under(data) == set()


def test_emit_with_stimuli_tells_how_to_pass_the_request_id(run_batch, access, tmp_path: Path) -> None:
    out = tmp_path / "job.sh"
    result = run_batch("--include-stimuli", "--emit-sbatch", str(out), "--data-dir", str(tmp_path),
                       "--access-url", access.url, LAION_FMRI_REQUEST_ID="lfm_secret_value")
    assert result.returncode == 0, result.stderr
    assert "LAION_FMRI_REQUEST_ID=<id> sbatch" in result.stdout
    text = out.read_text()
    assert "lfm_secret_value" not in text and "#SBATCH --array=0-0" in text
    assert "lfm_secret_value" not in (tmp_path / "job.plan.json").read_text()


def test_emit_refuses_bad_shards(run_batch, tmp_path: Path) -> None:
    result = run_batch("--subject", "01", "--emit-sbatch", str(tmp_path / "j.sh"), "--shards", "0",
                       "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--shards" in result.stderr
    assert not (tmp_path / "j.sh").exists()


def test_the_script_keeps_how_to_fetch(run_batch, licensed_data_dir, tmp_path):
    script = tmp_path / "job.sh"
    result = run_batch("--subject", "01", "--data-dir", str(licensed_data_dir), "--emit-sbatch", str(script),
                       "--shards", "2", "--n-jobs", "4", "--part-size", "8M", "--retries", "3",
                       "--max-bandwidth", "50M")
    assert result.returncode == 0, result.stderr
    command = [line for line in script.read_text().splitlines() if "--shard" in line][0]
    for flag in ("--n-jobs 4", f"--part-size {8 * 1024 * 1024}", "--retries 3",
                 f"--max-bandwidth {50 * 1024 * 1024}"):
        assert flag in command, command


def test_the_script_leaves_default_settings_to_the_task(run_batch, licensed_data_dir, tmp_path):
    """Defaults are not written out: a --slurm-command that sets them itself keeps them."""
    script = tmp_path / "job.sh"
    result = run_batch("--subject", "01", "--data-dir", str(licensed_data_dir), "--emit-sbatch", str(script),
                       "--shards", "2", "--slurm-command", "laion-fmri-tui --n-jobs 2 --retries 9")
    assert result.returncode == 0, result.stderr
    command = [line for line in script.read_text().splitlines() if "--shard" in line][0]
    assert command.count("--n-jobs") == 1 and command.count("--retries") == 1, command
