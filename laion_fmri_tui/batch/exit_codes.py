"""Exit codes of ``--batch`` (documented in the README; scripts rely on them)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    """Every planned file is complete (denied keys are reported, not failures)."""
    FILES_FAILED = 1
    """At least one file failed; the others were still fetched."""
    USAGE = 2
    """A user mistake: bad flag, unknown subject or model, no data directory."""
    NOT_GRANTED = 3
    """The CC0 licence (or stimulus access) has not been granted."""
    UNREACHABLE = 4
    """The bucket or service could not be reached."""
    REFUSED = 5
    """Every file the bucket serves is complete, but it refused (HTTP 403) some
    keys of the selection: they are listed, and no rerun will fetch them. A job
    script can tell this from 1 (files failed or missing: rerun)."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C; partial files are kept for the next run."""
    TERMINATED = 143
    """Stopped by SIGTERM (scancel, a job's time limit); partial files are kept."""
