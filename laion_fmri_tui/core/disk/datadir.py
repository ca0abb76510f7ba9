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


def config_problem() -> str | None:
    """Why the config file exists but gives no data directory (None: absent or fine).

    ``info`` and ``config`` name it instead of acting as if nothing were set."""
    path = config_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"{path} cannot be read ({error.strerror or error})"
    try:
        data = json.loads(text)
    except ValueError:
        return f"{path} is not valid JSON"
    if not isinstance(data, dict):
        return f"{path} does not hold a JSON object"
    if "data_dir" in data and not (isinstance(data["data_dir"], str) and data["data_dir"]):
        return f"the \"data_dir\" in {path} is not a path"
    return None


def save_data_dir(data_dir: Path) -> Path:
    """Store ``data_dir`` (absolute) where the dataset package looks for it.

    Everything is checked and the data directory's ``.laion_fmri/`` made
    first; the config file is written last, atomically (a temp file renamed
    over it), so a refusal leaves the old setting as it was. A config file
    that is a symbolic link (dotfiles kept elsewhere) is written through to
    its target, which stays a link. Returns the file written."""
    data_dir = Path(data_dir).expanduser().resolve()
    check_marker(data_dir)
    path = config_path()
    target = path.resolve() if path.is_symlink() else path
    existing: dict = {}
    try:
        loaded = json.loads(target.read_text())
        existing = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass
    existing["data_dir"] = str(data_dir)
    prepare_data_dir(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(existing, indent=2))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def check_marker(data_dir: Path) -> None:
    """``DIR/.laion_fmri`` must be a folder, or absent in a writable ``DIR``."""
    marker = data_dir / MARKER_DIR
    if marker.exists() and not marker.is_dir():
        raise DataDirError(f"{marker} is a file, but the dataset package keeps a folder there; "
                           "move or remove it, or choose another data directory")


def resolve_data_dir(explicit: str | os.PathLike | None, writable: bool = True) -> Path:
    """``--data-dir`` wins over the config; the result must be a directory, and
    writable unless ``writable`` is False (``info`` only reads)."""
    if explicit is not None and str(explicit).strip():
        data_dir = Path(explicit).expanduser()
        origin = "--data-dir"
    else:
        configured = configured_data_dir()
        if configured is None:
            problem = config_problem()
            raise DataDirError(
                (f"no data directory: {problem}; " if problem else "no data directory: ")
                + "pass --data-dir DIR, or save one with: laion-fmri-tui config --data-dir DIR "
                f"(it is saved to {config_path()})"
            )
        data_dir = configured
        origin = f"the data directory in {config_path()}"
    if data_dir.exists() and not data_dir.is_dir():
        raise DataDirError(f"{origin} {str(data_dir)!r} is not a directory; choose a directory")
    if not data_dir.is_dir():
        raise DataDirError(
            f"{origin} {str(data_dir)!r} does not exist; create it (mkdir -p {data_dir}) "
            "or choose another"
        )
    if writable and not os.access(data_dir, os.W_OK | os.X_OK):
        raise DataDirError(f"{origin} {str(data_dir)!r} is not writable; choose another")
    if not os.access(data_dir, os.R_OK | os.X_OK):
        raise DataDirError(f"{origin} {str(data_dir)!r} cannot be read; choose another")
    return data_dir.resolve()


def prepare_data_dir(data_dir: Path) -> None:
    """Create the ``.laion_fmri/`` folder the dataset package expects."""
    (data_dir / MARKER_DIR).mkdir(parents=True, exist_ok=True)
