"""How a run's :class:`~laion_fmri_tui.core.settings.EngineSettings` size it:
lanes, GETs in flight, and the part size of each file.

The settings are the user's values; these are the engine's rules for them
(the CPUs this process may use, the part size an object of a given size
gets), kept out of :mod:`laion_fmri_tui.core.settings` so that module stays
plain data the app can hold without the engine.
"""

from __future__ import annotations

import os

from laion_fmri_tui.core.settings import EngineSettings

MIB = 1024 * 1024


def lane_count(settings: EngineSettings) -> int:
    """Lane threads: ``settings.lanes``, else one per CPU this process may use, two at most."""
    if settings.lanes is not None:
        return max(1, settings.lanes)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


def lane_transfers(settings: EngineSettings) -> int:
    """GETs in flight on the lanes together. Small files are a round trip
    each, not bytes: many more fit in flight than ranged parts, on a lane's
    one ``epoll`` (see :mod:`.lane`)."""
    return max(1, 4 * settings.jobs if settings.lane_jobs is None else settings.lane_jobs)


def part_size_for(settings: EngineSettings, size: int) -> int:
    """The ranged-part size of an object of ``size`` bytes; 0: one whole-file GET."""
    if settings.part_size:
        part = settings.part_size
    else:
        part = min(64 * MIB, max(8 * MIB, -(-size // (2 * settings.jobs)) // MIB * MIB))
    threshold = settings.threshold or (settings.part_size or max(16 * MIB, 2 * part))
    return part if size > threshold else 0
