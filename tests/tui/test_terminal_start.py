"""Keys typed while ``--demo`` starts are not echoed onto the terminal.

The demo takes seconds before its first frame (local servers, a synthetic
bucket); keys typed meanwhile were echoed by the terminal, still in the
shell's mode, and stayed on the screen after the app ended. The keys are
sent once the program runs (its demo folder exists) and before its first
frame (checked: the licence is not on the pane yet), and must be nowhere on
the pane, while the app runs nor once the shell has the terminal back; then
the terminal echoes again.
"""

from __future__ import annotations

import pytest

from terminal import SIZES, Terminal, demo_args

TYPED = "zxzxzx"
"""Keys that mean nothing on the licence screen."""


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_keys_typed_before_the_first_frame_are_not_echoed(tmp_path, size):
    temp = tmp_path / "tmp"
    temp.mkdir()
    with Terminal.start(tmp_path / "term", demo_args(), size=size, env={"TMPDIR": str(temp)}) as term:
        # The demo's folder exists: the program runs and is starting its servers.
        term.wait_until(lambda _: any(temp.glob("laion-fmri-demo-*")), what="the demo's folder")
        term.type(TYPED)
        early = term.screen()
        assert "CC0" not in early, "the keys came after the first frame: this run proves nothing"
        screen = term.wait_for("CC0", "Accept (a)")
        assert TYPED not in screen
        term.keys("n")  # decline: the app ends
        term.wait_exit(timeout=30)
        screen = term.screen()
        assert TYPED not in screen, screen
        term.type("echoed-again")  # the terminal echoes again, as the shell had it
        term.wait_for("echoed-again")
