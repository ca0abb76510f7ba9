"""``--emit-sbatch --shards 3`` submitted to the real lab cluster splits the work.

The three array tasks together must fetch exactly the unsharded plan, each
object once, and leave files that verify.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env, files_under

from laion_fmri_tui.batch.args import build_parser
from laion_fmri_tui.core.transfer import partfile, tempnames

SHARDS = 3
SELECTION = ("--subject", "01")
SMALL = 16 * 1024 * 1024  # below the engine's default ranged-parts threshold


def _supports(flag: str) -> bool:
    return flag in build_parser()._option_string_actions


def _run(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=120, **kw)


def _wait_for(job: str, env: dict[str, str], timeout: float = 120) -> None:
    """Poll ``squeue`` ourselves: ``sbatch --wait`` backs off to ~10 s (CLUSTER-LAB.md)."""
    deadline = time.monotonic() + timeout
    while _run(["squeue", "-h", "-j", job], env).stdout.strip():
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job} still queued after {timeout} s")
        time.sleep(0.2)


def test_lab_cluster_runs_an_array(slurm_cluster, tmp_path: Path) -> None:
    """The fixture itself: both array variables reach every task."""
    env = batch_env(SLURM_CONF=str(slurm_cluster.conf))
    submitted = _run(["sbatch", "--parsable", "--array=0-2", "--wrap",
                      "echo $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT > out.$SLURM_ARRAY_TASK_ID"],
                     env, cwd=tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    _wait_for(submitted.stdout.strip().split(";")[0], env)
    assert sorted(p.read_text().strip() for p in tmp_path.glob("out.*")) == ["0/3", "1/3", "2/3"]


@pytest.mark.skipif(not _supports("--shard"), reason="--shard K/N is not implemented yet")
def test_array_job_fetches_the_plan_once(slurm_cluster, s3, s3_objects, licensed_data_dir: Path,
                                         tmp_path: Path) -> None:
    env = batch_env(SLURM_CONF=str(slurm_cluster.conf))
    script = tmp_path / "job.sh"
    emitted = _run(batch_command(*SELECTION, "--data-dir", str(licensed_data_dir),
                                 "--endpoint-url", s3.url, "--emit-sbatch", str(script),
                                 "--shards", str(SHARDS),
                                 "--slurm-command", f"{sys.executable} -m laion_fmri_tui"), env)
    assert emitted.returncode == 0, emitted.stderr
    plan = _run(batch_command(*SELECTION, "--data-dir", str(licensed_data_dir), "--endpoint-url",
                              s3.url, "--dry-run", "--json"), env)
    assert plan.returncode == 0, plan.stderr
    items = next(e for e in map(json.loads, plan.stdout.splitlines()) if "items" in e)["items"]
    assert len(items) >= SHARDS
    s3.clear_log()

    submitted = _run(["sbatch", "--parsable", str(script)], env, cwd=tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    _wait_for(job, env)

    logs = [tmp_path / f"laion-fmri-{job}_{k}.log" for k in range(SHARDS)]
    assert all(log.exists() for log in logs), [p.name for p in tmp_path.iterdir()]
    states = _run(["scontrol", "-o", "show", "job", job], env).stdout
    assert states.count("JobState=COMPLETED") == SHARDS, states + "".join(p.read_text() for p in logs)

    wanted = {Path(i["path"]).resolve().relative_to(licensed_data_dir.resolve()).as_posix() for i in items}
    assert files_under(licensed_data_dir) == wanted
    for item in items:
        assert s3.bytes_sent(item["key"]) == item["size"], item["key"]  # nothing fetched twice
        if item["size"] < SMALL:  # fetched in one GET, not ranged parts
            assert len([g for g in s3.gets(item["key"]) if g.status in (200, 206)]) == 1, item["key"]
    if _supports("--verify"):
        verified = _run(batch_command(*SELECTION, "--data-dir", str(licensed_data_dir),
                                      "--endpoint-url", s3.url, "--verify"), env)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    else:  # --verify not there yet: compare the bytes with what the bucket holds
        for item in items:
            assert Path(item["path"]).read_bytes() == s3_objects[item["key"]].data, item["key"]


def _record(dest: Path) -> dict:
    """The engine's resume record beside a partial file ({} while absent or half-written)."""
    try:
        return json.loads(partfile.record_path(tempnames.current(dest)).read_text())
    except (OSError, ValueError):
        return {}


@pytest.mark.skipif(not _supports("--shard"), reason="--shard K/N is not implemented yet")
def test_scancelled_shard_resumes_its_parts_when_resubmitted(slurm_cluster, s3, s3_objects,
                                                             licensed_data_dir: Path, tmp_path: Path) -> None:
    """A task killed by ``scancel`` mid-file must not cost the parts it already had."""
    from laion_fmri_tui.devserver import synthetic

    mib = 1024 * 1024
    env = batch_env(SLURM_CONF=str(slurm_cluster.conf))
    selection = ("--subject", "01", "--ses", "02")
    # The emitted script does not carry --part-size/--n-jobs, so they ride in the command.
    command = f"{sys.executable} -m laion_fmri_tui --part-size 1M --n-jobs 2"
    script = tmp_path / "job.sh"
    emitted = _run(batch_command(*selection, "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url,
                                 "--emit-sbatch", str(script), "--shards", "2", "--slurm-command", command), env)
    assert emitted.returncode == 0, emitted.stderr
    owner = next(k for k in range(2) if synthetic.MULTIPART_KEY in _run(batch_command(
        *selection, "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url, "--dry-run", "--json",
        "--shard", f"{k}/2"), env).stdout)
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    s3.throttle(synthetic.MULTIPART_KEY, mib)

    submitted = _run(["sbatch", "--parsable", str(script)], env, cwd=tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    deadline = time.monotonic() + 60
    while len(_record(big).get("chunks_done", [])) < 3:
        assert time.monotonic() < deadline, "no parts recorded: " + "".join(
            p.read_text() for p in tmp_path.glob("*.log"))
        time.sleep(0.05)
    assert _run(["scancel", f"{job}_{owner}"], env).returncode == 0
    _wait_for(job, env)
    assert not big.exists(), "the cancelled task must not have finished the file"
    done_before = _record(big)["chunks_done"]
    assert 0 < len(done_before) < -(-synthetic.MULTIPART_SIZE // mib)
    state = _run(["scontrol", "-o", "show", "job", f"{job}_{owner}"], env).stdout
    assert "JobState=CANCELLED" in state, state
    s3.reset()

    resubmitted = _run(["sbatch", "--parsable", str(script)], env, cwd=tmp_path)
    assert resubmitted.returncode == 0, resubmitted.stderr
    again = resubmitted.stdout.strip().split(";")[0]
    _wait_for(again, env)
    logs = "".join(p.read_text() for p in tmp_path.glob(f"laion-fmri-{again}_*.log"))
    states = _run(["scontrol", "-o", "show", "job", again], env).stdout
    assert states.count("JobState=COMPLETED") == 2, states + logs
    assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    starts = {int(g.range.split("=")[1].split("-")[0]) for g in s3.gets(synthetic.MULTIPART_KEY)}
    assert starts and not starts & {i * mib for i in done_before}, "finished parts were fetched again"
    kept = sum(min(mib, synthetic.MULTIPART_SIZE - i * mib) for i in done_before)
    assert s3.bytes_sent(synthetic.MULTIPART_KEY) == synthetic.MULTIPART_SIZE - kept
    assert not [p for p in files_under(licensed_data_dir) if ".part" in p], "no .part left behind"
