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


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?))?b?(?:/s)?\s*$", re.IGNORECASE)


def parse_rate(text: str) -> int:
    """``300k`` / ``50M`` / ``1G`` -> bytes per second, ``k`` M G T as powers of 1000
    (``300k`` is 300 kB/s, as every rate is shown); ``300KiB`` / ``50Mi`` are powers
    of 1024. A user once typed ``300k`` and read "307.2 kB/s" back. UsageError otherwise."""
    match = _RATE.match(text)
    if not match:
        raise UsageError(f"not a rate: {text!r} (use e.g. 300k or 50M: bytes per second)")
    prefix, binary = (match.group(2) or "").lower(), bool(match.group(3))
    power = " kmgt".index(prefix or " ")
    value = int(float(match.group(1)) * (1024 if binary else 1000) ** power)
    if value <= 0:
        raise UsageError(f"rate must be positive: {text!r}")
    return value


def cap(bps: int) -> str:
    """A bandwidth cap in the units it was given: ``300 kB/s`` for ``300k``,
    ``300 KiB/s`` for ``300KiB``, ``50 MB/s`` for ``50M`` (the largest unit that
    divides it exactly; :func:`rate` for any other figure)."""
    for power in (4, 3, 2, 1):
        for base, unit in ((1000, "kMGT"[power - 1] + "B"), (1024, "KMGT"[power - 1] + "iB")):
            if bps % base ** power == 0:
                return f"{bps // base ** power} {unit}/s"
    return rate(bps)


def count(n: int, word: str, plural: str | None = None) -> str:
    """``1 file``, ``0 files``, ``2 files``: every count a user reads goes through here."""
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


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


def short_eta(seconds: float | None) -> str:
    """The ETA in at most two units (``ETA 9m 05s``, ``ETA 1h 02m``): the dashboard's
    rate line has 30 columns, and ``ETA 1 hour, 2 minutes and 3 seconds`` ran
    into the sparkline next to it."""
    if seconds is None or seconds <= 0:
        return eta(seconds)
    left = max(1, round(seconds))
    days, left = divmod(left, 86400)
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    if days:
        return f"ETA {days}d {hours}h"
    if hours:
        return f"ETA {hours}h {minutes:02d}m"
    if minutes:
        return f"ETA {minutes}m {secs:02d}s"
    return f"ETA {secs}s"


def duration(seconds: float) -> str:
    """Elapsed time in words, to the second (``4 seconds``, ``2 minutes and 5 seconds``)."""
    if seconds < 1:
        return "under a second"
    return humanize.precisedelta(max(0, round(seconds)), minimum_unit="seconds", format="%d")
