"""``--emit-sbatch FILE``: freeze the plan and write a SLURM array script.

Large selections are fetched fastest by many nodes at once. The selection is
listed once, here on the login node, and written as a plan file beside the
script (``job.sh`` -> ``job.plan.json``); each array task runs this tool with
``--plan job.plan.json --shard K/N`` and lists nothing, so tasks that start
hours apart still split the very same files. ``--emit-verify`` also writes
``job.verify.sh``, a job that runs ``--verify`` over the whole plan, chained
after the array with ``--dependency=afterok`` (one command, printed).
The script text is built by :mod:`laion_fmri_tui.core.scripts.array_script`.

Which program the tasks run: this very program, by absolute path (the
console script, or ``python -m laion_fmri_tui`` with this interpreter), so a
task started with ``--export=NONE`` (no PATH, no PYTHONPATH) still finds it.
``--slurm-command "CMD ..."`` (shell-split) replaces it.

Where the tasks fetch from is written in too, for the same reason: the
endpoint in effect here (``--endpoint-url``, else ``LAION_FMRI_S3_ENDPOINT_URL``:
the plan's ETags are that bucket's), the access service likewise,
``--ca-bundle`` by absolute path, and ``--proxy``. A proxy URL with
credentials is exported in the script rather than passed as an argument, and
the script is then readable by its owner only (0700); the password never
reaches a log. Proxies and CA bundles named only in the environment are left
to the job's environment: a compute node's network may differ from the login
node's.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

from laion_fmri_tui.batch.safe_output import SafeStream
from laion_fmri_tui.core.scripts import array_script

from laion_fmri_tui.core.plan import plan_file
from laion_fmri_tui.core.scripts.command_line import REQUEST_ID_ENV, write_command_file
from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.http.network import parse_proxy
from laion_fmri_tui.core.models import Plan
from laion_fmri_tui.core.s3.endpoint import endpoint_from_env
from laion_fmri_tui.core.settings import EngineSettings
from laion_fmri_tui.core.units import count, size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``cluster`` flag group (kept here so ``args.py`` only calls this)."""
    group = parser.add_argument_group(
        "cluster", "freeze the plan and write a SLURM array script for it instead of downloading")
    group.add_argument("--emit-sbatch", metavar="FILE",
                       help="write the script to FILE (mode 0755; 0700 when --proxy holds a password) "
                            "and the plan beside it (FILE without .sh + .plan.json), then exit")
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
    group.add_argument("--slurm-job-name", default="laion-fmri", metavar="NAME",
                       help="letters, digits and . _ + - (it names the logs too)")
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
    try:
        array_script.check_job_name(args.slurm_job_name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    script = Path(args.emit_sbatch).expanduser()
    if not script.parent.is_dir():
        raise UsageError(f"folder does not exist: {script.parent}")
    if args.plan is not None:
        _check_not_over_the_plan(args, script)


def _check_not_over_the_plan(args: argparse.Namespace, script: Path) -> None:
    """``--plan P --emit-sbatch P`` (or ``--emit-verify`` onto P) would replace
    the plan the script is to run with the script itself."""
    plan = os.path.realpath(Path(args.plan).expanduser())
    written = [("--emit-sbatch", script)]
    if args.emit_verify:
        written.append(("--emit-verify", array_script.companion(script, ".verify.sh")))
    for flag, path in written:
        if os.path.realpath(path) == plan:
            raise UsageError(f"{flag} would write {path} over the plan {args.plan}: "
                             "give the script another name, e.g. job.sh")


def emit(args: argparse.Namespace, plan: Plan, out: SafeStream, given_plan: Path | None = None) -> int:
    """Write the plan (unless ``given_plan``, a ``--plan`` file, is used as is), the
    script and, with ``--emit-verify``, the verify job; print how to submit.

    Raises:
        UsageError: a bad ``--slurm-*`` value or a file that cannot be written.
    """
    script = Path(os.path.abspath(Path(args.emit_sbatch).expanduser()))
    plan_path = Path(os.path.abspath(given_plan)) if given_plan else array_script.companion(script, ".plan.json")
    verify_path = array_script.companion(script, ".verify.sh") if args.emit_verify else None
    environment = _proxy_environment(args.proxy)
    job = array_script.ArrayJob(
        script=script, plan=plan_path, shards=args.shards, program=_program(args),
        extra_args=_extra_args(args, with_proxy=not environment), environment=environment,
        max_running=args.slurm_max_running, verify_script=verify_path,
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
        if environment:
            _write_private(path, text)
        else:
            write_command_file(path, text, executable=True)
    quoted = shlex.quote(str(script))
    submit = f"sbatch {quoted}"
    if verify_path is not None:
        submit = (f"sbatch --dependency=afterok:$(sbatch --parsable {quoted}) "
                  f"{shlex.quote(str(verify_path))}")
    if job.stimuli:
        submit = f"{REQUEST_ID_ENV}=<id> {submit}"
    also = f" and {verify_path.name}" if verify_path is not None else ""
    out.write(f"wrote {script} ({args.shards} array task(s)){also}, plan {plan_path} "
              f"({count(plan.files, 'file')}, {size(plan.bytes_total)}); submit with: {submit}\n")
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


def _extra_args(args: argparse.Namespace, *, with_proxy: bool = True) -> list[str]:
    """How each task fetches carries over too, not only what it fetches (defaults are left
    out): where from, through which proxy, trusting which CA (see the module's docstring)."""
    from laion_fmri_tui.core.access.client import ENV_ACCESS_URL  # httpx: only when a script is written

    extra: list[str] = []
    endpoint = endpoint_from_env(args.endpoint_url)
    if endpoint:
        extra += ["--endpoint-url", endpoint]
    access = args.access_url or os.environ.get(ENV_ACCESS_URL, "").strip()
    if access:
        extra += ["--access-url", access]
    if args.proxy and with_proxy:
        extra += ["--proxy", args.proxy]
    if args.ca_bundle:
        extra += ["--ca-bundle", os.path.abspath(os.path.expanduser(args.ca_bundle))]
    if args.jobs != EngineSettings.jobs:
        extra += ["--n-jobs", str(args.jobs)]
    if args.part_size:
        extra += ["--part-size", str(args.part_size)]
    if args.retries != EngineSettings.retries:
        extra += ["--retries", str(args.retries)]
    if args.retry_for != EngineSettings.retry_for:
        extra += ["--retry-for", f"{args.retry_for:g}"]
    if getattr(args, "max_bandwidth", None):
        extra += ["--max-bandwidth", str(args.max_bandwidth)]
    if not getattr(args, "fsync", True):
        extra += ["--no-fsync"]
    return extra


def _proxy_environment(proxy: str | None) -> tuple[tuple[str, str], ...]:
    """``--proxy`` with credentials as the variables that mean the same to the
    tasks (lower case wins over upper; ``no_proxy`` applies to both); empty
    for no proxy or one without credentials, which goes in as ``--proxy``."""
    if not proxy or parse_proxy(proxy).authorization is None:
        return ()
    return (("https_proxy", proxy), ("http_proxy", proxy))


def _write_private(path: Path, text: str) -> None:
    """Write a script that holds a password: created mode 0700 (owner only)
    through a temp file and a rename, so no other user can read it at any moment."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o700)  # the umask may have taken bits away; none is added
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
