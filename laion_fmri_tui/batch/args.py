"""The ``--batch`` command line, mirroring the dataset package's ``download``.

Flag names and shapes follow ``laion-fmri download`` (filters take one or
more values, ``--include-embeddings`` bare means all four models) so its
users can switch without relearning. Parse errors are one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from laion_fmri_tui import __version__
from laion_fmri_tui.batch import exit_codes, sbatch
from laion_fmri_tui.core.plan import shard
from laion_fmri_tui.core import units
from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.http import retry
from laion_fmri_tui.core.redact import redact_arguments
from laion_fmri_tui.core.settings import EngineSettings
from laion_fmri_tui.core.plan.selection import (
    COMPONENTS, DEFAULT_COMPONENTS, EMBEDDING_MODELS, Filters, Selection,
    normalise_models, normalise_subject,
)

PROG = "laion-fmri-tui"
FILTER_FLAGS = ("ses", "task", "space", "desc", "stat", "suffix", "extension", "run", "echo", "part")


DEFAULT_JOBS = EngineSettings.jobs

# ---- the headless commands besides --batch (batch/commands.py) ----
COMMANDS_HELP = f"""commands (headless, like the dataset package's laion-fmri):
  {PROG} config --data-dir DIR
      save the data directory where laion-fmri and this tool look for it
  {PROG} info [--subject ID|all] [--json]
      list subjects, parts, sessions, sizes and what is on disk (no download)"""


class KeepLinesFormatter(argparse.HelpFormatter):
    """Wraps help as usual, but keeps a text that has its own line breaks
    (the epilog listing the commands) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a mistake as one line instead of usage + error."""

    def __init__(self, *args, help_command: str = f"{PROG} --batch --help", **kwargs) -> None:
        """``help_command``: where the line sends the user for the flags."""
        super().__init__(*args, **kwargs)
        self.help_command = help_command

    def error(self, message: str) -> NoReturn:
        # argparse echoes arguments (a misspelt --proxy's URL): no password may show
        sys.stderr.write(f"{self.prog}: error: {redact_arguments(message)} (see {self.help_command})\n")
        raise SystemExit(exit_codes.ExitCode.USAGE)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description="Download LAION-fMRI data without the full-screen app.",
        epilog=f"{exit_codes.epilog()}\n\n{COMMANDS_HELP}",
        formatter_class=KeepLinesFormatter,
    )
    parser.add_argument("--batch", action="store_true", help="run headless (this mode)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    what = parser.add_argument_group("what to download")
    what.add_argument("--subject", action="extend", nargs="+", default=[], metavar="ID|all",
                      help="subject id (01 or sub-01) or 'all'; repeatable")
    for name in FILTER_FLAGS:
        what.add_argument(f"--{name}", action="extend", nargs="+", metavar="VALUE",
                          help=f"keep only files whose {name} is one of these values")
    for name in COMPONENTS:
        if name not in DEFAULT_COMPONENTS:
            what.add_argument(f"--include-{name}", action="store_true",
                              help=f"also fetch the subject's {name} data")
    what.add_argument("--only", nargs="+", choices=COMPONENTS, metavar="PART",
                      help="walk only these per-subject parts instead of the default "
                           f"glmsingle+rois ({', '.join(COMPONENTS)})")
    what.add_argument("--include-embeddings", nargs="*", metavar="MODEL",
                      help=f"stimulus embeddings: {', '.join(EMBEDDING_MODELS)} (bare: all four)")
    what.add_argument("--include-segmentations", action="store_true")
    what.add_argument("--include-captions", action="store_true")
    what.add_argument("--include-stimuli", action="store_true",
                      help="the stimulus images (needs a data-use agreement: see --request-access)")
    access = parser.add_argument_group(
        "stimulus access", "submit the data-use agreement without the app (stores a request id in auth.json)")
    add_access_url_argument(access)
    access.add_argument("--request-access", action="store_true", help="submit the form below")
    access.add_argument("--name", metavar="TEXT", help="your full name")
    access.add_argument("--email", metavar="ADDRESS", help="your institutional email")
    access.add_argument("--institution", metavar="TEXT", help="institution / affiliation")
    access.add_argument("--pi", metavar="TEXT", default="", help="PI or supervisor (optional)")
    access.add_argument("--purpose", metavar="TEXT", help="research purpose (at least 20 characters)")
    access.add_argument("--accept-terms", action="store_true",
                        help="you accept the terms of use and have read the privacy notice")
    how = parser.add_argument_group("how")
    add_run_arguments(how)
    how.add_argument("--part-size", type=parse_part_size, metavar="SIZE",
                     help="fetch objects larger than SIZE (e.g. 64M) as parallel ranged parts "
                          "of that size (default: adapted to each object)")
    how.add_argument("--no-fsync", dest="fsync", action="store_false",
                     help="do not flush each large file to disk before it takes its name (faster on "
                          "some parallel filesystems; a node crash may then leave a damaged file)")
    how.add_argument("--shard", type=parse_shard, metavar="K/N",
                     help="fetch only part K of N (0-based, e.g. $SLURM_ARRAY_TASK_ID/8); "
                          "shards may share one data directory")
    how.add_argument("--verify", action="store_true",
                     help="check the selection on disk (size and checksums); download nothing; "
                          "exit 0 only when every file is complete")
    how.add_argument("--retries", type=int, metavar="N",
                     help="also give up on a file or part after N attempts (default: --retry-for alone)")
    how.add_argument("--accept-license", action="store_true",
                     help="accept the CC0 dataset licence for this data directory")
    how.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    how.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    how.add_argument("--progress-every", type=float, metavar="SECONDS",
                     help="seconds between progress lines (default 2 on a terminal, 10 otherwise)")
    # Frozen plans and repair (issue 22): kept together, apart from other groups.
    plans = parser.add_argument_group("frozen plan")
    plans.add_argument("--plan", metavar="FILE",
                       help="fetch (or --verify) exactly the files in FILE, without listing the bucket: "
                            "the plan --emit-sbatch writes, or a saved --dry-run --json; "
                            "replaces the selection flags")
    plans.add_argument("--repair", action="store_true",
                       help="with --verify: fetch the missing and bad files again")
    sbatch.add_arguments(parser)
    return parser


SELECTION_DESTS = ("subject", *FILTER_FLAGS, "only", "include_embeddings", "include_segmentations",
                   "include_captions", "include_stimuli",
                   *(f"include_{c}" for c in COMPONENTS if c not in DEFAULT_COMPONENTS))
"""The flags that say what to fetch; a ``--plan`` file says that instead."""


def add_run_arguments(group) -> None:
    """The flags of how a download runs that ``--batch`` and the app share:
    ``--data-dir``, the network's (:func:`add_network_arguments`), ``--n-jobs``,
    ``--max-bandwidth`` and ``--retry-for``. One definition, so both front ends
    accept and refuse the same values with the same message."""
    group.add_argument("--data-dir", metavar="DIR", help="overrides the configured data directory")
    add_network_arguments(group)
    group.add_argument("--n-jobs", "--jobs", dest="jobs", type=parse_jobs, default=DEFAULT_JOBS, metavar="N",
                       help=f"ranged parts in flight, {MIN_JOBS}-{MAX_JOBS} (default {DEFAULT_JOBS}); "
                            "with whole small files, up to 4 x N requests at once")
    group.add_argument("--max-bandwidth", type=parse_rate, metavar="RATE",
                       help="cap all transfers together at RATE bytes per second (e.g. 300k, 50M, 1G: "
                            "powers of 1000; 50MiB: of 1024); in the app, w changes it while downloading")
    group.add_argument("--retry-for", type=parse_duration, default=EngineSettings.retry_for, metavar="TIME",
                       help="keep retrying a file through throttling (503 SlowDown), 5xx and dropped "
                            "connections for TIME without progress, e.g. 90s, 10m (default 5m)")


def add_access_url_argument(group) -> None:
    """``--access-url``, for ``--batch`` and the app."""
    group.add_argument("--access-url", metavar="URL",
                       help="access service (default: env LAION_FMRI_ACCESS_URL or the production service)")


def add_network_arguments(group) -> None:
    """``--endpoint-url``, ``--proxy`` and ``--ca-bundle``: one definition for
    ``--batch``, ``info`` and the app, so the three cannot drift apart."""
    group.add_argument("--endpoint-url", metavar="URL",
                       help="S3 endpoint (default: AWS; env LAION_FMRI_S3_ENDPOINT_URL)")
    group.add_argument("--proxy", metavar="URL",
                       help="http://[user:pass@]host:port for every request (default: HTTPS_PROXY, HTTP_PROXY, "
                       "ALL_PROXY; NO_PROXY applies)")
    group.add_argument("--ca-bundle", metavar="FILE",
                       help="PEM file of CAs to trust too (default: AWS_CA_BUNDLE, REQUESTS_CA_BUNDLE)")


def check_plan_flags(args: argparse.Namespace) -> None:
    """``--plan`` replaces the selection; ``--repair`` needs ``--verify``.

    Raises:
        UsageError: a selection flag given with ``--plan``, or ``--repair`` alone.
    """
    if args.repair and not args.verify:
        raise UsageError("--repair goes with --verify (it fetches what verify finds missing or bad)")
    if args.repair and args.dry_run:
        raise UsageError("--repair fetches files and --dry-run writes nothing: drop one "
                         "(--verify alone only reports)")
    if args.plan is None:
        return
    given = [d for d in SELECTION_DESTS if getattr(args, d, None) not in (None, False, [])]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(f"--plan FILE holds the selection: drop {flag} (or drop --plan)")
    if args.retries is not None and args.retries < 1:
        raise UsageError(f"--retries must be at least 1 (got {args.retries})")


MIN_PART_SIZE = 256 * 1024
"""The smallest ``--part-size``: below it a file takes thousands of GETs for
no gain (``--part-size 1`` once made 21,422 GETs for 21 kB)."""


MIN_JOBS, MAX_JOBS = 1, 256
"""``--n-jobs`` bounds: at least one part in flight; above 256 (1,024 requests
with small files) a node's file descriptors and the bucket's throttling
decide, not the flag."""


def parse_jobs(text: str) -> int:
    """argparse type for ``--n-jobs``: a whole number from :data:`MIN_JOBS` to :data:`MAX_JOBS`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from {MIN_JOBS} to {MAX_JOBS} "
                                         f"(got {text!r})") from None
    if not MIN_JOBS <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"must be between {MIN_JOBS} and {MAX_JOBS} (got {value})")
    return value


def parse_size(text: str) -> int:
    """argparse type for sizes (the rule lives in core.units)."""
    try:
        return units.parse_size(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_rate(text: str) -> int:
    """argparse type for ``--max-bandwidth``: k, M, G are powers of 1000 (core.units.parse_rate)."""
    try:
        return units.parse_rate(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_part_size(text: str) -> int:
    """argparse type for ``--part-size``: a size of at least :data:`MIN_PART_SIZE`."""
    value = parse_size(text)
    if value < MIN_PART_SIZE:
        raise argparse.ArgumentTypeError(f"must be at least 256K (got {text}): smaller parts "
                                         "only add requests; leave it out to adapt it to each file")
    return value


def parse_duration(text: str) -> float:
    """argparse type for ``--retry-for``: seconds, or a number with s, m or h."""
    try:
        return retry.parse_duration(text)
    except (ValueError, KeyError, IndexError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a time: give seconds or e.g. 90s, 10m, 1h") from None


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N), 0 <= K < N."""
    try:
        return shard.parse_spec(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--shard ")) from None


def only_all(subjects: tuple[str, ...]) -> tuple[str, ...]:
    """``all`` stands alone: ``--subject all 99`` would otherwise drop the 99 unseen."""
    if "all" not in subjects:
        return subjects
    others = [s for s in subjects if s != "all"]
    if others:
        raise UsageError(f"--subject all already means every subject; drop {', '.join(others)} "
                         "or give the subjects one by one")
    return ("all",)


def selection_from(args: argparse.Namespace) -> Selection:
    """Flags -> the core's Selection; raises UsageError on a mistake."""
    subjects = tuple(dict.fromkeys(normalise_subject(s) for s in args.subject))
    subjects = only_all(subjects)
    components = set(args.only) if args.only else set(DEFAULT_COMPONENTS)
    components.update(c for c in COMPONENTS if getattr(args, f"include_{c}", False))
    filters = Filters.build(**{n: getattr(args, n) for n in FILTER_FLAGS})
    embeddings = normalise_models(args.include_embeddings) if args.include_embeddings is not None else ()
    selection = Selection(
        subjects=subjects, filters=filters, components=frozenset(components),
        embeddings=embeddings, segmentations=args.include_segmentations,
        captions=args.include_captions, stimuli=args.include_stimuli,
    )
    if selection.is_empty and not args.request_access:
        raise UsageError("nothing to download: give --subject ID|all and/or "
                         "--include-embeddings / --include-segmentations / --include-captions / "
                         "--include-stimuli")
    if args.retries is not None and args.retries < 1:
        raise UsageError(f"--retries must be at least 1 (got {args.retries})")
    return selection
