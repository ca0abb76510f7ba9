"""The selection journey in a real terminal: the installed app in tmux, keys in, screen out.

Licence -> the first frame answers enter at once -> two sessions and one
embedding model ticked -> the model unticked (nothing else gets ticked) and
ticked again -> ``b``: the plain view, the written file and the SLURM script hold the
same command, which, run as written with ``--dry-run --json``, plans what the
review shows -> ``d`` reviews, ``n`` goes back, ``y`` downloads -> the files on
disk are the bucket's bytes. Then a capped download paused for about 5 s and
resumed ends with no failure and the bucket's bytes; the data-use form, typed
wrong then right, lets the stimulus images download. Against the suite's own S3
and access servers.

Every step waits for what the screen shows (tests/tui/terminal.py); the
timeouts only bound a failure.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time

import pytest
from terminal import NO_COLOR, SHELL_BACK, XTERM_256, Terminal, server_args

from laion_fmri_tui.core.plan.bids import local_path
from laion_fmri_tui.core.units import size as shown_size

BOX = set("│╭╮╰╯█▀▄─━╸╺")
"""Border glyphs a copy of the bordered view would pick up."""


def joined_screen(term: Terminal) -> str:
    """The pane with soft-wrapped lines joined, as tmux copy mode copies them."""
    return subprocess.run([*term.base, "capture-pane", "-p", "-J", "-t", "t"], capture_output=True,
                          text=True).stdout


def selected_files(screen: str) -> int | None:
    """The file count in the Selection panel (None while it plans or with nothing selected)."""
    found = re.search(r"│ (\d+) files?\s", screen)
    return int(found.group(1)) if found else None


def dry_run(line: str) -> dict:
    """The shown command run as written, plus ``--dry-run --json``: its plan event."""
    run = subprocess.run([*shlex.split(line), "--dry-run", "--json"], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    [plan] = [json.loads(x) for x in run.stdout.splitlines() if '"event": "plan"' in x]
    return plan


@pytest.mark.parametrize("size, profile", [((80, 23), XTERM_256), ((120, 40), NO_COLOR)],
                         ids=["80x23-xterm-256color", "120x40-no-color"])
def test_select_untick_retick_command_review_and_download(tmp_path, s3, access, s3_objects, data_dir,
                                                          size, profile):
    with Terminal.start(tmp_path / "term", server_args(s3, access, data_dir), size=size,
                        profile=profile) as term:
        # the licence: d is the download key elsewhere and means nothing here; a accepts
        term.wait_for("CC0", "Accept (a)")
        term.keys("d", "a")
        term.wait_for("sub-03", "Stimuli", "Nothing selected")
        assert SHELL_BACK not in term.screen() and (data_dir / ".laion_fmri/license_accepted").exists()

        # the first frame: the cursor is on the first row that can be ticked (sub-01, not
        # "Dataset files"), so enter expands it at once
        term.keys("Enter")
        term.wait_for("GLMsingle betas")
        term.keys("Enter")
        term.wait_gone("GLMsingle betas")

        # two sessions of sub-03; a session opens to its files
        term.keys("Down", "Right")
        term.wait_for("GLMsingle betas")
        term.keys("Down", "Right")
        term.wait_for("ses-02")
        term.keys("Down", "Space")
        one_session = selected_files(term.wait_until(lambda s: "[x] ses-01" in s and selected_files(s),
                                                     what="ses-01 ticked and counted"))
        term.keys("Down", "Space")
        sessions = term.wait_until(lambda s: selected_files(s) not in (None, one_session), what="ses-02 counted")
        two_sessions = selected_files(sessions)
        assert all(m in sessions for m in ("[x] ses-01", "[x] ses-02", "[-] GLMsingle betas", "[-] sub-03"))
        term.keys("Right")
        term.wait_for("_desc-R2_figure.png")  # its end: at 80 columns the name keeps its end
        term.keys("Left")
        term.wait_gone("_desc-R2_figure.png")
        assert "[x] ses-03" not in sessions

        # one embedding model: tick, untick (only removes), tick again
        term.keys("Left", "Left", "Left", "Left")  # ses-02 -> GLMsingle -> closed -> sub-03 -> closed
        term.wait_gone("GLMsingle betas")
        term.keys("Down", "Down", "Down", "Right")  # sub-05, sub-07, Stimuli
        term.wait_for("Embeddings", "Captions")
        term.keys("Down", "Down", "Right")
        term.wait_for("CLIP", "SigLIP2")
        term.keys("Down", "Space")
        with_clip = two_sessions + 1  # the model's one file
        ticked = term.wait_until(lambda s: "[x] CLIP" in s and selected_files(s) == with_clip,
                                 what="CLIP ticked and counted")
        assert "[-] Embeddings" in ticked and "[-] Stimuli" in ticked
        term.keys("Space")
        unticked = term.wait_until(lambda s: "[ ] CLIP" in s and selected_files(s) == two_sessions,
                                   what="CLIP unticked and the count back")
        assert "[x]" not in unticked.split("Stimuli", 1)[1], "unticking ticked nothing else"
        for name in ("DINOv2", "PEcore", "SigLIP2", "Embeddings", "Segmentations", "Captions"):
            assert f"[ ] {name}" in unticked, name
        term.keys("Space")
        term.wait_until(lambda s: "[x] CLIP" in s and selected_files(s) == with_clip,
                        what="CLIP ticked again")

        # b: the plain view and the written file hold the same, runnable command
        term.keys("b")
        term.wait_for("Run this selection", "Command line")
        term.keys("C-o")
        term.wait_for("press enter to go back")
        plain = [x.strip() for x in joined_screen(term).splitlines() if "--batch" in x]
        assert plain and not any(BOX & set(x) for x in plain), plain
        term.keys("Enter")
        term.wait_for("Run this selection")
        term.keys("C-s")
        written = data_dir / "laion-fmri-download.txt"
        shown = term.wait_for("Command written to")
        flat = "".join(ch for ch in shown if ch not in BOX and not ch.isspace())
        assert str(written) in flat, "the written path is shown in full"
        assert written.read_text().splitlines() == plain
        term.keys("C-t", "C-s")  # the SLURM script runs the same lines
        shown = term.wait_for("Script written to")
        flat = "".join(ch for ch in shown if ch not in BOX and not ch.isspace())
        assert f"{data_dir / 'laion-fmri-download.sh'}(submititwithsbatch)" in flat, "shown in full"
        script = (data_dir / "laion-fmri-download.sh").read_text().splitlines()
        assert script[0] == "#!/bin/bash" and "set -euo pipefail" in script
        assert [x for x in script if x and not x.startswith(("#", "set "))] == plain
        term.keys("Escape")
        term.wait_gone("Run this selection")
        items = {i["key"]: i["size"] for line in plain for i in dry_run(line)["items"]}
        assert len(items) == with_clip

        # d: the review shows the same plan; n goes back, y starts
        term.keys("d")
        review = term.wait_for("Download this selection?", "free space")
        assert f"{len(items)} files, {shown_size(sum(items.values()))} in all" in review, review
        term.keys("n")
        term.wait_gone("Download this selection?")
        assert not any(local_path(data_dir, k).exists() for k in items)
        term.keys("d")
        term.wait_for("Download this selection?")
        term.keys("y")
        term.wait_for("finished:", timeout=120)
        for key, length in items.items():
            path = local_path(data_dir, key)
            assert path.read_bytes() == s3_objects[key].data and len(s3_objects[key].data) == length, key
        term.keys("q")
        assert term.wait_exit() == 0


def test_pause_five_seconds_then_resume_leaves_the_bucket_bytes(tmp_path, s3, access, s3_objects, data_dir):
    """sub-03 at 300k/s, ``p`` mid-transfer, about 5 s paused, ``p`` again: the run ends with no failure and
    every file on disk is the bucket's bytes. A resume once re-asked a fully written
    file from its full size (HTTP 416, "shorter on the server than listed"); with that
    fix of the lane (10d4a8e) taken out, this run never finishes."""
    with Terminal.start(tmp_path / "term", server_args(s3, access, data_dir, "--max-bandwidth", "300k"),
                        size=(80, 23), profile=XTERM_256) as term:
        term.wait_for("CC0", "Accept (a)")
        term.keys("a")
        term.wait_for("sub-03", "Nothing selected")
        term.keys("Down", "Space")  # the first cursor is on sub-01: down to sub-03
        term.wait_until(lambda s: "[x] sub-03" in s and selected_files(s), what="sub-03 ticked and counted")
        term.keys("d")
        term.wait_for("Download this selection?")
        term.keys("y")
        term.wait_for("Downloading")
        term.wait_until(lambda s: re.search(r"\b[1-9]\d* done\b", s) is not None, what="a first file done")
        term.keys("p")
        term.wait_for("p resumes")
        time.sleep(5)  # the user's pause (a step of the journey, not a measurement)
        assert "finished:" not in term.screen(), "the run waits while paused"
        term.keys("p")
        screen = term.wait_for("finished:", timeout=120)
        done, total = map(int, re.search(r"(\d+) done · 0 skipped · 0 failed · \d+ of (\d+) files",
                                         screen).groups())
        assert done == total, screen
        term.keys("q")
        assert term.wait_exit() == 0
    assert not [r for r in s3.requests if r.status == 416], "no range past a file's end"
    by_path = {local_path(data_dir, key): obj for key, obj in s3_objects.items()}
    fetched = [p for p in data_dir.rglob("*") if p.is_file() and ".laion_fmri" not in p.parts]
    assert len(fetched) == total and not [p for p in fetched if p.suffix == ".part"]
    for path in fetched:
        assert path.read_bytes() == by_path[path].data, path


def test_data_use_form_wrong_then_right_by_keys_then_the_images(tmp_path, s3, access, s3_objects, data_dir):
    """The stimulus images ask for the data-use form: typed with a bad email, submit is
    refused on the field (nothing sent); corrected, access is granted and the images
    download. Keys only: the form is filled as a user types it, tab by tab."""
    with Terminal.start(tmp_path / "term", server_args(s3, access, data_dir), size=(80, 23),
                        profile=XTERM_256) as term:
        term.wait_for("CC0", "Accept (a)")
        term.keys("a")
        term.wait_for("Stimuli", "Nothing selected")
        term.keys("End", "Right")
        term.wait_for("Stimulus images")
        term.keys("Down", "Space")
        term.wait_until(lambda s: "[x] Stimulus images" in s and selected_files(s), what="the images ticked")
        term.keys("d")
        term.wait_for("Download this selection?")
        term.keys("y")
        term.wait_for("data-use agreement", "Full name")
        for text in ("Ada Lovelace", "ada-at-uni", "Uni", "Prof. Babbage", "Decoding visual cortex responses."):
            term.type(text)
            term.wait_for(text)  # drawn in its field before tab moves on (on a loaded node a tab got lost)
            term.keys("Tab")
        term.keys("Space", "Tab", "Space", "C-s")  # both boxes ticked, then submit
        term.wait_for("not a valid email address", "Fix the 1 field")
        assert not [r for r in access.requests if r.path == "/api/v1/access/request"], "nothing sent"
        term.keys("C-a", "C-k")  # the refused field has the focus: clear it
        term.type("ada@uni-example.de")
        term.keys("C-s")
        term.wait_for("Access granted")
        assert len([r for r in access.requests if r.path == "/api/v1/access/request"]) == 1
        term.keys("Enter")
        term.wait_for("finished:", timeout=120)
        term.keys("q")
        assert term.wait_exit() == 0
    for name in ("task-images_stimuli.h5", "task-images_metadata.csv"):
        assert (data_dir / "stimuli" / name).read_bytes() == s3_objects[f"stimuli/{name}"].data, name
