"""The SLURM array script: array line, per-task logs, shard argument, no secrets."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from laion_fmri_tui.batch.args import build_parser, selection_from
from laion_fmri_tui.core.scripts.command_line import slurm_script
from laion_fmri_tui.core.plan.selection import Filters, Selection

SEL = Selection(subjects=("sub-01",), filters=Filters.build(desc=["it's", "$(touch pwned)"]))


def command_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")
            and line != "set -euo pipefail"]


def test_array_directives_and_shard_argument() -> None:
    text = slurm_script([SEL], Path("/d"), shards=4, job_name="lf", partition="p", time="1:00:00",
                        cpus_per_task=2, program=["/venv/bin/python", "-m", "laion_fmri_tui"],
                        extra_args=["--endpoint-url", "http://127.0.0.1:9"])
    lines = text.splitlines()
    assert "#SBATCH --array=0-3" in lines
    assert "#SBATCH --output=lf-%A_%a.log" in lines
    assert {"#SBATCH --job-name=lf", "#SBATCH --partition=p", "#SBATCH --time=1:00:00",
            "#SBATCH --cpus-per-task=2"} <= set(lines)
    [line] = command_lines(text)
    # N written in: SLURM_ARRAY_TASK_COUNT is 1 for a task resubmitted alone (sbatch --array=K)
    assert line.endswith(' --shard "$SLURM_ARRAY_TASK_ID/4"')
    argv = shlex.split(line)
    assert argv[:4] == ["/venv/bin/python", "-m", "laion_fmri_tui", "--batch"]
    args = build_parser().parse_args(argv[3:-2])  # --shard is parsed by its own tests
    assert selection_from(args) == SEL
    assert args.endpoint_url == "http://127.0.0.1:9" and args.accept_license
    assert args.data_dir == "/d"


def test_one_shard_is_still_an_array() -> None:
    text = slurm_script([SEL], Path("/d"), shards=1)
    assert "#SBATCH --array=0-0" in text.splitlines()


def test_refuses_zero_shards() -> None:
    with pytest.raises(ValueError, match="shards"):
        slurm_script([SEL], Path("/d"), shards=0)


def test_request_id_only_in_comments(monkeypatch) -> None:
    monkeypatch.setenv("LAION_FMRI_REQUEST_ID", "lfm_secret_value")
    text = slurm_script([Selection(stimuli=True)], Path("/d"), shards=2)
    assert "lfm_secret_value" not in text
    assert "LAION_FMRI_REQUEST_ID" in text
    assert all(line.startswith("#") for line in text.splitlines() if "LAION_FMRI_REQUEST_ID" in line)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_array_script_runs_each_task_with_its_shard(tmp_path: Path) -> None:
    """``bash -n`` passes, and a stub program sees the expanded shard and intact values."""
    stub = tmp_path / "stub"
    stub.write_text('#!/bin/bash\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    script = tmp_path / "job.sh"
    script.write_text(slurm_script([SEL], tmp_path / "d d", shards=3, program=[str(stub)]))
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    env = {"PATH": "/usr/bin:/bin", "SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "1"}
    out = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[-2:] == ["--shard", "2/3"]
    assert "$(touch pwned)" in out and not (tmp_path / "pwned").exists()
