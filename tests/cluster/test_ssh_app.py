"""``laion-fmri-tui --demo`` over a real SSH session in tmux at 80x24.

Users run the app on cluster login nodes over ssh, where ``COLORTERM`` is not
forwarded by default and some set ``NO_COLOR``: the screen must stay legible
and must not fall back on 24-bit colour the terminal never announced.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tui"))
from terminal import Terminal, entry_point  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TRUECOLOR = re.compile(r"\x1b\[[0-9;]*[34]8;2;")


def _remote_command(term: str, extra: dict[str, str]) -> str:
    """The remote shell does not inherit our environment: spell out what the app needs."""
    env = {"PYTHONPATH": str(REPO), "TERM": term, "LANG": "C.UTF-8", **extra}
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[name] = os.environ[name]  # the isolated test home, not root's
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"env -u COLORTERM {assigns} {entry_point()} --demo"


@pytest.mark.slow
@pytest.mark.parametrize("extra", [{}, {"NO_COLOR": "1"}], ids=["xterm-256color", "no-color"])
def test_demo_over_ssh_stays_legible_and_exits_zero(lab_sshd, tmp_path: Path, extra: dict[str, str]) -> None:
    # what the client forwards (SendEnv NO_COLOR); no COLORTERM
    forwarded = " ".join(f"{k}={shlex.quote(v)}" for k, v in {"TERM": "xterm-256color", **extra}.items())
    ssh = (f"env -u COLORTERM {forwarded} ssh -tt -F {lab_sshd.ssh_config} lab "
           f"{shlex.quote(_remote_command('xterm-256color', extra))}")
    tmux = Terminal(tmp_path / "term", ssh, size=(80, 24))
    screens: list[str] = []
    try:
        tmux.wait_for("CC0", "Accept")
        screens.append(tmux.rich_screen())
        tmux.keys("a")
        screen = tmux.wait_for("sub-03", "Stimuli")
        data_dir = Path(re.search(r"→ (\S+/data)", screen).group(1))
        tmux.keys("Down", "Space")  # the cursor starts on the first row to tick (sub-01)
        screen = tmux.wait_for("[x] sub-03", "to fetch")
        screens.append(tmux.rich_screen())
        for marker in ("[ ] sub-01", "[x] sub-03", "files", "to fetch", "space Select", "d Download",
                       "q Quit"):
            assert marker in screen, f"{marker!r} missing:\n{screen}"
        tmux.keys("d")
        tmux.wait_for("Download this selection?")
        tmux.keys("y")
        screen = tmux.wait_for("finished", "0 failed", "esc Back", timeout=90)  # footer redraws last
        screens.append(tmux.rich_screen())
        assert re.search(r"\d+ done · 0 skipped · 0 failed · (\d+) of \1 files", screen), screen
        assert "q Quit" in screen, screen
        files = [p for p in data_dir.rglob("*") if p.is_file() and ".laion_fmri" not in p.parts]
        assert files and not [p for p in files if p.name.endswith((".part", ".part.json"))]
        assert any("label-FFA1" in p.name for p in (data_dir / "derivatives/rois/sub-03/face").iterdir())
        tmux.keys("Escape", "q")
        assert tmux.wait_exit(timeout=20) == 0
    finally:
        tmux.kill()
    assert all("\x1b[" in rich for rich in screens), "capture-pane -e kept the styling"
    for rich in screens:  # truecolor only when COLORTERM announces it, never under NO_COLOR
        assert not TRUECOLOR.search(rich), repr(TRUECOLOR.search(rich))
