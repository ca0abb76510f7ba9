"""The dataset package's other commands, headless: ``config`` and ``info``.

``laion-fmri-tui config --data-dir DIR`` is the package's ``laion-fmri config
--data-dir DIR``: it writes the same file (``$XDG_CONFIG_HOME/laion_fmri/
config.json``, ``{"data_dir": ...}``), so the package and this tool share
one setting. ``laion-fmri-tui info [--subject ID|all] [--json]`` is the
package's ``info``/``describe()`` grown into what a user needs before a
download: subjects, their parts and sessions, sizes, and what is on disk.
Both are words before any flag, as in the package; ``--batch`` in front is
accepted too, so a job script can keep one form. Like ``--batch``, bad input
is one line on stderr and exit 2, and output goes through
:class:`~laion_fmri_tui.batch.safe_output.SafeStream` (``info | head -1``,
``> /dev/full``: one line on stderr, no traceback); nothing here imports Textual.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from laion_fmri_tui.batch.args import PROG, OneLineParser, add_network_arguments, only_all
from laion_fmri_tui.batch.exit_codes import ExitCode, for_error
from laion_fmri_tui.batch.interrupt import leave_at_once
from laion_fmri_tui.batch.safe_output import SafeStream, printable
from laion_fmri_tui.core.disk import datadir
from laion_fmri_tui.core.errors import DataDirError, LaionFmriError, UsageError
from laion_fmri_tui.core.redact import redact, redact_arguments

NAMES = ("config", "info")

CONSEQUENCE = {
    "config": "the data directory was saved all the same",
    "info": "the listing was not all written (exit 1)",
}
"""What a failed stdout means for each command (said once on stderr)."""


class CommandParser(OneLineParser):
    """One line for a mistake, pointing at this command's own help."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {redact_arguments(message)} (see {self.prog} --help)\n")
        raise SystemExit(ExitCode.USAGE)


def config_parser() -> CommandParser:
    parser = CommandParser(
        prog=f"{PROG} config",
        description="Save the data directory where the dataset package (laion-fmri config) "
                    f"keeps it: {datadir.config_path()}")
    parser.add_argument("--data-dir", metavar="DIR", required=True,
                        help="an existing, writable directory (stored as an absolute path)")
    return parser


def info_parser() -> CommandParser:
    parser = CommandParser(
        prog=f"{PROG} info",
        description="List what the bucket holds without downloading: subjects and their parts; "
                    "with --subject, sessions, sizes and what is already in the data directory.")
    parser.add_argument("--subject", action="extend", nargs="+", default=[], metavar="ID|all",
                        help="subject id (01 or sub-01) or 'all'; repeatable")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="whose files count as local (default: the configured one, if any); "
                             "read only, so a read-only directory is fine")
    parser.add_argument("--access-url", metavar="URL",
                        help="access service whose public manifest gives the stimulus files' sha256 "
                             "(env LAION_FMRI_ACCESS_URL)")
    add_network_arguments(parser)
    return parser


def main(argv: list[str], whole_process: bool = False) -> int:
    """``argv`` starts with the command's name (``--batch`` already removed);
    ``whole_process`` as for :func:`laion_fmri_tui.batch.runner.main`."""
    from laion_fmri_tui.batch.runner import escape_unencodable, output_streams, settle

    name, rest = argv[0], argv[1:]
    escape_unencodable()
    out, err = output_streams()
    prog = f"{PROG} {name}"
    try:
        if name == "config":
            return int(_config(config_parser().parse_args(rest), out, err))
        with leave_at_once(prog, whole_process=whole_process):  # info only reads: nothing to save
            code = int(_info(info_parser().parse_args(rest), out, err))
        out.flush()  # a pipe's block buffer fails here, where it counts, not in the exit's flush
        return int(ExitCode.FILES_FAILED) if out.broken is not None and code == ExitCode.OK else code
    except LaionFmriError as error:
        err.write(f"{prog}: {printable(redact(error))}\n")
        return int(for_error(error))
    except KeyboardInterrupt:
        err.write(f"{prog}: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    finally:
        out.flush()
        settle(out, err, prog, CONSEQUENCE[name])


def _config(args: argparse.Namespace, out: SafeStream, err: SafeStream) -> int:
    if not args.data_dir.strip():
        raise UsageError("--data-dir is empty; give the directory to save, e.g. --data-dir /scratch/laion")
    data_dir = datadir.resolve_data_dir(args.data_dir)
    problem = datadir.config_problem()
    try:
        path = datadir.save_data_dir(data_dir)
    except OSError as error:
        where = error.filename or datadir.config_path()
        raise DataDirError(f"could not write {where}: {error.strerror or error}; nothing was changed") from None
    if problem is not None:
        err.write(f"{PROG} config: warning: {printable(problem)}; it was replaced by "
                  "{\"data_dir\": ...} (other settings in it are lost)\n")
    linked = f" (through the link {datadir.config_path()})" if path != datadir.config_path() else ""
    out.write(f"Data directory set to: {printable(str(data_dir))} (saved in {printable(str(path))}{linked})\n")
    return ExitCode.OK


def _info(args: argparse.Namespace, out: SafeStream, err: SafeStream) -> int:
    from laion_fmri_tui.batch import info
    from laion_fmri_tui.core.s3.catalog import Catalog
    from laion_fmri_tui.core.settings import NetworkSettings, S3Settings
    from laion_fmri_tui.core.plan.inventory import take_inventory
    from laion_fmri_tui.core.s3.endpoint import endpoint_from_env
    from laion_fmri_tui.core.s3.client import S3Http
    from laion_fmri_tui.core.plan.selection import normalise_subject

    subjects = only_all(tuple(dict.fromkeys(normalise_subject(s) for s in args.subject)))
    data_dir = datadir.resolve_data_dir(args.data_dir, writable=False) if args.data_dir else _configured()
    network = NetworkSettings(proxy=args.proxy, ca_bundle=args.ca_bundle)
    settings = S3Settings(endpoint_url=endpoint_from_env(args.endpoint_url), network=network)
    catalog = Catalog(S3Http(settings), settings.bucket)
    inventory = take_inventory(catalog, subjects, data_dir, lambda: _stimulus_sha256(args, network, err))
    if args.json:
        out.write(json.dumps(info.to_json(inventory)) + "\n")
    else:
        info.write_text(inventory, out)
    return ExitCode.OK


def _stimulus_sha256(args, network, err: SafeStream) -> dict[str, str] | None:
    """The stimulus files' sha256 from the access service's public manifest
    (no request id), so that ``info`` calls them complete by the plan's rule.
    A service that does not answer leaves them "not checked" with one
    warning; the rest of the listing is still shown."""
    from laion_fmri_tui.core.access.client import AccessClient

    try:
        manifest = AccessClient(args.access_url, retries=1, network=network).manifest()
    except LaionFmriError as error:
        err.write(f"{PROG} info: warning: the stimulus files were not checked on disk "
                  f"({printable(redact(error))})\n")
        return None
    return {spec.name: spec.sha256 for spec in manifest.files}


def _configured() -> Path | None:
    """The configured data directory; None when none is configured (info works
    without one). A configured one that is missing or unreadable, or a config
    file that cannot be read, is an error naming it: silently showing nothing
    on disk would read as "nothing downloaded yet"."""
    if datadir.configured_data_dir() is None and datadir.config_problem() is None:
        return None
    return datadir.resolve_data_dir(None, writable=False)
