"""``--emit-sbatch`` scripts submitted to the real lab cluster, as a user would.

The array tasks together fetch exactly the plan, each object once, and leave
files that verify; then what a cluster user does next: resubmit one task
(``sbatch --array=K``), requeue one (its log kept), start tasks after the
bucket changed, run a task with ``--export=NONE``, chain the verify job
(``--dependency=afterok``) over a key the bucket refuses, and repair a
corrupt file of the right size. Selections stay small: each job is seconds.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from batchtools import batch_command, batch_env, files_under

from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.devserver import synthetic

SHARDS = 3
SELECTION = ("--subject", "01")
SMALL = 16 * 1024 * 1024  # below the engine's default ranged-parts threshold


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
    verified = _run(batch_command(*SELECTION, "--data-dir", str(licensed_data_dir),
                                  "--endpoint-url", s3.url, "--verify"), env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _record(dest: Path) -> dict:
    """The engine's resume record beside a partial file ({} while absent or half-written)."""
    try:
        return json.loads(partfile.record_path(tempnames.current(dest)).read_text())
    except (OSError, ValueError):
        return {}


def test_scancelled_shard_resumes_its_parts_when_resubmitted(slurm_cluster, s3, s3_objects,
                                                             licensed_data_dir: Path, tmp_path: Path) -> None:
    """A task killed by ``scancel`` mid-file must not cost the parts it already had."""
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
    while sum(_record(big).get("extents", [])) < 3 * mib:
        assert time.monotonic() < deadline, "no parts recorded: " + "".join(
            p.read_text() for p in tmp_path.glob("*.log"))
        time.sleep(0.05)
    assert _run(["scancel", f"{job}_{owner}"], env).returncode == 0
    _wait_for(job, env)
    assert not big.exists(), "the cancelled task must not have finished the file"
    extents = _record(big)["extents"]  # bytes of each 1 MiB part on disk, from its first
    kept = sum(extents)
    assert 3 * mib <= kept < synthetic.MULTIPART_SIZE
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
    assert starts and not starts & {i * mib for i, held in enumerate(extents) if held}, \
        "a part was fetched again from its first byte although some of it was on disk"
    assert s3.bytes_sent(synthetic.MULTIPART_KEY) == synthetic.MULTIPART_SIZE - kept
    assert not [p for p in files_under(licensed_data_dir) if ".part" in p], "no .part left behind"


# ---- what a cluster user does next ------------------------------------------

SMALL_SELECTION = ("--subject", "03", "--only", "rois")  # 34 files, about 1 MB


def _emit(s3, data_dir: Path, tmp_path: Path, env: dict[str, str], *extra: str,
          shards: int = 3) -> Path:
    """``--emit-sbatch`` as a user runs it on the login node (the default program: this one)."""
    script = tmp_path / "job.sh"
    emitted = _run(batch_command(*SMALL_SELECTION, "--data-dir", str(data_dir), "--endpoint-url", s3.url,
                                 "--emit-sbatch", str(script), "--shards", str(shards), *extra), env)
    assert emitted.returncode == 0, emitted.stderr
    return script


def _shard_keys(script: Path, k: int, n: int, env: dict[str, str]) -> set[str]:
    """The keys the frozen plan gives shard k of n (a dry run of the plan lists nothing)."""
    plan = script.with_name("job.plan.json")
    out = _run(batch_command("--plan", str(plan), "--shard", f"{k}/{n}", "--dry-run", "--json"), env)
    assert out.returncode == 0, out.stderr
    return {item["key"] for item in json.loads(out.stdout)["items"]}


def _submit(script: Path, env: dict[str, str], *sbatch_args: str) -> str:
    submitted = _run(["sbatch", "--parsable", *sbatch_args, str(script)], env, cwd=script.parent)
    assert submitted.returncode == 0, submitted.stderr
    return submitted.stdout.strip().split(";")[0]


def _states(job: str, env: dict[str, str]) -> str:
    return _run(["scontrol", "-o", "show", "job", job], env).stdout


def _logs(tmp_path: Path, job: str) -> str:
    return "".join(p.read_text() for p in sorted(tmp_path.glob(f"laion-fmri-{job}_*.log")))


def _done_keys(log: str) -> set[str]:
    return {line.split()[1] for line in log.splitlines() if line.startswith("done ")}


def test_resubmitting_one_task_fetches_that_shard_only(slurm_cluster, s3, licensed_data_dir: Path,
                                                       tmp_path: Path) -> None:
    """``sbatch --array=1 job.sh`` (SLURM_ARRAY_TASK_COUNT=1 in that job) still runs shard 1 of 3."""
    env = batch_env(SLURM_CONF=str(slurm_cluster.conf))
    script = _emit(s3, licensed_data_dir, tmp_path, env)
    wanted = _shard_keys(script, 1, 3, env)
    assert wanted and "README" not in wanted  # the dataset files are shard 0's
    s3.clear_log()
    job = _submit(script, env, "--array=1")
    _wait_for(job, env)
    log = _logs(tmp_path, job)
    assert "JobState=COMPLETED" in _states(job, env), log
    assert _done_keys(log) == wanted, log
    assert files_under(licensed_data_dir) == {
        Path(bids_path(k)).as_posix() for k in wanted}
    assert {r.key for r in s3.requests if r.method == "GET" and r.key} == wanted
    assert not [r for r in s3.requests if not r.key], "a task lists nothing: the plan is frozen"


def bids_path(key: str) -> str:
    from laion_fmri_tui.core.plan.bids import bidsify_local_key

    return bidsify_local_key(key)


def test_a_bucket_changed_between_tasks_moves_no_shard(slurm_cluster, s3, s3_objects, licensed_data_dir: Path,
                                                       tmp_path: Path, monkeypatch) -> None:
    """A file added and one changed after the plan: every task fetches its frozen shard,
    the new file is fetched by none, and the changed one is reported, not mixed in."""
    env = batch_env(SLURM_CONF=str(slurm_cluster.conf))
    # The seeding client's PUT reads an AWS config setting; the suite's is garbage on purpose.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("AWS_PROFILE")
    script = _emit(s3, licensed_data_dir, tmp_path, env)
    shards = [_shard_keys(script, k, 3, env) for k in range(3)]
    changed = sorted(shards[2])[0]
    added = "derivatives/rois/sub-03/face/sub-03_hemi-L_space-T1w_label-FFA2_mask.nii.gz"
    admin = s3.admin()
    admin.put_object(Bucket=synthetic.BUCKET, Key=added, Body=b"x" * 700_000, ACL="public-read")
    admin.put_object(Bucket=synthetic.BUCKET, Key=changed, Body=s3_objects[changed].data + b"!",
                     ACL="public-read")
    try:
        live = _run(batch_command(*SMALL_SELECTION, "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url,
                                  "--dry-run", "--json"), env)
        assert added in live.stdout  # a task that listed again would see it
        s3.clear_log()
        job = _submit(script, env)
        _wait_for(job, env)
        logs = [(tmp_path / f"laion-fmri-{job}_{k}.log").read_text() for k in range(3)]
    finally:
        admin.delete_object(Bucket=synthetic.BUCKET, Key=added)
        admin.put_object(Bucket=synthetic.BUCKET, Key=changed, Body=s3_objects[changed].data,
                         ACL="public-read")
    states = _states(job, env)
    assert states.count("JobState=COMPLETED") == 2 and "JobState=FAILED" in states, states
    assert [_done_keys(log) for log in logs] == [shards[0], shards[1], shards[2] - {changed}]
    assert f"FAILED   {changed}: changed" in logs[2]
    assert "1 file(s) changed in the bucket since the plan" in logs[2] and "--emit-sbatch" in logs[2]
    assert not s3.gets(added) and not (licensed_data_dir / bids_path(added)).exists()
    assert [g.status for g in s3.gets(changed)] == [412], "the planned ETag is sent as If-Match"
    assert not (licensed_data_dir / bids_path(changed)).exists()


def test_a_task_runs_with_export_none(slurm_cluster, s3, licensed_data_dir: Path, tmp_path: Path) -> None:
    """No PATH, no PYTHONPATH from the submitting shell: the script calls the program by absolute path."""
    env = batch_env(SLURM_CONF=str(slurm_cluster.conf))
    script = _emit(s3, licensed_data_dir, tmp_path, env, shards=2)
    job = _submit(script, env, "--export=NONE", "--array=0")
    _wait_for(job, env)
    log = _logs(tmp_path, job)
    assert "JobState=COMPLETED" in _states(job, env), log
    assert _done_keys(log) == _shard_keys(script, 0, 2, env)


def test_a_requeued_task_keeps_its_first_log(slurm_cluster, s3, licensed_data_dir: Path, tmp_path: Path) -> None:
    """``scontrol requeue JOBID_K`` runs the task again into the same log: appended, not replaced."""
    env = batch_env(SLURM_CONF=str(slurm_cluster.conf))
    script = _emit(s3, licensed_data_dir, tmp_path, env, "--slurm-command",
                   f"{sys.executable} -m laion_fmri_tui", shards=1)
    job = _submit(script, env)
    _wait_for(job, env)
    log = tmp_path / f"laion-fmri-{job}_0.log"
    first = log.read_text()
    assert "finished: 34 done" in first, first
    # The node finishes the first attempt (epilog, step clean-up) after the job
    # reads COMPLETED; a requeue started before it is idle again failed at once
    # with exit 1 and no log (seen on a loaded machine).
    deadline = time.monotonic() + 60
    while _run(["sinfo", "-h", "-N", "-o", "%T"], env).stdout.split() != ["idle"]:
        assert time.monotonic() < deadline, _run(["sinfo", "-N"], env).stdout
        time.sleep(0.2)
    requeued = _run(["scontrol", "requeue", f"{job}_0"], env)
    assert requeued.returncode == 0, requeued.stderr
    # SLURM holds a requeued job back until the first attempt's credential has
    # expired (AuthInfo cred_expire: 10 s in the lab, 120 s by default). Starting it
    # sooner by hand (StartTime=now) makes slurmd refuse it as "already killed".
    deadline = time.monotonic() + 120
    while not ("Restarts=1" in (state := _states(job, env)) and "JobState=COMPLETED" in state):
        assert time.monotonic() < deadline and "JobState=FAILED" not in state, (
            f"{state}\n--- task log ---\n{log.read_text()}\n--- slurmd.log (tail) ---\n"
            + "\n".join((slurm_cluster.base / "log" / "slurmd.log").read_text().splitlines()[-40:]))
        time.sleep(0.2)
    both = log.read_text()
    assert both.startswith(first), "the first attempt's lines come first, kept"
    assert "skipped 34 files already complete" in both[len(first):]


def test_the_verify_job_runs_after_the_array_and_reports_a_refused_key(
        slurm_cluster, s3, licensed_data_dir: Path, tmp_path: Path) -> None:
    """The documented one-line submit chains ``job.verify.sh`` with afterok. A key the bucket
    refuses is skipped by its task (which still ends 0) and shown by verify as REFUSED; verify's
    exit 5 ends its job with 0 too, so a chain after it goes on."""
    env = batch_env(SLURM_CONF=str(slurm_cluster.conf))
    script = _emit(s3, licensed_data_dir, tmp_path, env, "--emit-verify", shards=2)
    verify = tmp_path / "job.verify.sh"
    refused = sorted(_shard_keys(script, 1, 2, env))[0]
    s3.admin().put_object_acl(Bucket=synthetic.BUCKET, Key=refused, ACL="private")
    try:
        line = (f"sbatch --parsable --dependency=afterok:$(sbatch --parsable {script}) {verify}")
        chained = _run(["bash", "-c", line], env, cwd=tmp_path)
        assert chained.returncode == 0, chained.stderr
        check = chained.stdout.strip().split(";")[0]
        _wait_for(check, env, timeout=180)
    finally:
        s3.admin().put_object_acl(Bucket=synthetic.BUCKET, Key=refused, ACL="public-read")
    [array] = {p.name.split("_")[0].removeprefix("laion-fmri-") for p in tmp_path.glob("laion-fmri-*_*.log")}
    assert _states(array, env).count("JobState=COMPLETED") == 2, _logs(tmp_path, array)
    assert f"skipped  {refused}  (access denied (HTTP 403))" in _logs(tmp_path, array)
    report = (tmp_path / f"laion-fmri-verify-{check}.log").read_text()
    state = _states(check, env)
    assert "JobState=COMPLETED" in state and "ExitCode=0:0" in state, state + report
    assert f"REFUSED  {refused}" in report and "MISSING" not in report
    assert report.splitlines()[-1].startswith("verify: complete except refused keys")


def test_verify_repair_refetches_a_corrupt_file_of_the_right_size(
        slurm_cluster, s3, s3_objects, licensed_data_dir: Path, tmp_path: Path) -> None:
    """A rerun trusts the size; ``--verify --repair`` finds the bad bytes and fetches the file again."""
    env = batch_env(SLURM_CONF=str(slurm_cluster.conf))
    script = _emit(s3, licensed_data_dir, tmp_path, env, shards=1)
    job = _submit(script, env)
    _wait_for(job, env)
    assert "JobState=COMPLETED" in _states(job, env), _logs(tmp_path, job)
    key = max(_shard_keys(script, 0, 1, env), key=lambda k: len(s3_objects[k].data))
    corrupt = licensed_data_dir / bids_path(key)
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))

    again = _submit(script, env)  # the array again: the file has its size, so it is kept
    _wait_for(again, env)
    assert "skipped 34 files already complete" in _logs(tmp_path, again)
    assert corrupt.read_bytes() != s3_objects[key].data

    plan = tmp_path / "job.plan.json"
    command = shlex.join(batch_command("--plan", str(plan), "--endpoint-url", s3.url, "--verify", "--repair"))
    s3.clear_log()
    repair = _run(["sbatch", "--parsable", "--output=repair-%j.log", "--wrap", command], env, cwd=tmp_path)
    assert repair.returncode == 0, repair.stderr
    fixed = repair.stdout.strip().split(";")[0]
    _wait_for(fixed, env)
    report = (tmp_path / f"repair-{fixed}.log").read_text()
    assert "JobState=COMPLETED" in _states(fixed, env), report
    assert f"BAD      {key}: checksum mismatch" in report
    assert "repairing: fetching 1 file(s) again" in report and f"done     {key}" in report
    assert corrupt.read_bytes() == s3_objects[key].data
    assert [g.key for g in s3.requests if g.method == "GET" and g.key] == [key]
    checked = _run(batch_command("--plan", str(plan), "--endpoint-url", s3.url, "--verify"), env)
    assert checked.returncode == 0, checked.stdout
