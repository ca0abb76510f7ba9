"""The installed ``laion-fmri-tui --demo`` in a real terminal: tmux, keys in, screen out."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from terminal import Terminal, app_pid, demo_args, wait_gone


@pytest.mark.slow
def test_demo_in_tmux_accepts_licence_selects_downloads_and_quits(tmp_path):
    with Terminal.start(tmp_path / "term", demo_args(), size=(80, 24)) as term:
        term.wait_for("CC0", "Accept")
        term.keys("a")
        screen = term.wait_for("sub-03", "Stimuli")
        data_dir = Path(re.search(r"→ (\S+/data)", screen).group(1))
        assert (data_dir / ".laion_fmri" / "license_accepted").exists()
        term.keys("Down")  # the cursor starts on sub-01 (the first row to tick) -> sub-03
        term.keys("Space")
        term.wait_for("[x] sub-03", "to fetch")
        term.keys("d")
        term.wait_for("Download this selection?")
        term.keys("y")
        screen = term.wait_for("finished", timeout=90)
        assert "0 failed" in screen
        term.keys("p")  # the run is over: p says so
        term.wait_for("The run has finished", "nothing to pause")
        files = [p for p in data_dir.rglob("*") if p.is_file() and ".laion_fmri" not in p.parts]
        assert files and not [p for p in files if p.name.endswith((".part", ".part.json"))]
        assert any(p.suffix == ".gz" for p in (data_dir / "derivatives/glmsingle-tedana/sub-03/ses-01/func").iterdir())
        assert any("label-FFA1" in p.name for p in (data_dir / "derivatives/rois/sub-03/face").iterdir())
        term.keys("Escape")  # back to the browser first: escape then q at once reads as alt+q
        term.wait_for("Selection")
        term.keys("q")
        assert term.wait_exit(timeout=15) == 0
        assert not data_dir.exists(), "the demo cleans up its temporary data directory"


@pytest.mark.parametrize("how", ["hangup", "SIGTERM"])
def test_demo_removes_its_temporary_directory_when_killed(tmp_path, how):
    """An ssh connection that drops (tmux's pane goes: SIGHUP) or a ``kill`` (SIGTERM)
    mid-download leaves no ``laion-fmri-demo-*`` folder behind."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    term = Terminal.start(tmp_path / "term", demo_args("--max-bandwidth", "50k"), env={"TMPDIR": str(temp)})
    with term:
        term.wait_for("CC0", "Accept")
        [root] = list(temp.glob("laion-fmri-demo-*"))
        term.keys("a")
        term.wait_for("sub-03", "Stimuli")
        term.keys("Down", "Space")  # the cursor starts on sub-01 (the first row to tick) -> sub-03
        term.wait_for("[x] sub-03", "to fetch")
        term.keys("d")
        term.wait_for("Download this selection?")
        term.keys("y")
        term.wait_for("Downloading")
        pid = app_pid(term)
        if how == "hangup":
            term.kill()
        else:
            os.kill(pid, signal.SIGTERM)
            assert term.wait_exit(timeout=30) == 128 + signal.SIGTERM
        wait_gone(pid)
    assert not root.exists(), sorted(p.name for p in root.rglob("*"))[:10]
