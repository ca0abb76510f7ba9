"""Sizes, rates and durations as people read them (humanize), for every front end."""

from __future__ import annotations

import re

import humanize

from laion_fmri_tui.core.errors import UsageError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``64M`` / ``1G`` / ``512k`` / ``1048576`` -> bytes (binary multiples); UsageError otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"not a size: {text!r} (use e.g. 64M or 1G)")
    power = " kmgt".index(match.group(2).lower() or " ")
    value = int(float(match.group(1)) * 1024 ** power)
    if value <= 0:
        raise UsageError(f"size must be positive: {text!r}")
    return value


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


def count(n: int, noun: str) -> str:
    """``1 file``, ``2 files``: the noun's plural is its ``s`` form."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
