"""The README's "On a cluster" section shows the script the tool writes: its
command is run here (against the local S3) and the script compared line by line."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from batchtools import REPO, batch_env

USER_HOME = "/home/ada"
USER_PROGRAM = "/home/ada/venv/bin/laion-fmri-tui"


def _blocks_after(marker: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    rest = text[text.index(marker):]
    return re.findall(r"^```\n(.*?)^```$", rest, flags=re.S | re.M)


def test_the_readme_script_is_what_the_readme_command_writes(s3, data_dir, tmp_path):
    command, script, *_ = _blocks_after("**Large pulls: a SLURM job array.**")
    emit = shlex.split(command.split("\nsbatch ")[0].replace("\\\n", " "))
    assert emit[:2] == ["laion-fmri-tui", "--batch"] and "~/laion.sh" in emit
    emit = [str(data_dir) if arg == "/scratch/laion" else arg for arg in emit]
    program = str(Path(sys.executable).parent / "laion-fmri-tui")
    result = subprocess.run([program, *emit[1:], "--endpoint-url", s3.url], capture_output=True, text=True,
                            env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stderr
    home = os.environ["HOME"]
    written = (Path(home) / "laion.sh").read_text()
    shown = (written.replace(f" --endpoint-url {s3.url}", "").replace(program, USER_PROGRAM)
             .replace(home, USER_HOME))
    shown = re.sub(r"\(\d+ files, [^)]+\)\. Every", "(<files> files, <size>). Every", shown)
    assert shown == script
    assert (Path(home) / "laion.verify.sh").exists()
