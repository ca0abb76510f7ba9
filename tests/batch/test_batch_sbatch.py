"""``--batch --emit-sbatch FILE``: writes the array script, downloads nothing."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import certifi
import pytest
from batchtools import batch_command, batch_env, files_under
from network_stands import Front, tinyproxy

from laion_fmri_tui.core.units import size
from laion_fmri_tui.devserver import synthetic


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
                       "--retry-for", "10m", "--max-bandwidth", "50M")
    assert result.returncode == 0, result.stderr
    command = [line for line in script.read_text().splitlines() if "--shard" in line][0]
    for flag in ("--n-jobs 4", f"--part-size {8 * 1024 * 1024}", "--retries 3", "--retry-for 600",
                 f"--max-bandwidth {50 * 1000 * 1000}"):  # a rate's M is 10**6 (kB/s, MB/s as shown)
        assert flag in command, command


def test_a_rate_reads_k_and_m_as_powers_of_1000_and_kib_as_1024(run_batch, licensed_data_dir, tmp_path):
    """``--max-bandwidth 300k`` is 300 kB/s, as the app and every rate line show it
    (it was 300 x 1024, shown as "307.2 kB/s"); ``KiB`` says 1024."""
    for typed, meant in (("300k", 300_000), ("300KiB", 307_200), ("1.5M", 1_500_000)):
        script = tmp_path / f"job-{typed}.sh"
        result = run_batch("--subject", "01", "--data-dir", str(licensed_data_dir), "--emit-sbatch", str(script),
                           "--shards", "2", "--max-bandwidth", typed)
        assert result.returncode == 0, result.stderr
        assert f"--max-bandwidth {meant} " in script.read_text(), typed


def test_the_script_leaves_default_settings_to_the_task(run_batch, licensed_data_dir, tmp_path):
    """Defaults are not written out: a --slurm-command that sets them itself keeps them."""
    script = tmp_path / "job.sh"
    result = run_batch("--subject", "01", "--data-dir", str(licensed_data_dir), "--emit-sbatch", str(script),
                       "--shards", "2", "--slurm-command", "laion-fmri-tui --n-jobs 2 --retries 9")
    assert result.returncode == 0, result.stderr
    command = [line for line in script.read_text().splitlines() if "--shard" in line][0]
    assert command.count("--n-jobs") == 1 and command.count("--retries") == 1, command
    assert "--retry-for" not in command, command


# ---- findings of a run on a real SLURM (issue 22) ---------------------------

SMALL = ("--subject", "03", "--only", "rois")  # 34 small files


def _script_run(script: Path, *, task: int | None = 0, **env: str) -> subprocess.CompletedProcess:
    """Run an emitted script with bash as SLURM would with ``--export=NONE``: an
    environment of the task's id only (no PATH, PYTHONPATH, endpoint or proxies)."""
    clean = {"SLURM_ARRAY_TASK_ID": str(task)} if task is not None else {}
    clean.update(env, HOME=os.environ["HOME"])
    return subprocess.run(["/bin/bash", str(script)], capture_output=True, text=True, env=clean,
                          stdin=subprocess.DEVNULL, timeout=120, cwd=script.parent)


def _task_lines(script: Path) -> list[str]:
    return [line for line in script.read_text().splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("name", ["a/b", "a%b", "a$b", "a'b", "-a", ".hidden", "a\\b", "ä"])
def test_a_job_name_slurm_or_the_shell_would_mishandle_is_refused(run_batch, tmp_path, name):
    out = tmp_path / "job.sh"
    result = run_batch(*SMALL, "--data-dir", str(tmp_path), "--emit-sbatch", str(out),
                       f"--slurm-job-name={name}")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert "--slurm-job-name" in line and "letters, digits" in line, line
    assert not out.exists() and not (tmp_path / "job.plan.json").exists()


def test_a_job_name_of_letters_digits_dot_dash_underscore_plus_is_kept(run_batch, tmp_path):
    out = tmp_path / "job.sh"
    result = run_batch(*SMALL, "--data-dir", str(tmp_path), "--emit-sbatch", str(out),
                       "--slurm-job-name", "LF_2.run-1+x")
    assert result.returncode == 0, result.stderr
    assert "#SBATCH --output=LF_2.run-1+x-%A_%a.log" in out.read_text().splitlines()


def test_the_script_is_never_written_over_the_plan(run_batch, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    saved = run_batch(*SMALL, "--data-dir", str(data), "--dry-run", "--json")
    plan = tmp_path / "p.plan.json"
    plan.write_text(saved.stdout)
    for script, extra in ((plan, ()), (tmp_path / "p.sh", ()),
                          (tmp_path / "v.sh", ()), (tmp_path / "q.sh", ("--emit-verify",))):
        if script.name == "v.sh":  # a symbolic link to the plan is the plan
            script.symlink_to(plan)
        given = plan if script.name != "q.sh" else tmp_path / "q.verify.sh"
        if script.name == "q.sh":
            given.write_text(saved.stdout)
        result = run_batch("--plan", str(given), "--emit-sbatch", str(script), *extra)
        if script.name == "p.sh":  # the plan beside the script is used as is: fine
            assert result.returncode == 0, result.stderr
            continue
        assert result.returncode == 2, (script, result.stdout + result.stderr)
        [line] = result.stderr.splitlines()
        assert "plan" in line and str(given) in line, line
        assert given.read_text() == saved.stdout, "the plan is untouched"


def test_the_verify_job_ends_0_like_the_array_when_only_refused_keys_remain(
        run_batch, s3, licensed_data_dir, tmp_path):
    """Exit 5 (complete except keys the bucket refused) is a finished job in both
    scripts, so a chain of ``--dependency=afterok`` goes on past either."""
    script = tmp_path / "job.sh"
    emitted = run_batch(*SMALL, "--data-dir", str(licensed_data_dir), "--emit-sbatch", str(script),
                        "--emit-verify")
    assert emitted.returncode == 0, emitted.stderr
    refused = json.loads((tmp_path / "job.plan.json").read_text())["items"][-1]["key"]
    s3.admin().put_object_acl(Bucket=synthetic.BUCKET, Key=refused, ACL="private")
    try:
        task = _script_run(script)
        verify = _script_run(tmp_path / "job.verify.sh", task=None)
    finally:
        s3.admin().put_object_acl(Bucket=synthetic.BUCKET, Key=refused, ACL="public-read")
    assert task.returncode == 0, task.stdout + task.stderr
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"REFUSED  {refused}" in verify.stdout
    assert verify.stdout.splitlines()[-1].startswith("verify: complete except refused keys")
    comments = (tmp_path / "job.verify.sh").read_text()
    assert "exit 5" in comments.lower() and "afterok" in comments


def test_the_endpoint_from_the_environment_goes_into_the_script(run_batch, s3, licensed_data_dir, tmp_path):
    """``LAION_FMRI_S3_ENDPOINT_URL`` on the login node; the task (``--export=NONE``)
    still reaches that endpoint, not AWS."""
    script = tmp_path / "job.sh"
    emitted = run_batch(*SMALL, "--data-dir", str(licensed_data_dir), "--emit-sbatch", str(script),
                        "--emit-verify", endpoint=False, LAION_FMRI_S3_ENDPOINT_URL=s3.url + "/")
    assert emitted.returncode == 0, emitted.stderr
    for path in (script, tmp_path / "job.verify.sh"):
        [command] = [line for line in _task_lines(path) if "--plan" in line]
        argv = shlex.split(command)
        assert argv[argv.index("--endpoint-url") + 1] == s3.url, command
    s3.clear_log()
    task = _script_run(script)
    assert task.returncode == 0, task.stdout + task.stderr
    assert len([r for r in s3.requests if r.method == "GET" and r.key]) == 34


def test_the_ca_bundle_goes_into_the_script_by_absolute_path(run_batch, licensed_data_dir, tmp_path):
    bundle = tmp_path / "site-ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    script = tmp_path / "job.sh"
    saved = run_batch(*SMALL, "--data-dir", str(licensed_data_dir), "--dry-run", "--json")
    (tmp_path / "saved.json").write_text(saved.stdout)
    emitted = subprocess.run(
        batch_command("--plan", "saved.json", "--emit-sbatch", "job.sh", "--emit-verify",
                      "--ca-bundle", "site-ca.pem"),
        capture_output=True, text=True, env=batch_env(), cwd=tmp_path, timeout=60)
    assert emitted.returncode == 0, emitted.stderr
    for path in (script, tmp_path / "job.verify.sh"):
        [command] = [line for line in _task_lines(path) if "--plan" in line]
        argv = shlex.split(command)
        assert argv[argv.index("--ca-bundle") + 1] == str(bundle), command


def test_a_proxy_with_credentials_is_in_the_owner_only_script_and_never_on_a_command_line(
        s3, licensed_data_dir, tmp_path):
    """The task reaches the bucket only through the proxy (the gate lets nothing else in);
    the password is in the script (mode 0700) but not in an argument, which ``ps``
    shows every user of the node, nor in the output."""
    front = Front(("127.0.0.1", s3.port), None)
    try:
        with tinyproxy(tmp_path, credentials="ada:s3cr3t-pw") as (port, log):
            proxy = f"http://ada:s3cr3t-pw@127.0.0.1:{port}"
            script = tmp_path / "job.sh"
            emitted = subprocess.run(
                batch_command(*SMALL, "--data-dir", str(licensed_data_dir), "--emit-sbatch", str(script),
                              "--emit-verify", "--endpoint-url", f"http://127.0.0.1:{front.port}",
                              "--proxy", proxy),
                capture_output=True, text=True, env=batch_env(), timeout=120)
            assert emitted.returncode == 0, emitted.stderr
            task = _script_run(script)
            verify = _script_run(tmp_path / "job.verify.sh", task=None)
            logged = log.read_text()
    finally:
        front.close()
    assert task.returncode == 0, task.stdout + task.stderr
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"GET http://127.0.0.1:{front.port}/laion-fmri/" in logged
    for path in (script, tmp_path / "job.verify.sh"):
        assert path.stat().st_mode & 0o777 == 0o700, path
        assert "s3cr3t-pw" in path.read_text()
        for line in _task_lines(path):
            if "s3cr3t-pw" in line:
                assert line.startswith("export "), line
    for text in (emitted.stdout, emitted.stderr, task.stdout, task.stderr, verify.stdout, verify.stderr):
        assert "s3cr3t-pw" not in text


def test_a_proxy_without_credentials_is_an_argument_and_the_script_stays_0755(run_batch, licensed_data_dir,
                                                                             tmp_path):
    saved = run_batch(*SMALL, "--data-dir", str(licensed_data_dir), "--dry-run", "--json")
    plan = tmp_path / "saved.json"
    plan.write_text(saved.stdout)
    script = tmp_path / "job.sh"
    result = run_batch("--plan", str(plan), "--emit-sbatch", str(script), "--proxy", "http://proxy.example:3128")
    assert result.returncode == 0, result.stderr
    assert script.stat().st_mode & 0o777 == 0o755
    [command] = [line for line in _task_lines(script) if "--plan" in line]
    argv = shlex.split(command)
    assert argv[argv.index("--proxy") + 1] == "http://proxy.example:3128"
