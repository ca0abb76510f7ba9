"""The dataset package's other commands, headless: ``config`` and ``info``.

``laion-fmri-tui config --data-dir DIR`` is the package's ``laion-fmri config
--data-dir DIR``: it writes the same file (``$XDG_CONFIG_HOME/laion_fmri/
config.json``, ``{"data_dir": ...}``), so the package and this tool share
one setting. ``laion-fmri-tui info [--subject ID|all] [--json]`` is the
package's ``info``/``describe()`` grown into what a user needs before a
download: subjects, their parts and sessions, sizes, and what is on disk.
Both are words before any flag, as in the package; ``--batch`` in front is
accepted too, so a job script can keep one form. Like ``--batch``, bad input
is one line on stderr and exit 2; nothing here imports Textual.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import NoReturn

from laion_fmri_tui.batch.args import PROG, OneLineParser
from laion_fmri_tui.batch.exit_codes import ExitCode
from laion_fmri_tui.core import config
from laion_fmri_tui.core.errors import DataDirError, LaionFmriError
from laion_fmri_tui.core.redact import redact

NAMES = ("config", "info")


class CommandParser(OneLineParser):
    """One line for a mistake, pointing at this command's own help."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(ExitCode.USAGE)


def config_parser() -> CommandParser:
    parser = CommandParser(
        prog=f"{PROG} config",
        description="Save the data directory where the dataset package (laion-fmri config) "
                    f"keeps it: {config.config_path()}")
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
                        help="whose files count as local (default: the configured one, if any)")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="S3 endpoint (default: AWS; env LAION_FMRI_S3_ENDPOINT_URL)")
    return parser


def main(argv: list[str]) -> int:
    """``argv`` starts with the command's name (``--batch`` already removed)."""
    name, rest = argv[0], argv[1:]
    try:
        if name == "config":
            return int(_config(config_parser().parse_args(rest)))
        return int(_info(info_parser().parse_args(rest)))
    except LaionFmriError as error:
        sys.stderr.write(f"{PROG} {name}: {redact(error)}\n")
        return int(error.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG} {name}: interrupted\n")
        return int(ExitCode.INTERRUPTED)


def _config(args: argparse.Namespace) -> int:
    data_dir = config.resolve_data_dir(args.data_dir)
    try:
        path = config.save_data_dir(data_dir)
    except OSError as error:
        raise DataDirError(f"could not write {config.config_path()}: {error.strerror or error}") from None
    sys.stdout.write(f"Data directory set to: {data_dir} (saved in {path})\n")
    return ExitCode.OK


def _info(args: argparse.Namespace) -> int:
    from laion_fmri_tui.batch import info
    from laion_fmri_tui.core.catalog import Catalog
    from laion_fmri_tui.core.inventory import take_inventory
    from laion_fmri_tui.core.s3 import S3Settings, endpoint_from_env
    from laion_fmri_tui.core.s3_http import S3Http
    from laion_fmri_tui.core.selection import normalise_subject

    subjects = [normalise_subject(s) for s in args.subject]
    data_dir = config.resolve_data_dir(args.data_dir) if args.data_dir else _configured()
    settings = S3Settings(endpoint_url=endpoint_from_env(args.endpoint_url))
    inventory = take_inventory(Catalog(S3Http(settings), settings.bucket), subjects, data_dir)
    if args.json:
        sys.stdout.write(json.dumps(info.to_json(inventory)) + "\n")
    else:
        info.write_text(inventory, sys.stdout)
    return ExitCode.OK


def _configured():
    """The configured data directory when it is usable; info works without one."""
    try:
        return config.resolve_data_dir(None)
    except DataDirError:
        return None
