"""Journeys of the installed app in a real terminal: tmux, keys in, screen out.

At 80x23 under TERM=xterm-256color without COLORTERM, and at 120x40 under
NO_COLOR=1: licence, a subject ticked, the download started; the quit and
cancel questions are answered by their keys, and their confirming label is
drawn in a colour other than its background (read back from the pane's SGR
escapes, as the terminal draws it); a cancel ends with a header and counts
that agree; ``r`` with nothing failed says so, and so do ``p`` and ``c`` once
the run is over (the footer no longer offers them); ``q`` gives the terminal back.
"""

from __future__ import annotations

import re
import time

import pytest

from terminal import NO_COLOR, XTERM_256, Terminal, demo_args

CASES = [pytest.param((80, 23), XTERM_256, id="80x23-xterm-256color"),
         pytest.param((120, 40), NO_COLOR, id="120x40-no-color")]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def label_colours(term: Terminal, text: str) -> tuple[str, str]:
    """(foreground, background) of the first character of ``text`` on the pane."""
    for line in term.rich_screen().splitlines():
        if text in SGR.sub("", line):
            return _colours_of(line, text)
    raise AssertionError(f"{text!r} not on screen:\n{term.screen()}")


def _colours_of(line: str, text: str) -> tuple[str, str]:
    """Walk the line's escapes; the state in force at the first character of ``text``."""
    start = SGR.sub("", line).index(text)
    fg, bg, reverse = "default-fg", "default-bg", False
    column = 0
    pos = 0
    for match in list(SGR.finditer(line)) + [None]:
        chunk = line[pos:match.start()] if match else line[pos:]
        if column <= start < column + len(chunk):
            return (bg, fg) if reverse else (fg, bg)
        column += len(chunk)
        if match is None:
            break
        codes = [int(c) if c else 0 for c in match.group(1).split(";")]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code == 0:
                fg, bg, reverse = "default-fg", "default-bg", False
            elif code == 7:
                reverse = True
            elif code == 27:
                reverse = False
            elif code == 39:
                fg = "default-fg"
            elif code == 49:
                bg = "default-bg"
            elif code in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5:
                    value, i = f"256:{codes[i + 2]}", i + 2
                else:
                    value, i = "rgb:" + ",".join(map(str, codes[i + 2:i + 5])), i + 4
                fg, bg = (value, bg) if code == 38 else (fg, value)
            elif 30 <= code <= 37 or 90 <= code <= 97:
                fg = f"16:{code}"
            elif 40 <= code <= 47 or 100 <= code <= 107:
                bg = f"16:{code - 10}"
            i += 1
        pos = match.end()
    raise AssertionError(f"{text!r} not found in {line!r}")


def answer_a_question(term: Terminal, yes_label: str) -> None:
    """The question shows both answers with their keys, its yes-label legible."""
    screen = term.wait_for(f"{yes_label} (y/enter)", "(n/esc)")
    fg, bg = label_colours(term, f"{yes_label} (y/enter)")
    assert fg != bg, f"{yes_label!r} drawn in its background's colour {fg}:\n{screen}"


@pytest.mark.slow
@pytest.mark.parametrize(("size", "profile"), CASES)
def test_download_questions_cancel_and_quit_by_keys(tmp_path, size, profile):
    temp = tmp_path / "tmp"
    temp.mkdir()
    with Terminal.start(tmp_path / "term", demo_args("--max-bandwidth", "100k"), size=size, profile=profile,
                        env={"TMPDIR": str(temp)}) as term:
        term.wait_for("CC0", "Accept (a)")
        [root] = list(temp.glob("laion-fmri-demo-*"))
        term.keys("a")
        term.wait_for("sub-03", "Stimuli")
        term.keys("Down", "Space")  # the first cursor is on sub-01: down to sub-03
        term.wait_until(lambda s: "[x] sub-" in s and "to fetch" in s, what="a subject ticked")
        time.sleep(0.5)  # the summary's plan (d uses it)
        term.keys("d")
        screen = term.wait_until(lambda s: "Downloading" in s or "y/enter" in s.replace(" / ", "/"),
                                 what="the download, or a review of it that y starts")
        if "Downloading" not in screen:
            term.keys("y")
        term.wait_for("Downloading", "ETA")

        term.keys("q")
        answer_a_question(term, "Quit")
        term.keys("n")
        term.wait_gone("Quit (y/enter)")
        term.keys("c")
        answer_a_question(term, "Cancel download")
        term.keys("y")
        screen = term.wait_for("Cancelled (partial files kept)")
        done, present, total = map(int, re.search(r"(\d+) done · 0 skipped · 0 failed · (\d+) of (\d+) files",
                                                   screen).groups())
        assert done == present < total, screen
        term.keys("r")
        term.wait_for("nothing failed, so nothing to retry")
        footer = screen.splitlines()[-1]
        assert "Pause" not in footer and "Cancel" not in footer, footer  # the run is over
        for key, what in (("p", "pause"), ("c", "cancel")):  # they say why they do nothing
            term.wait_gone("The run was cancelled")
            term.keys(key)
            term.wait_for("The run was cancelled", f"nothing to {what}")
        term.keys("q")
        assert term.wait_exit(timeout=30) == 0
    assert not root.exists()
