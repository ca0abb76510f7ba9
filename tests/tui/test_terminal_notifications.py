"""A notification leaves the lines that say the state readable, in a real terminal.

Textual's toast is 40 columns wide at 80 columns, with a blank row above and
below its text, in the bottom right corner: at 80x23 it covered the
dashboard's status line (what the run ended with) and the end of the line
under the browser's tree (the highlighted row's whole name) for the 3 s it
was up. The installed app against the suite's own servers, in tmux at 80x23
and 120x40, keys in, screen out; the timeouts only bound a failure.
"""

from __future__ import annotations

import pytest
from terminal import NO_COLOR, XTERM_256, Terminal, server_args
from test_terminal_readable import open_session, session_files, tree_text

CASES = [pytest.param((80, 23), XTERM_256, id="80x23-xterm-256color"),
         pytest.param((120, 40), NO_COLOR, id="120x40-no-color")]


def status_lines(screen: str) -> list[str]:
    """The dashboard's status line (wrapped, so maybe more than one) between the log's
    box and the footer: it starts with what the run ended with."""
    lines = [line.rstrip() for line in screen.splitlines()]
    start = max(i for i, line in enumerate(lines) if line.strip().startswith("finished:"))
    return [line for line in lines[start:-1] if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize(("size", "profile"), CASES)
def test_a_notification_covers_neither_the_line_under_the_tree_nor_the_status_line(
        tmp_path, s3, access, s3_objects, licensed_data_dir, size, profile):
    width = size[0]
    longest = max((key.rsplit("/", 1)[1] for key in session_files(s3_objects)), key=len)
    # i has nothing to show for it; and it reaches past the half of a 120-column window
    assert not longest.endswith(".h5") and len(longest) > 60, longest
    with Terminal.start(tmp_path / "term", server_args(s3, access, licensed_data_dir), size=size,
                        profile=profile) as term:
        term.wait_for("sub-01", "Stimuli", "Nothing selected")
        open_session(term)
        for key in session_files(s3_objects):  # down to the file with the longest name: whole under the tree
            name = key.rsplit("/", 1)[1]
            term.keys("Down")
            term.wait_until(lambda s, name=name: name in tree_text(s, width), timeout=10, what=f"{name} under the tree")
            if name == longest:
                break
        term.keys("i")  # not an HDF5 file: a notification says what i previews
        screen = term.wait_for("highlight an HDF5", timeout=10)
        assert longest in tree_text(screen, width), screen

        term.keys(*["Left"] * 6)  # back up to sub-01, collapsed
        term.wait_gone("GLMsingle betas")
        term.keys(*["Down"] * 4, "Right")  # Stimuli > Captions, ticked and fetched
        term.wait_for("Captions")
        term.keys(*["Down"] * 4, "Space")
        term.wait_for("[x] Captions")
        term.keys("d")
        term.wait_for("Start")
        term.keys("y")
        status = status_lines(term.wait_for("finished:", timeout=60))
        term.keys("p")  # the run is over: a notification says so
        screen = term.wait_for("nothing to pause", timeout=10)
        shown = [line.rstrip() for line in screen.splitlines()]
        assert all(line in shown for line in status), f"{status}\n{screen}"
