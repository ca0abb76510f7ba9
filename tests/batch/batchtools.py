"""Helpers to run ``laion-fmri-tui --batch`` as a real subprocess."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def batch_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def batch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "laion_fmri_tui", "--batch", *args]


def files_under(root: Path) -> set[str]:
    """Relative paths of every regular file under ``root`` (markers excluded)."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and ".laion_fmri" not in p.parts}
