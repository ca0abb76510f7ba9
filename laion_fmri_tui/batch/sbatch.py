"""``--emit-sbatch FILE``: write a SLURM array script instead of downloading.

Large selections are fetched fastest by many nodes at once; each array task
runs this tool with ``--shard K/N`` so the tasks split the files without
talking to each other. The script is built by ``core.commandline`` so the
app and the batch mode print the very same thing.

Which program the tasks run: ``laion-fmri-tui`` looked up on the job's PATH
by default; ``--slurm-command "CMD ..."`` (shell-split) replaces it, e.g.
``--slurm-command "/opt/venv/bin/python -m laion_fmri_tui"`` when the entry
point is not on the compute nodes' PATH.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from laion_fmri_tui.core.commandline import PROG, REQUEST_ID_ENV, slurm_script, write_command_file
from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.selection import Selection
from laion_fmri_tui.core.transfer.settings import EngineSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``cluster`` flag group (kept here so ``args.py`` only calls this)."""
    group = parser.add_argument_group(
        "cluster", "write a SLURM array script for this selection instead of downloading")
    group.add_argument("--emit-sbatch", metavar="FILE",
                       help="write the script to FILE (mode 0755) and exit")
    group.add_argument("--shards", type=int, default=1, metavar="N",
                       help="array tasks; task K runs with --shard K/N (default 1)")
    group.add_argument("--slurm-partition", metavar="NAME")
    group.add_argument("--slurm-time", metavar="D-HH:MM:SS")
    group.add_argument("--slurm-cpus-per-task", type=int, metavar="N")
    group.add_argument("--slurm-job-name", default="laion-fmri", metavar="NAME")
    group.add_argument("--slurm-command", metavar="CMD",
                       help=f"program the tasks run (default {PROG}; e.g. "
                            "'/path/venv/bin/python -m laion_fmri_tui')")


def emit(args: argparse.Namespace, selection: Selection, data_dir: Path) -> int:
    """Write the script and print one line saying where and how to submit it.

    Raises:
        UsageError: a bad ``--shards`` / ``--slurm-*`` value or an empty selection.
    """
    if args.shards < 1:
        raise UsageError(f"--shards must be at least 1 (got {args.shards})")
    program = shlex.split(args.slurm_command) if args.slurm_command else [PROG]
    if not program:
        raise UsageError("--slurm-command is empty")
    extra: list[str] = []
    if args.endpoint_url:
        extra += ["--endpoint-url", args.endpoint_url]
    if args.access_url:
        extra += ["--access-url", args.access_url]
    # How each task fetches carries over too, not only what it fetches.
    if args.jobs != EngineSettings.jobs:
        extra += ["--n-jobs", str(args.jobs)]
    if args.part_size:
        extra += ["--part-size", str(args.part_size)]
    if args.retries != EngineSettings.retries:
        extra += ["--retries", str(args.retries)]
    if getattr(args, "max_bandwidth", None):
        extra += ["--max-bandwidth", str(args.max_bandwidth)]
    try:
        text = slurm_script(
            [selection], Path(data_dir).expanduser().resolve(), job_name=args.slurm_job_name,
            time=args.slurm_time, partition=args.slurm_partition,
            cpus_per_task=args.slurm_cpus_per_task, shards=args.shards,
            program=program, extra_args=extra)
    except ValueError as error:
        raise UsageError(str(error)) from error
    path = write_command_file(Path(args.emit_sbatch), text, executable=True)
    submit = f"sbatch {shlex.quote(str(path))}"
    if selection.stimuli:
        submit = f"{REQUEST_ID_ENV}=<id> {submit}"
    sys.stdout.write(f"wrote {path} ({args.shards} array task(s)); submit with: {submit}\n")
    return 0
