"""A plan frozen in a file (``--plan FILE``): the array tasks' common ground.

Array tasks start minutes or hours apart. Had each listed the bucket again,
one object added or resized in between would move thousands of keys to
other shards (the split balances bytes), so some files would be fetched
twice and others by no task. ``--emit-sbatch`` therefore writes the plan
once, beside the script, and every task reads it: the split is a pure
function of the frozen keys and sizes (:mod:`laion_fmri_tui.core.plan.shard`).

The file is the ``--dry-run --json`` line itself (one JSON object, the
``plan`` event with its items), so a dry run saved to a file is a plan too.
Each item keeps the key, size, ETag (every GET sends it as ``If-Match``,
so an object that changed since is refused by the bucket and reported, not
mixed in) and local path. What is on disk is not trusted from the file: it
is looked at again when the plan is read.

A plan file is input from outside, so it is checked as strictly as flags:
a foreign or damaged file, or a path that is not where its key belongs
under the data directory, is one line and exit 2, before anything is written.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from laion_fmri_tui.core.plan import bids
from laion_fmri_tui.core.errors import UnsafeKeyError, UsageError
from laion_fmri_tui.core.models import LocalState, Plan, PlanItem
from laion_fmri_tui.core.disk import tempnames

FORMAT = "laion-fmri-tui plan"
"""The marker that tells a plan from any other JSON file."""
VERSION = 1
SOURCES = ("s3", "access")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_HINT = "make one with --emit-sbatch or save the output of --dry-run --json"


def summary(plan: Plan) -> dict[str, Any]:
    """The ``plan`` event without its items (a ``--json`` run's first line)."""
    return {"event": "plan", "data_dir": str(plan.data_dir), "files": plan.files,
            "bytes_total": plan.bytes_total, "bytes_to_fetch": plan.bytes_to_fetch,
            "bytes_present": plan.bytes_present, "held_out": len(plan.held_out),
            "skipped_subjects": list(plan.skipped_subjects)}


def document(plan: Plan) -> dict[str, Any]:
    """The ``plan`` event with every item: what ``--dry-run --json`` prints and a
    plan file holds."""
    items = []
    for i in plan.items:
        entry: dict[str, Any] = {"key": i.key, "path": str(i.dest), "size": i.size, "etag": i.etag,
                                 "state": i.state.value, "present": i.present, "component": i.component}
        if i.sha256:
            entry["sha256"] = i.sha256
        if i.source != "s3":
            entry["source"] = i.source
        items.append(entry)
    return {**summary(plan), "format": FORMAT, "version": VERSION, "items": items}


def write(plan: Plan, path: Path) -> Path:
    """Write ``plan`` to ``path`` (one JSON line, mode 0644) through a temp file and a rename.

    Raises:
        UsageError: the file cannot be written (one line).
    """
    path = Path(path)
    text = json.dumps(document(plan)) + "\n"
    temp = path.with_name(path.name + ".tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        temp.chmod(0o644)
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise UsageError(f"cannot write the plan {path}: {error.strerror or error}") from None
    return path


def read(path: Path, data_dir: Path | None = None) -> Plan:
    """The plan in ``path``, with what is on disk looked at now.

    ``data_dir``: the ``--data-dir`` given with ``--plan``; it must be the
    plan's own (the paths in the file are absolute).

    Raises:
        UsageError: one line naming the file and what is wrong (exit 2).
    """
    data = _load(Path(path))
    where = f"plan {path}"
    root = data.get("data_dir")
    if not isinstance(root, str) or not os.path.isabs(root):
        raise UsageError(f"{where} has no absolute data_dir; {_HINT}")
    root = os.path.normpath(root)
    if data_dir is not None and os.path.realpath(os.path.expanduser(data_dir)) != os.path.realpath(root):
        raise UsageError(f"{where} is for the data directory {root}, not {data_dir}: "
                         "drop --data-dir or make a new plan")
    raw = data.get("items")
    if not isinstance(raw, list):
        raise UsageError(f"{where} has no list of items; {_HINT}")
    items: dict[str, PlanItem] = {}
    for number, entry in enumerate(raw, start=1):
        item = _item(entry, root, f"{where}, item {number}")
        if item.key in items:
            raise UsageError(f"{where}, item {number}: {item.key} is listed twice")
        items[item.key] = item
    return Plan(data_dir=Path(root), items=tuple(items.values()))


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"plan {path} does not exist; {_HINT}") from None
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or "not text"
        raise UsageError(f"cannot read plan {path}: {reason}") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{path} is not a laion-fmri-tui plan; {_HINT}")
    version = data.get("version")
    if version != VERSION:
        raise UsageError(f"plan {path} has version {version!r}, this laion-fmri-tui reads "
                         f"version {VERSION}; make a new plan with this version")
    return data


def _item(entry: Any, root: str, where: str) -> PlanItem:
    """One item, checked field by field; its local state looked at now."""
    if not isinstance(entry, dict):
        raise UsageError(f"{where} is not an object")
    key, dest, etag = entry.get("key"), entry.get("path"), entry.get("etag")
    size, component = entry.get("size"), entry.get("component")
    sha256, source = entry.get("sha256"), entry.get("source", "s3")
    if not isinstance(key, str) or not key:
        raise UsageError(f"{where} has no key")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UsageError(f"{where} ({key}): size must be a whole number of bytes")
    if not isinstance(etag, str) or not isinstance(component, str) or not component:
        raise UsageError(f"{where} ({key}): etag and component must be text")
    if source not in SOURCES:
        raise UsageError(f"{where} ({key}): source must be one of {', '.join(SOURCES)}")
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
        raise UsageError(f"{where} ({key}): sha256 must be 64 hex digits")
    if source == "access" and sha256 is None:
        raise UsageError(f"{where} ({key}): a stimulus file needs its sha256")
    try:
        expected = bids.local_path_in(root, key)
    except UnsafeKeyError as error:
        raise UsageError(f"{where}: {error}") from None
    if not isinstance(dest, str) or os.path.normpath(dest) != expected:
        raise UsageError(f"{where} ({key}): path must be {expected}, where the key belongs "
                         "inside the data directory")
    path = Path(expected)
    state, present = _local_state(Path(root), path, size, etag, sha256)
    return PlanItem(key=key, dest=path, size=size, etag=etag, component=component, state=state,
                    present=present, sha256=sha256, source=source)


def _local_state(root: Path, dest: Path, size: int, etag: str,
                 sha256: str | None) -> tuple[LocalState, int]:
    if sha256 is not None:
        from laion_fmri_tui.core import stimuli  # noqa: PLC0415 - only plans with stimuli

        return stimuli.local_state(root, dest, size, sha256)
    return tempnames.local_state(dest, size, etag)
