"""What a tester with the installed app found still wrong, replayed by keys in tmux.

The installed ``laion-fmri-tui --demo`` at 80x23 (an 80x24 terminal under
tmux's status line), keys in, screen out (tests/tui/terminal.py): the first
cursor is on a row that can be ticked and the "Dataset files" rows say why
they cannot; a filter that matches nothing is said with keys, and ``b`` then
offers no command that would fail; help lists the keys of the screen it was
opened from; ``w`` is kept for the next download and a cap reads in the units
typed; the dashboard's bar counts only this run's bytes, files already there
apart; ``i`` shows the values of a session's ``GLMsingle_model.h5``, a real
HDF5 file in the demo. The timeouts only bound a failure.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import pytest
from terminal import Terminal, demo_args

DEMO_DIR = re.compile(r"→ (\S+/data)")


def toasts(screen: str) -> str:
    """The text of the notifications on screen (drawn after a "▌"), wrapped lines joined."""
    parts = [line.split("▌", 1)[1].split("│", 1)[0].strip() for line in screen.splitlines() if "▌" in line]
    return " ".join(p for p in parts if p)


def summary(screen: str) -> str:
    """The Selection panel's text (right of the tree, between its borders), lines joined."""
    parts = [line.split("│")[-2].strip() for line in screen.splitlines() if line.count("│") >= 2]
    return " ".join(" ".join(p for p in parts if p).split())


def start(tmp_path: Path, *extra: str, on_sub01: bool = True) -> tuple[Terminal, Path]:
    """The demo, licence accepted: the terminal and the demo's data directory; the
    cursor put on sub-01 by home and down (whichever row it started on)."""
    term = Terminal.start(tmp_path / "term", demo_args(*extra), size=(80, 23))
    term.wait_for("CC0", "Accept (a)")
    term.keys("a")
    screen = term.wait_for("sub-03", "Stimuli", "Nothing selected")
    if on_sub01:
        term.keys("Home", "Down")
    return term, Path(DEMO_DIR.search(screen).group(1))


def test_first_cursor_ticks_a_subject_and_dataset_rows_say_why_not(tmp_path):
    """Space on the first frame ticks the first subject (the cursor used to sit on
    "Dataset files", which has no checkbox); space there, and on a file under it,
    says in one line why it cannot be ticked."""
    term, _ = start(tmp_path, on_sub01=False)
    with term:
        term.keys("Space")
        term.wait_for("[x] sub-01")
        term.keys("Space", "Up", "Space")  # untick; up to "Dataset files"
        said = "fetched with every subject you tick, not on their own"
        screen = term.wait_until(lambda s: f"Dataset files: {said}" in toasts(s), what="why not, said")
        assert "[x]" not in screen
        term.keys("Enter")
        term.wait_for("participants.tsv")
        term.keys("Down", "Space")
        term.wait_until(lambda s: f"README: {said}" in toasts(s), what="why not, said for a file")


def test_a_filter_that_matches_nothing_is_said_in_keys_and_b_offers_no_failing_command(tmp_path):
    """sub-07 holds raw events only; ``task=nothing`` leaves nothing of it. The summary
    says what to press (not --batch flags or ``laion-fmri-tui info``); ``b`` says why
    there is no command (the one it showed exited 2 under ``set -e``); so does ``d``."""
    term, _ = start(tmp_path)
    with term:
        term.keys("Down", "Down", "Down", "Space")  # sub-01 -> sub-03 -> sub-05 -> sub-07
        term.wait_until(lambda s: "[x] sub-07" in s and "to fetch" in s, what="sub-07 ticked and planned")
        term.keys("/")
        term.type("task=nothing")
        term.keys("Enter")
        flat = summary(term.wait_for("Nothing to fetch"))
        assert "passes the filter task=nothing" in flat and "/ change the filter" in flat, flat
        assert "--subject" not in flat and "laion-fmri-tui info" not in flat, flat
        term.keys("b")
        screen = term.wait_until(lambda s: "no command to show" in toasts(s), what="why no command, said")
        assert "press / to change it" in toasts(screen) and "Run this selection" not in screen, screen
        term.keys("d")
        term.wait_until(lambda s: "nothing to download" in toasts(s), what="why no download, said")
        assert "Download this selection?" not in term.screen()


@pytest.mark.parametrize("size", [(80, 23), (120, 40)], ids=["80x23", "120x40"])
def test_help_lists_only_the_keys_of_the_screen_it_was_opened_from(tmp_path, size):
    """On the licence and on the dashboard, help listed the browser's keys too
    (space, /, d, b, i), then the tree's moves (enter, right, left: "Expand"),
    and called the screen a "dialog". Each now lists its own section of the key
    registry under its name. The ``w`` dialog shows its keys as other dialogs do."""
    with Terminal.start(tmp_path / "term", demo_args("--max-bandwidth", "100k"), size=size) as term:
        term.wait_for("CC0", "Accept (a)")
        term.keys("?")
        shown = term.wait_for("Keys and settings", "On the licence screen")
        assert "Accept" in shown and "Decline" in shown and "Scroll the licence text" in shown, shown
        for elsewhere in ("Select or unselect", "Review the plan", "Pause or resume", "Preview a downloaded",
                          "Expand", "Collapse", "Move down", "dialog"):
            assert elsewhere not in shown, elsewhere
        term.keys("Escape")
        term.wait_gone("Keys and settings")
        term.keys("a")
        term.wait_for("sub-03", "Nothing selected")
        term.keys("?")
        shown = term.wait_for("Keys and settings", "On the bucket browser", "Expand the node", "Move down")
        term.keys("Escape")
        term.wait_gone("Keys and settings")
        term.keys("Home", "Down", "Space")
        term.wait_until(lambda s: "[x] sub-01" in s and "to fetch" in s, what="sub-01 ticked and planned")
        term.keys("d")
        term.wait_for("Download this selection?")
        term.keys("y")
        term.wait_for("Downloading")
        term.keys("?")
        shown = term.wait_for("Keys and settings", "On the transfer dashboard", "Pause or resume")
        for elsewhere in ("Select or unselect", "entity filter bar", "Review the plan", "Preview a downloaded",
                          "--batch command", "Expand", "Collapse", "Move down", "dialog"):
            assert elsewhere not in shown, elsewhere
        assert "Change the shared bandwidth cap" in shown, shown
        term.keys("Escape")
        term.wait_gone("Keys and settings")
        term.keys("w")
        shown = term.wait_for("now: 100 kB/s", "Set cap")
        footer = next(line for line in shown.splitlines() if "Set cap" in line)
        assert "enter  set the cap" in shown and "esc  close, the cap unchanged" in shown, shown
        assert "⏎ Set cap" in footer and "esc Close" in footer, footer
        term.keys("Escape")
        term.wait_gone("now: 100 kB/s")


def test_a_cap_reads_as_typed_is_kept_for_the_next_download_whose_bar_counts_only_its_work(tmp_path):
    """``--max-bandwidth 300k`` reads "300 kB/s" (it read "307.2 kB/s"); a cap set with
    ``w`` is still in force for the next download (it fell back to the flag's); that
    download's bar starts from what is left (it counted the files already fetched as
    its progress), and the files already there are counted apart."""
    term, _ = start(tmp_path, "--max-bandwidth", "300k")
    with term:
        term.keys("Space")
        term.wait_until(lambda s: "[x] sub-01" in s and "to fetch" in s, what="sub-01 ticked and planned")
        term.keys("d")
        term.wait_for("Download this selection?")
        term.keys("y")
        term.wait_until(lambda s: re.search(r"\b[1-9]\d* done\b", s) is not None, what="a first file done")
        term.keys("w")
        term.wait_for("now: 300 kB/s")
        term.type("200k")
        term.keys("Enter")
        term.wait_for("bandwidth capped at 200 kB/s")
        term.keys("c")
        term.wait_for("Cancel download (y/enter)")
        term.keys("y")
        term.wait_for("Cancelled (partial files kept)")
        term.keys("Escape")
        term.wait_for("Selection")
        term.keys("d")
        review = term.wait_for("Download this selection?", "already present:")
        flat = " ".join(review.split())
        to_fetch = re.search(r"to fetch: \d+ files?, (\d[\d.]* [kMG]?B)", flat).group(1)
        already = int(re.search(r"already present: (\d+) files? complete", flat).group(1))
        assert already > 0, flat
        term.keys("y")
        screen = term.wait_for("Downloading", f"{already} already present")
        bar = next(line for line in screen.splitlines() if "%" in line)
        assert bar.rstrip().endswith(f"of {to_fetch}"), bar
        assert re.search(r"\s(\d)%", bar) and re.search(r"\s(\d)%", bar).group(1) in "0123", bar
        term.keys("w")
        term.wait_for("now: 200 kB/s")
        term.keys("Escape")
        term.keys("c")
        term.wait_for("Cancel download (y/enter)")
        term.keys("y")
        term.wait_for("Cancelled (partial files kept)")


@pytest.mark.parametrize("size", [(80, 23)], ids=["80x23"])
def test_i_shows_the_values_of_a_sessions_glmsingle_model_in_the_demo(tmp_path, size):
    """The demo's ``GLMsingle_model.h5`` is a real HDF5 file (it was noise: "not an
    HDF5 file"), and the preview shows values of its datasets at 80x23."""
    term, data_dir = start(tmp_path)
    with term:
        term.keys("Right")  # sub-01
        term.wait_for("GLMsingle betas")
        term.keys("Down", "Right")
        term.wait_for("ses-03")
        term.keys("Down", "Down", "Down", "Space")  # ses-01, ses-02, ses-03
        term.wait_until(lambda s: "[x] ses-03" in s and "to fetch" in s, what="ses-03 ticked and planned")
        term.keys("d")
        term.wait_for("Download this selection?")
        term.keys("y")
        term.wait_for("finished:", timeout=120)
        term.keys("Escape")
        term.wait_for("Selection")
        term.keys("Right")
        term.wait_for("GLMsingle_model.h5")
        for _ in range(30):  # down the session's files until i opens the model
            term.keys("i")
            answer = term.wait_until(lambda s: "First values" in s or "highlight an HDF5" in toasts(s),
                                     what="the preview, or why not")
            if "First values" in answer:
                break
            term.keys("Down")
        # the rows before the model each answered i with a toast; they fade after a few seconds
        screen = term.wait_until(lambda s: all(m in s for m in ("GLMsingle_model.h5", "First values", "betasmd"))
                                 and "highlight an HDF5" not in s, what="the preview, no toast over it")
        [model] = data_dir.rglob("sub-01_ses-03_*GLMsingle_model.h5")
        with h5py.File(model) as f:
            first_beta = f"{float(f['betasmd'][0, 0]):.4g}"
            first_r2 = f"{float(f['R2'][0]):.4g}"
        row = next(line for line in screen.splitlines() if "betasmd" in line)
        assert first_beta in row, screen
        assert first_r2 in screen, screen
        assert "not an HDF5 file" not in screen
