"""The filter bar's text (``task=images suffix=statmap,json``) as core Filters."""

from __future__ import annotations

from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.plan.selection import Filters

BAR_ENTITIES = ("task", "space", "desc", "stat", "suffix", "extension", "run", "echo", "part")


def parse_filters(text: str) -> Filters:
    """``entity=v1,v2`` pairs separated by spaces; the same rules as ``--batch``."""
    values: dict[str, list[str]] = {}
    for token in text.split():
        name, sep, raw = token.partition("=")
        if not sep or name not in BAR_ENTITIES or not raw:
            raise UsageError(f"filter {token!r}: use entity=value with one of {', '.join(BAR_ENTITIES)}")
        values.setdefault(name, []).extend(v for v in raw.split(",") if v)
    return Filters.build(**values)
