"""``--batch``: build the service from flags, plan, fetch, print, exit.

A thin printer over the service layer: every decision about what to fetch
and how lives in ``core``. Errors the user can fix are one line on stderr
with an exit code (see :mod:`laion_fmri_tui.batch.exit_codes`); nothing
prompts unless stdin is a terminal.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from laion_fmri_tui.batch import sbatch
from laion_fmri_tui.batch.args import PROG, build_parser, check_plan_flags, selection_from
from laion_fmri_tui.batch.exit_codes import ExitCode, for_error
from laion_fmri_tui.batch.interrupt import leave_at_once
from laion_fmri_tui.batch.safe_output import SafeStream, printable
from laion_fmri_tui.core.disk import datadir
from laion_fmri_tui.core import licence
from laion_fmri_tui.core.plan import plan_file, shard
from laion_fmri_tui.core.errors import LaionFmriError
from laion_fmri_tui.core.redact import redact
from laion_fmri_tui.core.units import size
from laion_fmri_tui.core.settings import EngineSettings, NetworkSettings, S3Settings, ServiceSettings
from laion_fmri_tui.core.s3.endpoint import endpoint_from_env
from laion_fmri_tui.core.service import DownloadService

# The printer and the engine load only once the first listings are on their
# way (see _run): their imports then cost nothing but the round trip's wait.


def main(argv: list[str], whole_process: bool = False) -> int:
    """``whole_process``: the run is this process's whole life (the console
    script). The imported modules are then frozen out of the collector's walks
    while it downloads, and at the end so is the rest: the interpreter's last
    full collection cost 10-15 ms of every run (a hundredth of a run of 2,000
    small files), for memory the exit frees. A caller that goes on after the
    run (a notebook) keeps its collector as it was."""
    if whole_process:
        gc.freeze()
    args = build_parser().parse_args(argv)
    escape_unencodable()
    out, err = output_streams()
    only_prints = args.dry_run or bool(args.emit_sbatch)
    try:
        code = _run(args, out, err, whole_process)
        out.flush()  # a pipe's block buffer fails here, where it counts, not in the exit's flush
        if out.broken is not None and only_prints and code == ExitCode.OK:
            return ExitCode.FILES_FAILED  # the plan (or how to submit it) was the product, not all written
        return code
    except LaionFmriError as error:
        err.write(f"{PROG}: {printable(redact(error))}\n")
        return int(for_error(error))
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return ExitCode.INTERRUPTED
    finally:
        settle(out, err, PROG, _consequence(args))
        if whole_process:
            gc.freeze()


def _consequence(args) -> str:
    """What a failed standard output meant for this command (see :func:`settle`)."""
    if args.emit_sbatch:
        return "the script and plan files were written, not the line on how to submit them (exit 1)"
    if args.dry_run:
        return "the plan was not all written (exit 1)"
    if args.verify:
        return "the report was not all written; the exit code tells how the check went"
    return "the download was not stopped, the exit code tells how it went"


def output_streams():
    """stdout and stderr as streams whose writes never raise (see SafeStream)."""
    return SafeStream(sys.stdout), SafeStream(sys.stderr)


def escape_unencodable() -> None:
    """An ASCII-only locale (``PYTHONIOENCODING=ascii``) with a non-ASCII data
    directory: the characters are written as escapes instead of failing the line."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):  # None when closed (>&-)
            stream.reconfigure(errors="backslashreplace")


def settle(out, err, prog: str, consequence: str) -> None:
    """A stream that broke is pointed at /dev/null, so the interpreter's last
    flush at exit does not print an exception; stderr says once why stdout
    went quiet, and ``consequence``: what that means for this command."""
    if out.broken is not None and out.dropped:  # (nothing was lost if nothing was written: a usage error)
        err.write(f"{prog}: standard output failed ({out.broken}); {consequence}\n")
        err.flush()
    for wrapped, stream in ((out, sys.stdout), (err, sys.stderr)):
        if wrapped.broken is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)


def _run(args, out, err, whole_process: bool = False) -> int:
    check_plan_flags(args)
    sbatch.check_arguments(args)
    network = NetworkSettings(proxy=args.proxy, ca_bundle=args.ca_bundle)
    if args.plan is None:
        selection = selection_from(args)
        if args.request_access:
            from laion_fmri_tui.batch.access import request_access  # httpx: only when asked

            request_access(args, network)
            if selection.is_empty:
                return ExitCode.OK
        data_dir = datadir.resolve_data_dir(args.data_dir)
        frozen = None
        cc0 = not _stimuli_only(selection)
    else:
        selection = None
        frozen = plan_file.read(Path(args.plan), args.data_dir)
        data_dir = datadir.resolve_data_dir(frozen.data_dir)
        cc0 = any(i.component != stimuli_component() for i in frozen.items)
    downloads = args.repair or not (args.dry_run or args.verify or args.emit_sbatch)
    if cc0 and not args.emit_sbatch:
        _licence(args, data_dir, downloads)
    engine_settings = EngineSettings(jobs=args.jobs, part_size=args.part_size, retries=args.retries,
                                     retry_for=args.retry_for, max_bandwidth=args.max_bandwidth,
                                     fsync=args.fsync)
    service = DownloadService(ServiceSettings(
        data_dir=data_dir,
        s3=S3Settings(endpoint_url=endpoint_from_env(args.endpoint_url), network=network,
                      retry=engine_settings.retry),
        engine=engine_settings,
        access_url=args.access_url,
    ))
    with leave_at_once(PROG, whole_process=whole_process):  # only waits on the bucket: nothing to save
        if selection is not None:
            service.list_ahead(selection)
        from laion_fmri_tui.batch import output
        from laion_fmri_tui.core import events as ev

        if downloads:
            from laion_fmri_tui.core.run import factory  # noqa: F401 - loads the engine while listings run
        plan = service.plan(selection) if frozen is None else frozen
    if args.emit_sbatch:
        return sbatch.emit(args, plan, out, Path(args.plan) if args.plan else None)
    if args.shard is not None:
        plan = shard.select(plan, *args.shard)
    if frozen is not None and downloads and not args.verify:
        service.check_reachable(plan)  # nothing was listed: exit 4 at once, as a listing would
    if args.verify:
        return _verify(args, service, plan, out, err)
    if args.dry_run:
        if args.json:
            printer = output.JsonPrinter(out, with_items=True)
            printer(ev.PlanReady(plan))
            printer.flush()
        else:
            output.plan_table(plan, out)
        return ExitCode.OK
    return _download(args, service, plan, out, err, whole_process)


def _download(args, service, plan, out, err, whole_process: bool = False) -> int:
    """Fetch ``plan``; the exit code says how it went (see exit_codes)."""
    from laion_fmri_tui.batch import output

    data_dir = plan.data_dir
    free = shutil.disk_usage(data_dir).free
    if plan.bytes_to_fetch > free:
        raise LaionFmriError(
            f"not enough space in {data_dir}: {size(plan.bytes_to_fetch)} to fetch, "
            f"{size(free)} free; free space or narrow the selection"
        )
    datadir.prepare_data_dir(data_dir)
    tty = out.isatty()
    every = args.progress_every if args.progress_every is not None else (2.0 if tty else 10.0)
    printer = output.JsonPrinter(out) if args.json else output.HumanPrinter(
        out, err, tty=tty, every=every)
    writer = output.PrinterThread(printer)  # the engine's threads never wait on the output
    sink = Tally(writer, args.plan, hints=printer)
    from laion_fmri_tui.core.run.factory import build_engine

    try:
        engine = build_engine(service.run_spec(plan), sink, service.connections)
    except BaseException:
        writer.close()
        raise
    stopped_by: list[int] = []

    def stop(signum, _frame) -> None:
        stopped_by.append(signum)
        writer.stopping()
        engine.cancel()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        finished = _run_interruptibly(engine, plan)
        sink.report()
    finally:
        writer.close()  # the last lines: waits while the output is blocked, with every file on disk
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stopped_by:
        code = ExitCode.TERMINATED if stopped_by[0] == signal.SIGTERM else ExitCode.INTERRUPTED
        if writer.abandoned and whole_process:  # flushing the stuck output at exit would wait forever
            os._exit(int(code))
        return code
    if finished.cancelled or finished.failed:
        return ExitCode.FILES_FAILED
    return ExitCode.REFUSED if sink.refused else ExitCode.OK


class Tally:
    """The printer, plus a count of what the exit code and the closing notes need:
    keys the bucket refused (HTTP 403; skipped, not failed) and files that
    changed in the bucket since they were planned."""

    def __init__(self, printer, plan_path: str | None = None, hints=None) -> None:
        self._printer = printer
        self._hints = hints if hints is not None else printer
        """Where ``rerun_hint`` is set: the printer itself, when ``printer`` queues for it."""
        self._plan_path = plan_path
        """The ``--plan`` file of the run, if any: a file changed since it was
        made is not fetched by any rerun of it."""
        self.refused: list[str] = []
        self.changed: list[str] = []

    def __call__(self, event) -> None:
        from laion_fmri_tui.core import events as ev

        if isinstance(event, ev.FileSkipped) and event.kind is ev.SkipKind.REFUSED:
            self.refused.append(event.key)
        elif isinstance(event, ev.FileFailed) and event.kind is ev.FailKind.CHANGED:
            self.changed.append(event.key)
        elif isinstance(event, ev.RunFinished) and self._plan_path and self.changed:
            if {key for key, _ in event.failures} <= set(self.changed) and hasattr(self._hints, "rerun_hint"):
                self._hints.rerun_hint = False  # only a new plan mends these: report() says so
        self._printer(event)

    def report(self) -> None:
        """Closing notes that say what the exit code means and what to do."""
        from laion_fmri_tui.core import events as ev

        plan_path = self._plan_path
        if self.changed and plan_path:
            self._printer(ev.Notice(
                f"{len(self.changed)} file(s) changed in the bucket since the plan {plan_path} was made "
                "(their ETag differs) and were not fetched: to take the new versions, make a new "
                "plan (run the --emit-sbatch command again) and resubmit", "error"))
        if self.refused:
            self._printer(ev.Notice(
                f"{len(self.refused)} key(s) refused by the bucket (HTTP 403) were skipped; "
                f"no rerun fetches them (exit {int(ExitCode.REFUSED)})", "warning"))


def _verify(args, service, plan, out, err) -> int:
    """Check the (sharded) selection on disk: problems one line each, then a
    summary; with ``--repair``, fetch the missing and bad files again."""
    from laion_fmri_tui.batch import output
    from laion_fmri_tui.core.integrity import checkup
    from laion_fmri_tui.core.integrity.checkup import Status

    printer = output.JsonPrinter(out) if args.json else None

    def show(checked: checkup.Checked) -> None:
        if checked.status is Status.OK:
            if checked.detail and printer is not None:  # its ETag could not be checked: say so
                printer.raw(output.verify_json(checked))
            elif checked.detail:
                err.write(f"warning: {output.printable(checked.detail)}\n")
                err.flush()
            return
        if printer is not None:
            printer.raw(output.verify_json(checked))
        else:
            out.write(output.verify_line(checked) + "\n")
            out.flush()

    unreachable = threading.Event()

    def refuses(item) -> bool:
        """Ask the bucket about a missing file; after one unanswered ask, stop asking."""
        if unreachable.is_set():
            return False
        try:
            return service.refuses(item)
        except ConnectionError:
            unreachable.set()
            return False

    if printer is not None:
        printer.raw(output.plan_json(plan, with_items=False))
    results, summary = checkup.check_plan(plan, args.jobs, show, refuses, service.first_part_size)
    if printer is not None:
        printer.raw(output.verify_summary_json(summary))
        printer.flush()
    else:
        out.write(output.verify_summary(summary, args.repair) + "\n")
        out.flush()
    todo = [r for r in results if r.status in (Status.MISSING, Status.BAD)]
    if args.repair and todo:
        repair = repair_plan(plan, todo)
        service.check_reachable(repair)
        code = _download(args, service, repair, out, err)
        return ExitCode.REFUSED if code == ExitCode.OK and summary.refused else code
    if not summary.complete:
        return ExitCode.FILES_FAILED
    return ExitCode.REFUSED if summary.refused else ExitCode.OK


def repair_plan(plan, todo):
    """The plan of what verify found missing or bad. A bad file is fetched from
    its first byte (its ``.part``, if any, is dropped: the size it was trusted
    by is no proof); the bad file keeps its place until the new one, checked,
    is renamed over it."""
    import dataclasses

    from laion_fmri_tui.core.integrity.checkup import Status
    from laion_fmri_tui.core.models import LocalState
    from laion_fmri_tui.core.disk import partfile

    wanted = {r.key: r.status for r in todo}
    items = []
    for item in plan.items:
        status = wanted.get(item.key)
        if status is Status.BAD:
            partfile.discard(item.dest)
            item = dataclasses.replace(item, state=LocalState.ABSENT, present=0, replaces_bad=True)
        elif status is not Status.MISSING:
            continue
        items.append(item)
    return dataclasses.replace(plan, items=tuple(items), held_out=(), refused=(), skipped_subjects=())


def _run_interruptibly(engine, plan):
    """Run the engine in a thread so the main thread stays free for signals
    (the printer writes on a thread of its own: see output.PrinterThread)."""
    result = []
    worker = threading.Thread(target=lambda: result.append(engine.run(plan)), name="engine")
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if not result:  # a bug of ours ended the engine's thread (its traceback is on stderr)
        raise LaionFmriError("the transfer engine stopped unexpectedly; rerun the same command to resume")
    return result[0]


def stimuli_component() -> str:
    """The component of the gated stimulus images (the data-use agreement, not CC0, covers them)."""
    from laion_fmri_tui.core.stimuli import COMPONENT

    return COMPONENT


def _stimuli_only(selection) -> bool:
    """The stimulus images are under the data-use agreement, not the CC0 licence."""
    return selection.stimuli and not (selection.subjects or selection.embeddings
                                      or selection.segmentations or selection.captions)


def _licence(args, data_dir, downloads: bool) -> None:
    if licence.is_accepted(data_dir):
        return
    if args.accept_license:
        if downloads:
            licence.accept(data_dir)
        return
    if not downloads:
        return
    if sys.stdin is not None and sys.stdin.isatty() and sys.stdout is not None and sys.stdout.isatty() \
            and not args.json:
        sys.stdout.write(f"{licence.LICENCE_TITLE}\n\n{licence.LICENCE_TEXT}\n")
        sys.stdout.write("Type I AGREE to accept it for this data directory: ")
        sys.stdout.flush()
        if sys.stdin.readline().strip() == "I AGREE":
            licence.accept(data_dir)
            return
    licence.require_accepted(data_dir)
