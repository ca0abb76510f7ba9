"""Where the Textual stylesheets are, installed or in a checkout.

``styles/`` sits at the top of the repository and is mapped into the wheel as
``laion_fmri_tui/styles`` (see ``pyproject.toml``), so a non-editable install
run from any directory finds it next to this module.
"""

from __future__ import annotations

from pathlib import Path


def styles_dir() -> Path:
    packaged = Path(__file__).with_name("styles")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "styles"


def stylesheet(name: str) -> Path:
    path = styles_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"stylesheet {name} is missing from {styles_dir()}")
    return path
