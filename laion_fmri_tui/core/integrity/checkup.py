"""``--verify``: check a selection on disk without downloading anything.

Every planned file is read back and checked as strictly as the bucket
allows: first the ETag the file was fetched against, when the download
recorded one (see :data:`~laion_fmri_tui.core.disk.tempnames.ETAG_ATTR`):
an object replaced on the server by another of the same size is reported
as changed, even where its new ETag cannot be checked from the bytes; then
the size always; the MD5 when the ETag is a plain MD5; the multipart
ETag when its part size can be inferred (see
:mod:`laion_fmri_tui.core.integrity.content_checks`); the sha256 for the stimulus
images (through the ``verified.json`` record, so an unchanged 3 GB file is
not hashed again). Files are checked in parallel; hashing releases the GIL.

A file that is not on disk may be one the bucket refuses (HTTP 403): the
download skipped it and said so, and no rerun will fetch it. Verify asks the
bucket about each missing file (a HEAD, no body), when the caller gives it a
way to (``refuses``), so the two agree: such a key is ``refused``, not
``missing``, and the exit code tells a job script the difference.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from laion_fmri_tui.core.disk import tempnames, verified
from laion_fmri_tui.core.models import LocalState, Plan, PlanItem
from laion_fmri_tui.core.integrity.content_checks import VerificationError, Verifier, judge, not_checked

_READ = 4 * 1024 * 1024


class Status(str, enum.Enum):
    """What verify found for one planned file."""

    OK = "ok"
    MISSING = "missing"
    """Absent, or only a ``.part``: a rerun (or ``--repair``) fetches it."""
    BAD = "bad"
    """Present but wrong (size or checksum): ``--repair`` fetches it again."""
    REFUSED = "refused"
    """Absent, and the bucket refuses it (HTTP 403): nothing will fetch it."""


@dataclass(frozen=True)
class Checked:
    """The outcome for one planned file."""

    key: str
    path: str
    size: int
    status: Status
    check: str
    """What proved it: ``size``, ``md5``, ``etag`` or ``sha256``; ``""`` when missing."""
    detail: str = ""


@dataclass
class Summary:
    files: int = 0
    ok: int = 0
    missing: int = 0
    bad: int = 0
    refused: int = 0
    bytes_ok: int = 0

    @property
    def complete(self) -> bool:
        """Every file the bucket serves is on disk and right (refused keys aside)."""
        return self.missing == 0 and self.bad == 0

    def add(self, result: Checked) -> None:
        self.files += 1
        name = result.status.value
        setattr(self, name, getattr(self, name) + 1)
        if result.status is Status.OK:
            self.bytes_ok += result.size


def check_item(plan: Plan, item: PlanItem,
               part_size_of: Callable[[PlanItem], int | None] | None = None) -> Checked:
    """Check one file; never raises for a missing or unreadable file.

    ``part_size_of(item)``: the part size of its multipart upload as the
    bucket tells it, asked only when no guessed part size matches its ETag
    (see :func:`~laion_fmri_tui.core.integrity.content_checks.recheck`)."""
    def result(status: Status, check: str = "", detail: str = "") -> Checked:
        return Checked(item.key, str(item.dest), item.size, status, check, detail)

    try:  # whatever the plan said: a final file gone since (or never there) is missing, not unreadable
        on_disk = item.dest.stat().st_size
    except FileNotFoundError:
        partial = (f"partial: {item.present} of {item.size} bytes"
                   if item.present and item.state is not LocalState.COMPLETE else "not on disk")
        return result(Status.MISSING, detail=partial)
    except OSError as error:
        return result(Status.BAD, "size", f"cannot read: {error.strerror or error}")
    if on_disk != item.size:
        return result(Status.BAD, "size", f"size is {on_disk} bytes, expected {item.size}")
    recorded = tempnames.fetched_etag(item.dest)
    if recorded is not None and item.etag and recorded != item.etag:
        return result(Status.BAD, "etag", f"changed on the server: fetched as ETag {_short(recorded)}, "
                                          f"listed now as {_short(item.etag)}")
    try:
        if item.sha256:
            got = verified.sha256_of(plan.data_dir, item.dest)
            if got != item.sha256.lower():
                return result(Status.BAD, "sha256", f"sha256 mismatch: expected {item.sha256[:16]}…, "
                                               f"got {(got or '?')[:16]}…")
            return result(Status.OK, "sha256")
        verifier = Verifier(item.size, item.etag)
        with open(item.dest, "rb") as handle:
            while chunk := handle.read(_READ):
                verifier.update(chunk)
            verdict = judge(verifier.finish, item.size, item.etag,
                            lambda: part_size_of(item) if part_size_of is not None else None,
                            lambda offset, n: os.pread(handle.fileno(), n, offset))
            unchecked = verdict.unchecked
            return result(Status.OK, verdict.kind, not_checked(item.key, unchecked) if unchecked else "")
    except VerificationError as error:
        return result(Status.BAD, Verifier(item.size, item.etag).kind, str(error))
    except OSError as error:
        return result(Status.BAD, "size", f"cannot read: {error.strerror or error}")


def _short(etag: str) -> str:
    """An ETag as a line shows it: enough to tell two apart."""
    return etag if len(etag) <= 20 else etag[:16] + "…"


def check_plan(plan: Plan, jobs: int = 4,
               on_result: Callable[[Checked], None] | None = None,
               refuses: Callable[[PlanItem], bool] | None = None,
               part_size_of: Callable[[PlanItem], int | None] | None = None) -> tuple[list[Checked], Summary]:
    """Check every planned file (plan order); returns the results and totals.

    ``refuses(item)``: whether the bucket refuses the key now; asked only for
    missing files (a HEAD each), which it turns into ``refused``.
    ``part_size_of(item)``: see :func:`check_item`.
    """
    summary = Summary()
    results: list[Checked] = []
    for checked in _checked(plan, jobs, refuses, part_size_of):
        summary.add(checked)
        results.append(checked)
        if on_result is not None:
            on_result(checked)
    return results, summary


def _checked(plan: Plan, jobs: int, refuses: Callable[[PlanItem], bool] | None,
             part_size_of: Callable[[PlanItem], int | None] | None) -> Iterator[Checked]:
    def check(item: PlanItem) -> Checked:
        checked = check_item(plan, item, part_size_of)
        if checked.status is Status.MISSING and refuses is not None and refuses(item):
            return replace(checked, status=Status.REFUSED,
                           detail="the bucket refuses it (HTTP 403); no rerun will fetch it")
        return checked

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, 32)), thread_name_prefix="verify") as pool:
        yield from pool.map(check, plan.items)
    for key, reason in plan.blocked:  # a symbolic link at its path, or two keys at one path
        yield Checked(key, "", 0, Status.BAD, "path", reason)
