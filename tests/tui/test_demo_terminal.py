"""The installed ``laion-fmri-tui --demo`` in a real terminal: tmux at 80x24, keys in, screen out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """A private tmux server running one command in an 80x24 window."""

    def __init__(self, socket: Path, command: str, env: dict[str, str]) -> None:
        self.base = ["tmux", "-S", str(socket), "-f", os.devnull]
        subprocess.run([*self.base, "new-session", "-d", "-s", "t", "-x", "80", "-y", "24", command],
                       check=True, env=env)

    def screen(self) -> str:
        return subprocess.run([*self.base, "capture-pane", "-p", "-t", "t"], capture_output=True,
                              text=True).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*self.base, "send-keys", "-t", "t", key], check=True)
            time.sleep(0.15)

    def wait_for(self, *markers: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(m in screen for m in markers):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{markers} not on screen:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


def entry_point() -> str:
    script = Path(sys.executable).with_name("laion-fmri-tui")
    if not script.exists():
        pytest.skip("laion-fmri-tui is not installed in this environment")
    return str(script)


@pytest.mark.slow
def test_demo_in_tmux_accepts_licence_selects_downloads_and_quits(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env["TERM"] = "xterm-256color"
    done = tmp_path / "exited"
    tmux = Tmux(tmp_path / "tmux.sock", f"{entry_point()} --demo; echo EXIT=$? > {done}; sleep 30", env)
    try:
        tmux.wait_for("CC0", "Accept")
        tmux.keys("a")
        screen = tmux.wait_for("sub-03", "Stimuli")
        data_dir = Path(re.search(r"→ (\S+/data)", screen).group(1))
        assert (data_dir / ".laion_fmri" / "license_accepted").exists()
        tmux.keys("Down", "Down")  # the cursor starts on dataset files -> sub-01 -> sub-03
        tmux.keys("Space")
        tmux.wait_for("[x] sub-03", "to fetch")
        tmux.keys("d")
        tmux.wait_for("Download this selection?")
        tmux.keys("y")
        target = data_dir / "derivatives/glmsingle-tedana/sub-03/ses-01/func"
        deadline = time.monotonic() + 60
        while not (target.is_dir() and any(p.suffix == ".gz" for p in target.iterdir())):
            assert time.monotonic() < deadline, tmux.screen()
            time.sleep(0.2)
        screen = tmux.wait_for("finished", timeout=60)
        assert "0 failed" in screen
        files = [p for p in data_dir.rglob("*") if p.is_file() and ".laion_fmri" not in p.parts]
        assert files and not [p for p in files if p.name.endswith((".part", ".part.json"))]
        assert (data_dir / "derivatives/rois/sub-03/face").is_dir()
        assert any("label-FFA1" in p.name for p in (data_dir / "derivatives/rois/sub-03/face").iterdir())
        tmux.keys("Escape")  # back to the browser first: escape then q at once reads as alt+q
        tmux.wait_for("Selection")
        tmux.keys("q")
        deadline = time.monotonic() + 15
        while not done.exists():
            assert time.monotonic() < deadline, tmux.screen()
            time.sleep(0.2)
        assert done.read_text().strip() == "EXIT=0"
        assert not data_dir.exists(), "the demo cleans up its temporary data directory"
    finally:
        tmux.kill()
