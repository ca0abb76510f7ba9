"""``info``: an :class:`~laion_fmri_tui.core.plan.inventory.Inventory` as text or one JSON object.

Text is for a person at a login node (one line per subject, part and
session, sizes as people read them); ``--json`` is for scripts, with exact
byte counts. Neither downloads anything.
"""

from __future__ import annotations

from typing import TextIO

from laion_fmri_tui.batch.safe_output import printable
from laion_fmri_tui.core.plan.inventory import FileInfo, Inventory, PartInfo, SessionInfo, Tally
from laion_fmri_tui.core.stimuli import STIMULUS_FILES
from laion_fmri_tui.core.units import count, size

SUBJECT_LEVEL = "subject-level"
"""How text names a part's files outside any session (``--ses averages`` for GLMsingle)."""


def write_text(inv: Inventory, out: TextIO) -> None:
    out.write(f"s3://{inv.bucket}: {len(inv.subjects)} subjects\n")
    for subject, parts in inv.parts:
        out.write(f"  {printable(subject)}  {' '.join(parts) or '(nothing)'}\n")
    where = f"on disk in {printable(str(inv.data_dir))}" if inv.data_dir else "no data directory: local state not shown"
    out.write(f"({where})\n")
    for detail in inv.details:
        total = detail.tally
        out.write(f"\n{printable(detail.subject)}: {count(total.files, 'file')}, {size(total.bytes)}"
                  f"{_local(total, inv)}\n")
        for part in detail.parts:
            out.write(f"  {part.component:<24}{_counts(part.tally)}{_local(part.tally, inv)}"
                      f"{_held(part)}\n")
            for session in part.sessions:
                out.write(f"    {_session_line(session, inv)}\n")
    _files(out, "dataset files (with every subject)", inv.dataset_files, inv)
    _files(out, "stimuli/ (all subjects)", inv.stimuli, inv)
    if not inv.details:
        out.write("\nGive --subject ID (or all) for sessions, sizes and what is on disk.\n")


def _counts(tally: Tally) -> str:
    return f"{count(tally.files, 'file'):>11} {size(tally.bytes):>10}"


def _local(tally: Tally, inv: Inventory) -> str:
    if inv.data_dir is None:
        return ""
    return f"   on disk: {count(tally.local_files, 'file')}, {size(tally.local_bytes)}"


def _held(part: PartInfo) -> str:
    return f"   ({count(part.held_out_files, 'file')} held out)" if part.held_out_files else ""


def _session_line(session: SessionInfo, inv: Inventory) -> str:
    name = f"{printable(session.name or SUBJECT_LEVEL):<22}"
    if session.held_out:
        return f"{name}held out (not yet released): {count(session.held_out_files, 'file')}"
    extra = f"   (+{session.held_out_files} held out)" if session.held_out_files else ""
    return f"{name}{_counts(session.tally)}{_local(session.tally, inv)}{extra}"


def _files(out: TextIO, title: str, files: tuple[FileInfo, ...], inv: Inventory) -> None:
    if not files:
        return
    out.write(f"\n{title}\n")
    width = max(len(printable(f.key)) for f in files)
    for f in files:
        state = f"   {f.state.value}" if f.state is not None else ""
        if f.state is None and inv.data_dir is not None:
            state = "   not checked (its sha256 is unknown)"
        gated = "   (data-use agreement: --include-stimuli)" if f.key.rsplit("/", 1)[-1] in STIMULUS_FILES else ""
        out.write(f"  {printable(f.key):<{width}} {size(f.size):>10}{state}{gated}\n")


def to_json(inv: Inventory) -> dict:
    """The inventory as one JSON-ready object (sizes in bytes)."""
    return {
        "bucket": inv.bucket,
        "data_dir": str(inv.data_dir) if inv.data_dir else None,
        "subjects": list(inv.subjects),
        "parts": {subject: list(parts) for subject, parts in inv.parts},
        "details": [{"subject": d.subject, **_tally(d.tally),
                     "parts": [_part(p) for p in d.parts]} for d in inv.details],
        "dataset_files": [_file(f) for f in inv.dataset_files],
        "stimuli": [_file(f) for f in inv.stimuli],
    }


def _tally(tally: Tally) -> dict:
    return {"files": tally.files, "bytes": tally.bytes,
            "local_files": tally.local_files, "local_bytes": tally.local_bytes}


def _part(part: PartInfo) -> dict:
    return {"part": part.component, **_tally(part.tally), "held_out_files": part.held_out_files,
            "sessions": [{"session": s.name, **_tally(s.tally), "held_out_files": s.held_out_files,
                          "held_out": s.held_out} for s in part.sessions]}


def _file(f: FileInfo) -> dict:
    return {"key": f.key, "size": f.size, "state": f.state.value if f.state is not None else None}
