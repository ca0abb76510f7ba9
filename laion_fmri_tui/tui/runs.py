"""Run bookkeeping of the transfer dashboard that involves no widget:
:func:`retry_plan` builds the plan that ``r`` runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from laion_fmri_tui.core.models import LocalState, Plan
from laion_fmri_tui.core.disk import tempnames
from laion_fmri_tui.core.disk.filelock import UnsafePathError


def retry_plan(plan: Plan, keys: Collection[str]) -> Plan:
    """A plan of just ``keys``, their on-disk state measured again (a ``.part`` resumes)."""
    items = []
    for item in plan.items:
        if item.key in keys:
            try:
                state, present = tempnames.local_state(item.dest, item.size, item.etag,
                                                       has_sha256=item.sha256 is not None)
            except UnsafePathError:
                state, present = LocalState.PARTIAL, 0  # the engine opens it and says why it refuses
            items.append(dataclasses.replace(item, state=state, present=present))
    return Plan(plan.data_dir, tuple(items))
