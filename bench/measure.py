"""Run client commands and measure them: wall time, CPU seconds, peak RSS.

CPU comes from ``wait4``'s rusage of each client process (user plus system
time), so the servers and the shaping proxy, which run in other processes or
threads, are never charged to a client. Peak memory comes from GNU time
wrapped around each client: a child forked straight from this (large)
process would inherit its high-water mark, while GNU time's own child starts
small, so ``%M`` is the client's own peak. A contender made of many processes (one ``aws s3 cp`` per file) is
charged the sum of their CPU and the largest of their peaks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Measured:
    wall: float
    cpu: float
    """User + system seconds of every client process."""
    rss: int
    """Peak resident set of the largest client process, bytes."""
    failed: list[str]
    """Commands that exited non-zero, with their exit code and stderr's last line."""


def run_commands(commands: list[list[str]], *, parallel: int = 1, env: dict | None = None,
                 cwd: Path | None = None, timeout: float = 1800.0, stdout: Path | None = None,
                 cpus: set[int] | None = None) -> Measured:
    """Run ``commands`` with at most ``parallel`` at once; measure the whole batch.

    ``stdout``: a file that collects what the commands print (else discarded).
    ``cpus``: the cores the commands (and every thread and child they start) may
    run on; None keeps this process's own set.
    """
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    pending = list(commands)
    running: dict[int, tuple[subprocess.Popen, list[str], Path]] = {}
    cpu, rss, failed = 0.0, 0, []
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not os.access(gnu_time, os.X_OK):
        raise FileNotFoundError("GNU time is needed to measure peak memory: apt-get install time")
    sink = open(stdout, "wb") if stdout else subprocess.DEVNULL
    start = time.monotonic()
    deadline = start + timeout
    while pending or running:
        while pending and len(running) < parallel:
            cmd = pending.pop(0)
            report = Path(f"/tmp/bench-time-{os.getpid()}-{len(running)}-{len(pending)}.txt")
            errors = tempfile.TemporaryFile()  # not a pipe: one read after exit would stall a chatty client
            proc = subprocess.Popen([gnu_time, "-q", "-f", "%M", "-o", str(report), *cmd], stdin=subprocess.DEVNULL, stdout=sink,
                                    stderr=errors, env=env, cwd=cwd, preexec_fn=pin)
            proc.stderr = errors
            running[proc.pid] = (proc, cmd, report)
        if time.monotonic() > deadline:
            for proc, _, _ in running.values():
                proc.kill()
        ended = _reap(running, block=len(running) == 1 and not pending)
        for pid, status, usage in ended:
            proc, cmd, report = running.pop(pid)
            cpu += usage.ru_utime + usage.ru_stime
            rss = max(rss, _peak_kib(report) * 1024)
            code = os.waitstatus_to_exitcode(status)
            proc.stderr.seek(0)
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            proc.stderr.close()
            proc.returncode = code
            if code != 0:
                failed.append(f"{Path(cmd[0]).name} exited {code}: {err[-1] if err else ''}")
        if not ended:
            time.sleep(0.002)
    if stdout:
        sink.close()
    return Measured(time.monotonic() - start, cpu, rss, failed)


def _peak_kib(report: Path) -> int:
    try:
        lines = report.read_text().split()
        report.unlink()
        return int(lines[-1])
    except (OSError, ValueError, IndexError):
        return 0


def _reap(running: dict, block: bool) -> list[tuple[int, int, object]]:
    """Finished children among ``running`` (wait for one when ``block``).

    stderr goes to a temporary file, read after exit: through a pipe read
    only then, a client that writes more than a pipe buffer of warnings
    stalls (ours did, at 327 retry lines under throttling).
    """
    ended = []
    for pid in list(running):
        got, status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
        if got:
            ended.append((got, status, usage))
    return ended


def cpu_ticks() -> tuple[int, int]:
    """(stolen, total) CPU ticks of the whole machine so far, from ``/proc/stat``.

    On a virtual machine the hypervisor may give a core to a neighbour for a
    while ("steal"); runs with much of it are slower for reasons no contender
    controls, so the tables say how much there was."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def file_md5(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def check_tree(dest: Path, expected: dict[str, str], ignore: tuple[str, ...] = (".laion_fmri",)) -> list[str]:
    """Problems with ``dest`` against key -> MD5: missing, extra or differing files."""
    found = {str(p.relative_to(dest)) for p in dest.rglob("*")
             if p.is_file() and p.relative_to(dest).parts[0] not in ignore}
    problems = [f"missing {k}" for k in sorted(set(expected) - found)]
    problems += [f"unexpected {k}" for k in sorted(found - set(expected))]
    problems += [f"bytes differ in {k}" for k in sorted(found & set(expected))
                 if file_md5(dest / k) != expected[k]]
    return problems
