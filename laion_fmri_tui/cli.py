"""Entry point: ``--batch``, ``config`` and ``info`` run headless; otherwise the full-screen app.

The app (and so Textual) is imported only inside the branch that needs it,
which keeps ``--batch`` light to start and free of Textual.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from laion_fmri_tui.tui.signals import SignalExit

PROG = "laion-fmri-tui"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = [a for a in args if a != "--batch"]
    if command and not command[0].startswith("-"):
        from laion_fmri_tui.batch import commands  # config / info: headless, like --batch

        if command[0] in commands.NAMES:
            return _end_process(commands.main(command, whole_process=argv is None), whole_process=argv is None)
    if "--batch" in args:
        from laion_fmri_tui.batch.runner import main as batch_main

        return _end_process(batch_main(args, whole_process=argv is None), whole_process=argv is None)
    return _end_process(run_app(args), whole_process=argv is None)


def _end_process(code: int, *, whole_process: bool) -> int:
    """End the process at once with ``code``, once its output is flushed.

    By the time a command returns, every file it wrote is closed and every
    partial file parked (the engine returns only after that; the app's engine
    process has ended or been killed). What may still run are listing threads
    waiting out ``--retry-for`` against an endpoint that does not answer, and
    the app's thread workers: after Ctrl-C (or ``q``) the interpreter's exit
    would join them for minutes (measured: 380 s), and a second Ctrl-C printed
    a traceback from that join. A caller that goes on after the command (argv
    given: a test, a notebook) gets the code back instead."""
    if not whole_process:
        return code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # a closed or full output (None: closed before the start) was already reported
    os._exit(code)


def app_parser() -> argparse.ArgumentParser:
    from laion_fmri_tui import __version__
    from laion_fmri_tui.batch.args import (COMMANDS_HELP, KeepLinesFormatter, OneLineParser,
                                           add_access_url_argument, add_run_arguments)

    parser = OneLineParser(
        prog=PROG, description="Browse the LAION-fMRI bucket and download it (full-screen app). "
        "Add --batch for the headless mode (see --batch --help).", epilog=COMMANDS_HELP,
        formatter_class=KeepLinesFormatter, help_command=f"{PROG} --help")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--demo", action="store_true",
                        help="try every screen offline, against local servers and synthetic data")
    add_run_arguments(parser)  # the same definitions (and checks) as --batch's
    add_access_url_argument(parser)
    parser.add_argument("--mouse", action="store_true", help="turn mouse reporting on (off by default)")
    return parser


def run_app(argv: list[str]) -> int:
    from laion_fmri_tui.tui.quiet_tty import no_echo

    with no_echo(sys.stdin):  # keys typed before the first frame are not echoed
        return _run_app_quietly(argv)


def _run_app_quietly(argv: list[str]) -> int:
    from laion_fmri_tui.batch.exit_codes import ExitCode, for_error  # the app's few codes are --batch's

    args = app_parser().parse_args(argv)
    if not (sys.stdin.isatty() and sys.stdout.isatty() and sys.stderr.isatty()):
        sys.stderr.write(f"{PROG}: not a terminal, so the full-screen app cannot draw; "
                         f"use {PROG} --batch (see {PROG} --batch --help)\n")
        return int(ExitCode.USAGE)
    if os.environ.get("SSH_CONNECTION") and "TEXTUAL_FPS" not in os.environ:
        os.environ["TEXTUAL_FPS"] = "15"  # fewer redraws over a remote link
    from laion_fmri_tui.core.errors import LaionFmriError

    from laion_fmri_tui.tui.signals import exit_on_signals

    try:
        with exit_on_signals() as stops:
            return _run_app(args, stops)
    except LaionFmriError as error:
        sys.stderr.write(f"{PROG}: {error}\n")
        return int(for_error(error))


def _run_app(args, stops: SignalExit) -> int:
    from laion_fmri_tui.core.disk import datadir
    from laion_fmri_tui.core.settings import EngineSettings, NetworkSettings, S3Settings
    from laion_fmri_tui.core.s3.endpoint import endpoint_from_env
    from laion_fmri_tui.tui.context import AppContext

    engine = EngineSettings(jobs=args.jobs, max_bandwidth=args.max_bandwidth, retry_for=args.retry_for)
    if args.demo:
        from laion_fmri_tui.demo import demo_environment

        with demo_environment() as (s3_url, access_url, data_dir):
            context = AppContext(data_dir=data_dir, s3=S3Settings(endpoint_url=s3_url),
                                 engine=engine, access_url=access_url, demo=True,
                                 program=running_program())
            return _launch(context, args.mouse, stops)
    data_dir = datadir.resolve_data_dir(args.data_dir) if args.data_dir else _configured()
    network = NetworkSettings(proxy=args.proxy, ca_bundle=args.ca_bundle)
    context = AppContext(data_dir=data_dir,
                         s3=S3Settings(endpoint_url=endpoint_from_env(args.endpoint_url), network=network,
                                       retry=engine.retry),
                         engine=engine, access_url=args.access_url or os.environ.get("LAION_FMRI_ACCESS_URL"),
                         program=running_program())
    return _launch(context, args.mouse, stops)


def running_program() -> tuple[str, ...]:
    """The absolute path of the console script that is running (the venv's
    ``bin/laion-fmri-tui``), or this interpreter with ``-m laion_fmri_tui``:
    what a shown command must call to run as written."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == PROG and script.exists():
        return (str(script.resolve()),)
    return (sys.executable, "-m", "laion_fmri_tui")


def _configured() -> Path | None:
    from laion_fmri_tui.core.disk import datadir
    from laion_fmri_tui.core.errors import DataDirError

    if datadir.configured_data_dir() is None:
        return None
    try:
        return datadir.resolve_data_dir(None)
    except DataDirError:
        return None  # a configured directory that vanished: ask again


def _launch(context, mouse: bool, stops: SignalExit) -> int:
    from laion_fmri_tui.tui.app import LaionFmriApp

    app = stops.app = LaionFmriApp(context)
    app.run(mouse=mouse)
    # The terminal is back; what is left is the interpreter's last full collection,
    # which walked every object of the app (and of the demo's servers) for 3-4 s
    # after a download before the shell prompt came back. --batch skips it the same way.
    gc.freeze()
    return int(app.return_code or 0)
