"""Sizes, rates and durations as people read them (humanize), for every front end."""

from __future__ import annotations

import humanize


def size(n: int | float) -> str:
    return humanize.naturalsize(n, binary=False, format="%.1f")


def rate(bps: float) -> str:
    return f"{size(bps)}/s"


def eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA unknown"
    if seconds <= 0:
        return "no time left"
    return f"ETA {humanize.precisedelta(max(1, round(seconds)), minimum_unit='seconds', format='%d')}"


def duration(seconds: float) -> str:
    """Elapsed time in words, to the second (``4 seconds``, ``2 minutes and 5 seconds``)."""
    if seconds < 1:
        return "under a second"
    return humanize.precisedelta(max(0, round(seconds)), minimum_unit="seconds", format="%d")
