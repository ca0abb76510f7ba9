"""What is on disk, row by row, in a real terminal: files, a filter, a partial group.

The installed app against the suite's own S3 and access servers, in tmux at
80x23 (TERM=xterm-256color, no COLORTERM) and 120x40 (NO_COLOR=1), keys in,
screen out (tests/tui/terminal.py). ``--batch`` (as a user would run it)
fetched sub-01's ses-01, which brings the subject's R2mean map along; one of
the session's files is then cut to half its bytes (a ``.part``, as a killed
run leaves it). What a new user could not see before: a session's files
never said they were complete (only their branches did); a filter did not
show which of the files it keeps are on disk; "averages (subject level)"
read ``partial`` with no word of which file, or how much of it. The
timeouts only bound a failure.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from terminal import NO_COLOR, XTERM_256, Terminal, server_args
from test_terminal_readable import SUMMARY_WIDTH, dialog_text, open_session, session_files, tree_text

from laion_fmri_tui.core.disk import partfile
from laion_fmri_tui.core.plan.bids import component_prefix, local_path, r2mean_key
from laion_fmri_tui.core.units import count
from laion_fmri_tui.core.units import size as human

CASES = [pytest.param((80, 23), XTERM_256, id="80x23-xterm-256color"),
         pytest.param((120, 40), NO_COLOR, id="120x40-no-color")]
FILTER = "suffix=statmap"
SUBJECT_LEVEL = component_prefix("glmsingle", "sub-01")
SESSIONS_BELOW = 7
"""Rows from ses-01's last file down to "averages (subject level)": ses-02, ses-03, the
four held-out sessions, then averages."""


def batch(data_dir, s3, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "laion_fmri_tui", "--batch", "--subject", "01", "--ses", "01", "--only", "glmsingle",
         "--data-dir", str(data_dir), "--endpoint-url", s3.url, "--accept-license", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def cut_to_half(data_dir, s3_objects, key: str) -> int:
    """The file as a killed run leaves it: no final file, half its bytes in its ``.part``."""
    dest = local_path(data_dir, key)
    data = s3_objects[key].data
    dest.unlink()
    partfile.part_path(dest).write_bytes(data[:len(data) // 2])
    return len(data) // 2


def row_of(screen: str, width: int, name: str, amount: str) -> str | None:
    """The tree row of the file ``name`` of ``amount`` bytes: the tree pane's line with
    the end of its name (rows keep the end) and its size (the line under the tree has none)."""
    for line in screen.splitlines():
        row = line[:width - SUMMARY_WIDTH].rstrip()
        if name[-16:] in row and f" {amount} " in f"{row} ":
            return row
    return None


def file_row(term: Terminal, width: int, name: str, amount: str, end: str) -> str:
    """Wait until the file's row ends as ``end`` (a regular expression) says; the row."""
    screen = term.wait_until(
        lambda s: bool(re.search(rf"{amount} {end}$", row_of(s, width, name, amount) or "")), timeout=15,
        what=f"{name}'s row ending {amount} {end}")
    return row_of(screen, width, name, amount) or ""


def flat(text: str) -> str:
    """``text`` without blanks: a line the pane or a dialog wraps reads the same."""
    return "".join(text.split())


def under_tree(term: Terminal, width: int, text: str) -> str:
    """Wait until ``text`` is in the tree pane (the line under it says the highlighted
    row's name and what of it is on disk, wrapped); the screen."""
    return term.wait_until(lambda s: flat(text) in flat(tree_text(s, width)), timeout=10,
                           what=f"{text!r} under the tree")


@pytest.mark.slow
@pytest.mark.parametrize(("size", "profile"), CASES)
def test_files_say_what_is_on_disk_a_filter_keeps_their_state_and_partial_says_what(
        tmp_path, s3, access, s3_objects, licensed_data_dir, size, profile):
    width = size[0]
    batch(licensed_data_dir, s3)
    keys = session_files(s3_objects)
    half = max(keys, key=lambda k: len(s3_objects[k].data))
    kept = cut_to_half(licensed_data_dir, s3_objects, half)
    averages = sorted(k for k in s3_objects if k.startswith(SUBJECT_LEVEL) and "/" not in k[len(SUBJECT_LEVEL):])
    r2mean = r2mean_key("sub-01")
    assert r2mean in averages and len(averages) > 2
    with Terminal.start(tmp_path / "term", server_args(s3, access, licensed_data_dir), size=size,
                        profile=profile) as term:
        term.wait_for("sub-01", "Stimuli", "Nothing selected")
        open_session(term)
        for key in keys:  # 1. each file's row says complete, or the share a partial one keeps
            name, amount = key.rsplit("/", 1)[1], human(len(s3_objects[key].data))
            term.keys("Down")
            under_tree(term, width, name)
            if key == half:
                row = file_row(term, width, name, amount, r"\d+% kept")
                assert f"{kept * 100 // len(s3_objects[key].data)}% kept" in row, row
                under_tree(term, width, f"partial: {human(kept)} of {amount} kept")
            else:
                file_row(term, width, name, amount, "complete")

        # 3. "averages (subject level)" is partial: the line under the tree and enter say what is
        total = sum(len(s3_objects[k].data) for k in averages)
        said = (f"partial: 1 of {count(len(averages), 'file')} complete, "
                f"{human(len(s3_objects[r2mean].data))} of {human(total)} on disk")
        term.keys(*["Down"] * SESSIONS_BELOW)
        under_tree(term, width, said)
        term.keys("Enter")
        came = flat("(it comes with every session fetched)")
        shown = flat(dialog_text(term.wait_until(lambda s: came in flat(dialog_text(s)), timeout=10,
                                                 what="the details of averages")))
        assert flat(said) in shown, shown
        assert flat(f"{r2mean.rsplit('/', 1)[1]}: complete (it comes with every session fetched)") in shown, shown
        term.keys("Escape")
        term.wait_until(lambda s: came not in flat(dialog_text(s)), timeout=10, what="the details closed")

        # 2. a filter: the files it leaves out read "no match", those it keeps their state
        term.type("/" + FILTER)  # in one burst, as a paste or one SSH packet brings it: every
        term.wait_gone("space Select")  # letter lands in the bar (the tree once took "s")
        term.keys("Enter")
        term.wait_for("no match", timeout=15)  # applied, the tree has the keys again
        term.keys(*["Up"] * (SESSIONS_BELOW - 1))
        for key in reversed(keys):
            name, amount = key.rsplit("/", 1)[1], human(len(s3_objects[key].data))
            term.keys("Up")
            under_tree(term, width, name)
            if "_statmap." not in name:
                file_row(term, width, name, amount, "no match")
            elif key == half:
                file_row(term, width, name, amount, r"\d+% kept")
            else:
                file_row(term, width, name, amount, "complete")
        term.keys("Up", "Space")  # ses-01 ticked: the summary counts the files that pass already on disk
        term.wait_for("[x] ses-01", timeout=10)
        planned = json.loads(next(line for line in batch(licensed_data_dir, s3, "--suffix", "statmap", "--dry-run",
                                                          "--json").stdout.splitlines() if '"event": "plan"' in line))
        on_disk = sum(1 for item in planned["items"] if item["state"] == "complete")
        assert 0 < on_disk <= planned["files"], planned
        term.wait_for(f"{count(planned['files'], 'file')} ({on_disk} on disk)", timeout=15)
