"""Helpers to run ``laion-fmri-tui --batch`` as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
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


def planned(s3, data_dir: Path, *args: str) -> list[dict]:
    """The items of ``--dry-run --json`` for ``args`` against ``s3`` (what a run would fetch)."""
    dry = subprocess.run(batch_command(*args, "--dry-run", "--json", "--data-dir", str(data_dir),
                                       "--endpoint-url", s3.url),
                         capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert dry.returncode == 0, dry.stderr
    return json.loads(dry.stdout.splitlines()[0])["items"]
