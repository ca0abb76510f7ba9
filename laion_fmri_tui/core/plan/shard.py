"""Split a plan into N disjoint, byte-balanced shards (``--shard K/N``).

Array jobs on a cluster each take one shard of the same selection and write
into the same data directory, so the split must be a pure function of what
the bucket lists (keys and sizes), never of what is already on disk: every
task computes the same partition no matter how far the others have got.

* The dataset-level files go to shard 0, together with the plan's refused and
  held-out keys (reported once, not N times).
* The stimulus images travel as one unit: both record their sha256 in the
  shared ``verified.json``, which only one process should write.
* Everything else is assigned largest-first to the lightest shard (ties go to
  the lower index, then by key), which keeps any two shards within one
  largest file of each other.
"""

from __future__ import annotations

import dataclasses
import re

from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.models import Plan, PlanItem

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
PINNED = "dataset"
"""Component whose files always go to shard 0."""
GROUPED = ("stimuli",)
"""Components whose files stay together in one shard."""


def parse_spec(text: str) -> tuple[int, int]:
    """``"K/N"`` (0-based K, as SLURM's array task id) -> (K, N); UsageError otherwise."""
    match = _SPEC.match(text)
    if not match:
        raise UsageError(f"--shard takes K/N with 0 <= K < N, e.g. 0/4 (got {text!r})")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise UsageError(f"--shard takes K/N with 0 <= K < N, e.g. 0/4 (got {text!r})")
    return index, count


def assign(items: tuple[PlanItem, ...] | list[PlanItem], count: int) -> dict[str, int]:
    """key -> shard index for every item; deterministic for the same keys and sizes."""
    if count < 1:
        raise ValueError("shard count must be at least 1")
    loads = [0] * count
    where: dict[str, int] = {}
    units: list[tuple[int, str, list[PlanItem]]] = []
    groups: dict[str, list[PlanItem]] = {}
    for item in items:
        if item.component == PINNED:
            where[item.key] = 0
            loads[0] += item.size
        elif item.component in GROUPED:
            groups.setdefault(item.component, []).append(item)
        else:
            units.append((item.size, item.key, [item]))
    for members in groups.values():
        units.append((sum(i.size for i in members), min(i.key for i in members), members))
    units.sort(key=lambda u: (-u[0], u[1]))
    for size, _key, members in units:
        target = min(range(count), key=lambda s: (loads[s], s))
        loads[target] += size
        for item in members:
            where[item.key] = target
    return where


def select(plan: Plan, index: int, count: int) -> Plan:
    """The part of ``plan`` that shard ``index`` of ``count`` fetches, in plan order."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index} out of range for {count} shards")
    if count == 1:
        return plan
    where = assign(plan.items, count)
    first = index == 0
    return dataclasses.replace(
        plan,
        items=tuple(i for i in plan.items if where[i.key] == index),
        held_out=plan.held_out if first else (),
        refused=plan.refused if first else (),
        skipped_subjects=plan.skipped_subjects if first else (),
    )
