"""A record of sha256 sums we already proved, so a 3 GB file is hashed once.

The stimulus images are checked by sha256 against the access service's
manifest. Hashing 3.2 GB on every run (as the dataset package does) costs
tens of seconds on a login node; instead, after a file is verified we note
its size, modification time and inode next to the sum in
``<data_dir>/.laion_fmri/verified.json``. A file whose stat still matches is
trusted; any change to it means it is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from laion_fmri_tui.core.disk.datadir import MARKER_DIR

_LOCK = threading.Lock()
_READ = 4 * 1024 * 1024


def _store(data_dir: Path) -> Path:
    return Path(data_dir) / MARKER_DIR / "verified.json"


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _load(data_dir: Path) -> dict:
    try:
        data = json.loads(_store(data_dir).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(data_dir: Path, path: Path, sha256: str) -> None:
    """Note that ``path`` (as it is now) has this sha256."""
    stamp = _stamp(path)
    if stamp is None:
        return
    with _LOCK:
        data = _load(data_dir)
        data[str(Path(path).relative_to(data_dir))] = {"stamp": stamp, "sha256": sha256}
        target = _store(data_dir)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, target)
        except OSError:  # a read-only data directory (info): the record only saves hashing again
            return


def sha256_of(data_dir: Path, path: Path) -> str | None:
    """The file's sha256, from the record when its stat is unchanged, else by hashing."""
    stamp = _stamp(path)
    if stamp is None:
        return None
    entry = _load(data_dir).get(str(Path(path).relative_to(data_dir)))
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_READ):
            digest.update(chunk)
    value = digest.hexdigest()
    remember(data_dir, path, value)
    return value
