"""The app's garbage-collection policy while it downloads.

A full collection walks every live object, and the app holds many (Textual's
widgets and caches, the imported modules, a plan of thousands of files):
while a download ran, one held the UI thread for 140-270 ms at a time, a key
press waiting behind it (``bench/app_bench.py``, traced with ``gc.callbacks``).
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Leave every object alive now out of later collections, which then walk
    only what was made since (after start-up, and when a download starts)."""
    gc.freeze()


def release_heap() -> None:
    """Let collections walk the frozen objects again (a dashboard was closed:
    its widgets may now be garbage that only a full collection frees)."""
    gc.unfreeze()
