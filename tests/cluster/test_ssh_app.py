"""``laion-fmri-tui --demo`` over a real SSH session in tmux at 80x24.

Users run the app on cluster login nodes over ssh, where ``COLORTERM`` is not
forwarded by default and some set ``NO_COLOR``: the screen must stay legible
and must not fall back on 24-bit colour the terminal never announced.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tui"))
from test_demo_terminal import Tmux, entry_point  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TRUECOLOR = re.compile(r"\x1b\[[0-9;]*[34]8;2;")


def _remote_command(term: str, extra: dict[str, str]) -> str:
    """The remote shell does not inherit our environment: spell out what the app needs."""
    env = {"PYTHONPATH": str(REPO), "TERM": term, "LANG": "C.UTF-8", **extra}
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[name] = os.environ[name]  # the isolated test home, not root's
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"env -u COLORTERM {assigns} {entry_point()} --demo"


def _rich_screen(tmux: Tmux) -> str:
    """The pane with its SGR escapes, as tmux stored them."""
    return subprocess.run([*tmux.base, "capture-pane", "-e", "-p", "-t", "t"], capture_output=True,
                          text=True).stdout


@pytest.mark.slow
@pytest.mark.parametrize("extra", [{}, {"NO_COLOR": "1"}], ids=["xterm-256color", "no-color"])
def test_demo_over_ssh_stays_legible_and_exits_zero(lab_sshd, tmp_path: Path, extra: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX") and k != "COLORTERM"}
    env.update(TERM="xterm-256color", **extra)  # what the client forwards (SendEnv NO_COLOR)
    done = tmp_path / "exited"
    ssh = (f"ssh -tt -F {lab_sshd.ssh_config} lab {shlex.quote(_remote_command('xterm-256color', extra))}")
    tmux = Tmux(tmp_path / "tmux.sock", f"{ssh}; echo EXIT=$? > {done}; sleep 30", env)
    screens: list[str] = []
    try:
        tmux.wait_for("CC0", "Accept")
        screens.append(_rich_screen(tmux))
        tmux.keys("a")
        screen = tmux.wait_for("sub-03", "Stimuli")
        data_dir = Path(re.search(r"→ (\S+/data)", screen).group(1))
        tmux.keys("Down", "Down", "Down", "Space")
        screen = tmux.wait_for("[x] sub-03", "to fetch")
        screens.append(_rich_screen(tmux))
        for marker in ("[ ] sub-01", "[x] sub-03", "files", "to fetch", "space Select", "d Download",
                       "q Quit"):
            assert marker in screen, f"{marker!r} missing:\n{screen}"
        tmux.keys("d")
        screen = tmux.wait_for("finished", "0 failed", "esc Back", timeout=90)  # footer redraws last
        screens.append(_rich_screen(tmux))
        assert re.search(r"\d+ done · 0 skipped · 0 failed · (\d+) of \1 files", screen), screen
        assert "q Quit" in screen, screen
        files = [p for p in data_dir.rglob("*") if p.is_file() and ".laion_fmri" not in p.parts]
        assert files and not [p for p in files if p.name.endswith((".part", ".part.json"))]
        assert any("label-FFA1" in p.name for p in (data_dir / "derivatives/rois/sub-03/face").iterdir())
        tmux.keys("Escape", "q")
        deadline = time.monotonic() + 20
        while not done.exists():
            assert time.monotonic() < deadline, tmux.screen()
            time.sleep(0.2)
        assert done.read_text().strip() == "EXIT=0"
    finally:
        tmux.kill()
    assert all("\x1b[" in rich for rich in screens), "capture-pane -e kept the styling"
    for rich in screens:  # truecolor only when COLORTERM announces it, never under NO_COLOR
        assert not TRUECOLOR.search(rich), repr(TRUECOLOR.search(rich))
