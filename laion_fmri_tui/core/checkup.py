"""``--verify``: check a selection on disk without downloading anything.

Every planned file is read back and checked as strictly as the bucket
allows: the size always; the MD5 when the ETag is a plain MD5; the multipart
ETag when its part size can be inferred (see
:mod:`laion_fmri_tui.core.transfer.verify`); the sha256 for the stimulus
images (through the ``verified.json`` record, so an unchanged 3 GB file is
not hashed again). Files are checked in parallel; hashing releases the GIL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from laion_fmri_tui.core import verified
from laion_fmri_tui.core.plan import LocalState, Plan, PlanItem
from laion_fmri_tui.core.transfer.verify import VerificationError, Verifier

_READ = 4 * 1024 * 1024


@dataclass(frozen=True)
class Checked:
    """The outcome for one planned file."""

    key: str
    path: str
    size: int
    status: str
    """``ok``, ``missing`` (absent or only a ``.part``) or ``bad`` (present, wrong)."""
    check: str
    """What proved it: ``size``, ``md5``, ``etag`` or ``sha256``; ``""`` when missing."""
    detail: str = ""


@dataclass
class Summary:
    files: int = 0
    ok: int = 0
    missing: int = 0
    bad: int = 0
    bytes_ok: int = 0

    @property
    def complete(self) -> bool:
        return self.missing == 0 and self.bad == 0

    def add(self, result: Checked) -> None:
        self.files += 1
        setattr(self, result.status, getattr(self, result.status) + 1)
        if result.status == "ok":
            self.bytes_ok += result.size


def check_item(plan: Plan, item: PlanItem) -> Checked:
    """Check one file; never raises for a missing or unreadable file."""
    def result(status: str, check: str = "", detail: str = "") -> Checked:
        return Checked(item.key, str(item.dest), item.size, status, check, detail)

    if item.state is not LocalState.COMPLETE:
        try:
            on_disk = item.dest.stat().st_size
        except OSError:
            partial = f"partial: {item.present} of {item.size} bytes" if item.present else "not on disk"
            return result("missing", detail=partial)
        if on_disk != item.size:
            return result("bad", "size", f"size is {on_disk} bytes, expected {item.size}")
    try:
        if item.sha256:
            got = verified.sha256_of(plan.data_dir, item.dest)
            if got != item.sha256.lower():
                return result("bad", "sha256", f"sha256 mismatch: expected {item.sha256[:16]}…, "
                                               f"got {(got or '?')[:16]}…")
            return result("ok", "sha256")
        verifier = Verifier(item.size, item.etag)
        with open(item.dest, "rb") as handle:
            while chunk := handle.read(_READ):
                verifier.update(chunk)
        return result("ok", verifier.finish())
    except VerificationError as error:
        return result("bad", Verifier(item.size, item.etag).kind, str(error))
    except OSError as error:
        return result("bad", "size", f"cannot read: {error.strerror or error}")


def check_plan(plan: Plan, jobs: int = 4,
               on_result: Callable[[Checked], None] | None = None) -> tuple[list[Checked], Summary]:
    """Check every planned file (plan order); returns the results and totals."""
    summary = Summary()
    results: list[Checked] = []
    for checked in _checked(plan, jobs):
        summary.add(checked)
        results.append(checked)
        if on_result is not None:
            on_result(checked)
    return results, summary


def _checked(plan: Plan, jobs: int) -> Iterator[Checked]:
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, 32)), thread_name_prefix="verify") as pool:
        yield from pool.map(lambda item: check_item(plan, item), plan.items)
    for key, reason in plan.blocked:  # a symbolic link at its path, or two keys at one path
        yield Checked(key, "", 0, "bad", "path", reason)
