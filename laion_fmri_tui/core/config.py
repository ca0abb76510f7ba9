"""The data directory and the config file the dataset package also reads.

Compatibility with ``laion_fmri``: its config lives at
``$XDG_CONFIG_HOME/laion_fmri/config.json`` (fallback ``~/.config``) on every
OS, holding ``{"data_dir": "..."}``. We use platformdirs' XDG (``Unix``)
resolver so the path is the same file the package reads, even on macOS.
The data directory carries a ``.laion_fmri/`` folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from platformdirs.unix import Unix

from laion_fmri_tui.core.errors import DataDirError

CONFIG_APP = "laion_fmri"
MARKER_DIR = ".laion_fmri"


def config_path() -> Path:
    """``<XDG config home>/laion_fmri/config.json``."""
    return Unix(CONFIG_APP).user_config_path / "config.json"


def configured_data_dir() -> Path | None:
    """The data directory from the config file, or None when unset/unreadable."""
    try:
        data = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return None
    value = data.get("data_dir") if isinstance(data, dict) else None
    return Path(value).expanduser() if isinstance(value, str) and value else None


def save_data_dir(data_dir: Path) -> Path:
    """Store ``data_dir`` (absolute) where the dataset package looks for it."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    existing: dict = {}
    try:
        loaded = json.loads(path.read_text())
        existing = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass
    existing["data_dir"] = str(Path(data_dir).expanduser().resolve())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(existing, indent=2))
    os.replace(tmp, path)
    prepare_data_dir(Path(existing["data_dir"]))
    return path


def resolve_data_dir(explicit: str | os.PathLike | None) -> Path:
    """``--data-dir`` wins over the config; the result must exist and be writable."""
    if explicit is not None and str(explicit).strip():
        data_dir = Path(explicit).expanduser()
        origin = "--data-dir"
    else:
        configured = configured_data_dir()
        if configured is None:
            raise DataDirError(
                "no data directory: pass --data-dir DIR, or set one in the app "
                f"(it is saved to {config_path()})"
            )
        data_dir = configured
        origin = f"the data directory in {config_path()}"
    if not data_dir.is_dir():
        raise DataDirError(
            f"{origin} {str(data_dir)!r} does not exist; create it (mkdir -p {data_dir}) "
            "or choose another"
        )
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise DataDirError(f"{origin} {str(data_dir)!r} is not writable; choose another")
    return data_dir.resolve()


def prepare_data_dir(data_dir: Path) -> None:
    """Create the ``.laion_fmri/`` folder the dataset package expects."""
    (data_dir / MARKER_DIR).mkdir(parents=True, exist_ok=True)
