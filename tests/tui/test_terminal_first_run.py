"""The first-run data directory in a real terminal: the path typed, "Create it", enter.

A directory that does not exist yet: enter in the path field says so and
moves to the "Create it" box; space ticks it and the line under the path
says at once that it will be created (no ✗ left over); enter on the box goes
on to the licence. Before, the ✗ stayed after the tick and only tab tab enter
(to the Continue button) went on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from terminal import SIZES, Terminal, server_args

from laion_fmri_tui.core.disk import datadir


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_create_it_is_answered_at_once_and_enter_goes_on(tmp_path, s3, access, size):
    target = Path(os.environ["HOME"]) / "laion-fmri-data"  # the proposed directory, not there yet
    assert not target.exists()
    with Terminal.start(tmp_path / "term", server_args(s3, access), size=size) as term:
        term.wait_for("Where should the LAION-fMRI data go?", "Does not exist yet")
        term.keys("Enter")  # enter in the path field: not there yet, and the tick box is next
        term.wait_for("✗ It does not exist yet")
        term.keys("Space")
        screen = term.wait_for("Will be created")
        assert "✗" not in screen, screen
        assert not target.exists(), "nothing is made before the user goes on"
        term.keys("Enter")
        term.wait_for("CC0", "Accept (a)")
        assert target.is_dir()
        term.keys("n")  # decline: the app ends
        term.wait_exit(timeout=30)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_first_frame_names_the_path_fields_keys_and_escape_quits(tmp_path, s3, access, size):
    """The path field has the focus on the first frame; it takes ``q`` and ``?`` as
    letters, so the footer showed only ``^p palette``: now it names enter and escape."""
    config = datadir.config_path()
    assert not config.exists()
    with Terminal.start(tmp_path / "term", server_args(s3, access), size=size) as term:
        screen = term.wait_until(lambda s: "Continue" in s.splitlines()[-1], timeout=30,
                                 what="the footer naming Continue")
        footer = screen.splitlines()[-1]
        assert "Quit" in footer and "esc" in footer, footer
        term.type("q?")  # the text of the path (it replaces the proposed one), not keys of the app
        term.wait_for("Does not exist yet", "q?)")
        term.keys("Escape")
        assert term.wait_exit(timeout=30) == 0
    assert not config.exists(), "quitting saves nothing"
