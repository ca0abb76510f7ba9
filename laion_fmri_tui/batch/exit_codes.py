"""Exit codes of ``--batch``, ``config`` and ``info``: the one table.

Scripts rely on these numbers. Everything said about them comes from
:data:`MEANINGS`: the ``--help`` epilog (:func:`epilog`) and the README's
table (:func:`readme_table`, which a test compares with the README). An
error's :class:`~laion_fmri_tui.core.errors.Category` becomes a code in
:func:`for_error`, and nowhere else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from laion_fmri_tui.core.errors import Category, LaionFmriError


class ExitCode(enum.IntEnum):
    OK = 0
    FILES_FAILED = 1
    USAGE = 2
    NOT_GRANTED = 3
    UNREACHABLE = 4
    REFUSED = 5
    INTERRUPTED = 130
    TERMINATED = 143


@dataclass(frozen=True)
class Meaning:
    short: str
    """A few words, for ``--help``."""
    meaning: str
    """What happened, for the README."""
    then: str
    """What a job script (or its user) does next."""


MEANINGS: dict[ExitCode, Meaning] = {
    ExitCode.OK: Meaning(
        "done", "every planned file is complete", "done"),
    ExitCode.FILES_FAILED: Meaning(
        "some files failed or missing",
        "some files failed, or (`--verify`) are missing or bad; the others were fetched; with `--dry-run` "
        "and `info`: standard output failed, so the plan or listing was not all written",
        "rerun the task, or `--verify --repair`; a file changed since the plan needs a new plan"),
    ExitCode.USAGE: Meaning(
        "usage error",
        "usage error: bad flag, unknown subject or model, no data directory, nothing matched, a bad plan file",
        "fix the command"),
    ExitCode.NOT_GRANTED: Meaning(
        "licence/access not granted",
        "the dataset licence or stimulus access is not granted (no request id, unknown or revoked id, "
        "terms changed)",
        "accept or request it"),
    ExitCode.UNREACHABLE: Meaning(
        "bucket unreachable",
        "the bucket or the access service could not be reached (or kept rate-limiting)",
        "resubmit once the network is back"),
    ExitCode.REFUSED: Meaning(
        "complete except keys the bucket refused (HTTP 403)",
        "every file the bucket serves is complete, but it refused (HTTP 403) some keys of the selection: "
        "they are listed, and no rerun fetches them",
        "the emitted array and verify scripts end with 0 for it"),
    ExitCode.INTERRUPTED: Meaning(
        "interrupted",
        "interrupted (Ctrl-C); partial files are kept: rerun to resume",
        "`scontrol requeue JOBID_K`"),
    ExitCode.TERMINATED: Meaning(
        "terminated",
        "terminated (SIGTERM: `scancel`, a time limit); partial files are kept: rerun to resume",
        "`scontrol requeue JOBID_K`"),
}

BY_CATEGORY: dict[Category, ExitCode] = {
    Category.FAILED: ExitCode.FILES_FAILED,
    Category.USAGE: ExitCode.USAGE,
    Category.NOT_GRANTED: ExitCode.NOT_GRANTED,
    Category.UNREACHABLE: ExitCode.UNREACHABLE,
}


def for_error(error: LaionFmriError) -> ExitCode:
    """The exit code of a run that ended with ``error``."""
    return BY_CATEGORY[error.category]


def epilog(width: int = 78) -> str:
    """The exit codes as ``--help`` lists them, a few to a line (never one split)."""
    entries = [f"{int(code)} {MEANINGS[code].short}" for code in ExitCode]
    lines, line = [], "Exit codes:"
    for n, entry in enumerate(entries):
        entry += "." if n == len(entries) - 1 else ","
        if len(line) + 1 + len(entry) > width:
            lines.append(line)
            line = entry
        else:
            line = f"{line} {entry}"
    return "\n".join([*lines, line])


def readme_table() -> str:
    """The README's table of exit codes (tests/batch/test_exit_codes.py keeps them equal)."""
    rows = ["| code | meaning | in a job script |", "| --- | --- | --- |"]
    rows += [f"| {int(code)} | {m.meaning} | {m.then} |" for code, m in MEANINGS.items()]
    return "\n".join(rows)
