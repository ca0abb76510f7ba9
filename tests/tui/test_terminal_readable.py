"""Long names, failed listings, enter and the README's glyphs, in a real terminal.

The installed app against the suite's own S3 and access servers, in tmux at
80x23 (TERM=xterm-256color, no COLORTERM) and 120x40 (NO_COLOR=1), keys in,
screen out (tests/tui/terminal.py). What a new user found at 80 columns: the
session's files cut so they could not be told apart (now the line under the
tree shows the highlighted row's whole name, and enter on it its details),
"dataset_description.…" cut beside an empty size column, the HDF5 preview's
folder cut where the subject and session are, a failed listing's reason only
in a toast that faded, enter doing nothing on a row that does not expand, and
a README naming a tick glyph the tree does not draw. The timeouts only bound
a failure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from terminal import NO_COLOR, XTERM_256, Terminal, server_args

from laion_fmri_tui.core.plan.bids import component_prefix, local_path

CASES = [pytest.param((80, 23), XTERM_256, id="80x23-xterm-256color"),
         pytest.param((120, 40), NO_COLOR, id="120x40-no-color")]
SUMMARY_WIDTH = 28
"""The Selection panel's columns, right of the tree (styles/browser.tcss)."""
README = Path(__file__).resolve().parents[2] / "README.md"
SESSION = component_prefix("glmsingle", "sub-01") + "ses-01/"


def tree_text(screen: str, width: int) -> str:
    """The tree pane's text (left of the Selection panel), every line stripped and
    joined: a name the pane wraps reads whole in it."""
    return "".join(line[:width - SUMMARY_WIDTH].strip() for line in screen.splitlines())


def dialog_text(screen: str) -> str:
    """A dialog's text with its border glyphs gone, every line stripped and joined."""
    return "".join(line.strip(" █▀▄").strip() for line in screen.splitlines())


def readme_marks() -> tuple[str, str, str]:
    """The tree's ticked, partly ticked and unticked marks as the README names them."""
    flat = " ".join(README.read_text().split())
    found = re.search(r"In the tree, `([^`]+)` marks a ticked node, `([^`]+)` a partly ticked one and "
                      r"`([^`]+)` one not ticked", flat)
    assert found, "the README no longer says which marks the tree draws"
    return found.group(1), found.group(2), found.group(3)


def start(tmp_path, s3, access, data_dir, size, profile, *extra: str) -> Terminal:
    term = Terminal.start(tmp_path / "term", server_args(s3, access, data_dir, *extra), size=size,
                          profile=profile)
    term.wait_for("sub-01", "Stimuli", "Nothing selected")
    return term


def open_session(term: Terminal) -> None:
    """From the first cursor (sub-01): sub-01 > GLMsingle betas > ses-01, by arrows."""
    term.keys("Right")
    term.wait_for("GLMsingle betas")
    term.keys("Down", "Right")
    term.wait_for("ses-01")
    term.keys("Down", "Right")
    term.wait_for("figure.png")


def session_files(s3_objects) -> list[str]:
    return sorted(key for key in s3_objects if key.startswith(SESSION) and "/" not in key[len(SESSION):]
                  .removeprefix("func/").removeprefix("figures/"))


@pytest.mark.slow
@pytest.mark.parametrize(("size", "profile"), CASES)
def test_long_names_read_whole_enter_opens_rows_and_marks_are_the_readmes(tmp_path, s3, access, s3_objects,
                                                                          licensed_data_dir, size, profile):
    width = size[0]
    ticked, partly, unticked = readme_marks()
    with start(tmp_path, s3, access, licensed_data_dir, size, profile) as term:
        term.keys("Home", "Enter")  # "Dataset files" opens on enter; its names are whole beside no size
        term.wait_for("participants.tsv", "dataset_description.json", timeout=10)
        term.keys("Enter")
        term.wait_gone("participants.tsv", timeout=10)
        term.keys("Down", "Space")  # sub-01 ticked, then one session of it unticked
        term.wait_for(f"{ticked} sub-01")
        term.keys("Right")
        term.wait_for("GLMsingle betas")
        term.keys("Down", "Right")
        term.wait_for("ses-01")
        term.keys("Down", "Space")
        term.wait_for(f"{partly} GLMsingle betas", f"{unticked} ses-01", f"{partly} sub-01")
        term.keys("Right")
        term.wait_for("figure.png")
        keys = session_files(s3_objects)
        assert len(keys) > 10
        for key in keys:  # each row's whole name under the tree as the cursor reaches it
            term.keys("Down")
            name = key.rsplit("/", 1)[1]
            term.wait_until(lambda s, name=name: name in tree_text(s, width), timeout=10,
                            what=f"{name} whole under the tree")
        term.keys("Enter")  # on a file: its details, the S3 key and the path on disk whole
        shown = dialog_text(term.wait_for("S3 key", timeout=10))
        assert keys[-1] in shown, shown
        assert str(local_path(licensed_data_dir, keys[-1])) in shown, shown
        term.keys("Escape")
        term.wait_gone("S3 key")
        term.keys("Up")
        term.keys("Enter")
        term.wait_for("S3 key")
        term.keys("Enter")  # enter closes them too
        term.wait_gone("S3 key")


@pytest.mark.slow
@pytest.mark.parametrize(("size", "profile"), CASES)
def test_the_hdf5_previews_folder_reads_whole(tmp_path, s3, access, licensed_data_dir, size, profile):
    """The folder line was cut at its end (where the subject and session are)."""
    done = subprocess.run(
        [sys.executable, "-m", "laion_fmri_tui", "--batch", "--subject", "01", "--ses", "01", "--only", "glmsingle",
         "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url, "--accept-license"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, done.stderr
    [model] = licensed_data_dir.rglob("sub-01_ses-01_*GLMsingle_model.h5")
    assert len(str(model.parent)) > 76, "the folder must be longer than an 80-column dialog's line"
    with start(tmp_path, s3, access, licensed_data_dir, size, profile) as term:
        open_session(term)
        for _ in range(30):  # down the session's files to the model (its name whole under the tree)
            term.keys("Down")
            if model.name in tree_text(term.screen(), size[0]):
                break
        term.keys("i")
        screen = term.wait_for("First values", "betasmd")
        assert model.name in dialog_text(screen) and str(model.parent) in dialog_text(screen), screen


@pytest.mark.slow
@pytest.mark.parametrize(("size", "profile"), CASES)
def test_a_failed_listings_reason_stays_in_full_until_r_retries_it(tmp_path, s3, access, licensed_data_dir,
                                                                    size, profile):
    """Every listing of sub-01's GLMsingle folder fails (503, ``--retry-for 0``): the reason
    stays whole under the tree, wherever the cursor goes, until r lists it again."""
    width = size[0]
    s3.fail_next("", 100_000, "503", prefix=component_prefix("glmsingle", "sub-01"))
    with start(tmp_path, s3, access, licensed_data_dir, size, profile, "--retry-for", "0") as term:
        term.keys("Right")
        term.wait_for("GLMsingle betas")
        term.keys("Down", "Right")
        said = term.wait_until(lambda s: "Press r to retry." in tree_text(s, width), timeout=20,
                               what="the failure under the tree")
        flat = tree_text(said, width)
        assert re.search(r"Listing GLMsingle betas failed: \S.*HTTP 503.*\. Press r to retry\.", flat), said
        term.keys("Up", "Up", "End")  # elsewhere in the tree: still said, whole
        assert "Listing GLMsingle betas failed:" in tree_text(term.screen(), width)
        s3.reset()  # the server answers again
        term.keys("r")  # not on the failed row: r retries every failed listing
        term.wait_for("ses-01")
        term.wait_until(lambda s: "Press r to retry." not in tree_text(s, width) and "ses-02" in s, timeout=10,
                        what="the failure gone, the sessions listed")
