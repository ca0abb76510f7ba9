"""``--emit-sbatch FILE``: freeze the plan and write a SLURM array script.

Large selections are fetched fastest by many nodes at once. The selection is
listed once, here on the login node, and written as a plan file beside the
script (``job.sh`` -> ``job.plan.json``); each array task runs this tool with
``--plan job.plan.json --shard K/N`` and lists nothing, so tasks that start
hours apart still split the very same files. ``--emit-verify`` also writes
``job.verify.sh``, a job that runs ``--verify`` over the whole plan, chained
after the array with ``--dependency=afterok`` (one command, printed).
The script text is built by :mod:`laion_fmri_tui.core.array_script`.

Which program the tasks run: this very program, by absolute path (the
console script, or ``python -m laion_fmri_tui`` with this interpreter), so a
task started with ``--export=NONE`` (no PATH, no PYTHONPATH) still finds it.
``--slurm-command "CMD ..."`` (shell-split) replaces it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

from laion_fmri_tui.core import array_script, plan_file
from laion_fmri_tui.core.commandline import REQUEST_ID_ENV, write_command_file
from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.plan import Plan
from laion_fmri_tui.core.transfer.settings import EngineSettings
from laion_fmri_tui.core.units import size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``cluster`` flag group (kept here so ``args.py`` only calls this)."""
    group = parser.add_argument_group(
        "cluster", "freeze the plan and write a SLURM array script for it instead of downloading")
    group.add_argument("--emit-sbatch", metavar="FILE",
                       help="write the script to FILE (mode 0755) and the plan beside it "
                            "(FILE without .sh + .plan.json), then exit")
    group.add_argument("--shards", type=int, default=1, metavar="N",
                       help="array tasks; task K runs with --shard K/N (default 1)")
    group.add_argument("--emit-verify", action="store_true",
                       help="also write FILE without .sh + .verify.sh: a job that runs --verify "
                            "once the array has ended (sbatch --dependency=afterok)")
    group.add_argument("--slurm-partition", metavar="NAME")
    group.add_argument("--slurm-time", metavar="D-HH:MM:SS")
    group.add_argument("--slurm-cpus-per-task", type=int, metavar="N")
    group.add_argument("--slurm-mem", default=array_script.JobOptions.mem, metavar="SIZE",
                       help=f"memory per task (default {array_script.JobOptions.mem})")
    group.add_argument("--slurm-max-running", type=int, metavar="K",
                       help="at most K tasks at once (--array=0-(N-1)%%K); "
                            "--max-bandwidth is per task")
    group.add_argument("--slurm-job-name", default="laion-fmri", metavar="NAME")
    group.add_argument("--slurm-command", metavar="CMD",
                       help="program the tasks run (default: this program, by absolute path; e.g. "
                            "'/path/venv/bin/python -m laion_fmri_tui')")


def check_arguments(args: argparse.Namespace) -> None:
    """Mistakes in the cluster flags, found before the bucket is listed.

    Raises:
        UsageError: one line saying what to change.
    """
    if not args.emit_sbatch:
        if args.emit_verify:
            raise UsageError("--emit-verify goes with --emit-sbatch FILE")
        return
    if args.shards < 1:
        raise UsageError(f"--shards must be at least 1 (got {args.shards})")
    if args.slurm_max_running is not None and args.slurm_max_running < 1:
        raise UsageError(f"--slurm-max-running must be at least 1 (got {args.slurm_max_running})")
    if args.shard is not None:
        raise UsageError("--shard is for the tasks: the script passes it; drop it with --emit-sbatch")
    if args.verify or args.dry_run:
        raise UsageError("--emit-sbatch writes a script; drop --verify / --dry-run")
    if args.slurm_command is not None and not shlex.split(args.slurm_command):
        raise UsageError("--slurm-command is empty")
    script = Path(args.emit_sbatch).expanduser()
    if not script.parent.is_dir():
        raise UsageError(f"folder does not exist: {script.parent}")


def emit(args: argparse.Namespace, plan: Plan, given_plan: Path | None = None) -> int:
    """Write the plan (unless ``given_plan``, a ``--plan`` file, is used as is), the
    script and, with ``--emit-verify``, the verify job; print how to submit.

    Raises:
        UsageError: a bad ``--slurm-*`` value or a file that cannot be written.
    """
    script = Path(os.path.abspath(Path(args.emit_sbatch).expanduser()))
    plan_path = Path(os.path.abspath(given_plan)) if given_plan else array_script.companion(script, ".plan.json")
    verify_path = array_script.companion(script, ".verify.sh") if args.emit_verify else None
    job = array_script.ArrayJob(
        script=script, plan=plan_path, shards=args.shards, program=_program(args),
        extra_args=_extra_args(args), max_running=args.slurm_max_running, verify_script=verify_path,
        stimuli=any(i.source == "access" for i in plan.items), files=plan.files,
        size=size(plan.bytes_total))
    options = array_script.JobOptions(
        job_name=args.slurm_job_name, partition=args.slurm_partition, time=args.slurm_time,
        cpus_per_task=args.slurm_cpus_per_task, mem=args.slurm_mem or None)
    try:
        texts = {script: array_script.array_script(job, options)}
        if verify_path is not None:
            texts[verify_path] = array_script.verify_script(job, options)
    except ValueError as error:
        raise UsageError(str(error)) from error
    if given_plan is None:
        plan_file.write(plan, plan_path)
    for path, text in texts.items():
        write_command_file(path, text, executable=True)
    quoted = shlex.quote(str(script))
    submit = f"sbatch {quoted}"
    if verify_path is not None:
        submit = (f"sbatch --dependency=afterok:$(sbatch --parsable {quoted}) "
                  f"{shlex.quote(str(verify_path))}")
    if job.stimuli:
        submit = f"{REQUEST_ID_ENV}=<id> {submit}"
    also = f" and {verify_path.name}" if verify_path is not None else ""
    sys.stdout.write(f"wrote {script} ({args.shards} array task(s)){also}, plan {plan_path} "
                     f"({plan.files} files, {size(plan.bytes_total)}); submit with: {submit}\n")
    return 0


def _program(args: argparse.Namespace) -> list[str]:
    """The argv prefix the tasks run, absolute unless the user chose otherwise."""
    if args.slurm_command:
        return shlex.split(args.slurm_command)
    started = sys.argv[0] if sys.argv else ""
    name = os.path.basename(started)
    if name and not name.endswith(".py"):  # the console script (not python -m / __main__.py)
        found = started if os.sep in started else shutil.which(started)
        if found and os.access(found, os.X_OK):
            return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "laion_fmri_tui"]


def _extra_args(args: argparse.Namespace) -> list[str]:
    """How each task fetches carries over too, not only what it fetches (defaults are left out)."""
    extra: list[str] = []
    if args.endpoint_url:
        extra += ["--endpoint-url", args.endpoint_url]
    if args.access_url:
        extra += ["--access-url", args.access_url]
    if args.jobs != EngineSettings.jobs:
        extra += ["--n-jobs", str(args.jobs)]
    if args.part_size:
        extra += ["--part-size", str(args.part_size)]
    if args.retries != EngineSettings.retries:
        extra += ["--retries", str(args.retries)]
    if getattr(args, "max_bandwidth", None):
        extra += ["--max-bandwidth", str(args.max_bandwidth)]
    if not getattr(args, "fsync", True):
        extra += ["--no-fsync"]
    return extra
