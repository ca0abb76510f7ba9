"""The installed ``laion-fmri-tui --demo`` in a real terminal: tmux, keys in, screen out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from terminal import Terminal, demo_args


@pytest.mark.slow
def test_demo_in_tmux_accepts_licence_selects_downloads_and_quits(tmp_path):
    with Terminal.start(tmp_path / "term", demo_args(), size=(80, 24)) as term:
        term.wait_for("CC0", "Accept")
        term.keys("a")
        screen = term.wait_for("sub-03", "Stimuli")
        data_dir = Path(re.search(r"→ (\S+/data)", screen).group(1))
        assert (data_dir / ".laion_fmri" / "license_accepted").exists()
        term.keys("Down", "Down", "Down")  # dataset files -> sub-01 -> sub-03
        term.keys("Space")
        term.wait_for("[x] sub-03", "to fetch")
        term.keys("d")
        screen = term.wait_for("finished", timeout=90)
        assert "0 failed" in screen
        files = [p for p in data_dir.rglob("*") if p.is_file() and ".laion_fmri" not in p.parts]
        assert files and not [p for p in files if p.name.endswith((".part", ".part.json"))]
        assert any(p.suffix == ".gz" for p in (data_dir / "derivatives/glmsingle-tedana/sub-03/ses-01/func").iterdir())
        assert any("label-FFA1" in p.name for p in (data_dir / "derivatives/rois/sub-03/face").iterdir())
        term.keys("Escape", "q")
        assert term.wait_exit(timeout=15) == 0
        assert not data_dir.exists(), "the demo cleans up its temporary data directory"
