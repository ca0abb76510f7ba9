"""The one table of exit codes: what --help and the README say comes from it."""

from __future__ import annotations

import re
import subprocess

from batchtools import REPO, batch_command, batch_env

from laion_fmri_tui.batch.exit_codes import BY_CATEGORY, MEANINGS, ExitCode, readme_table
from laion_fmri_tui.core.errors import Category


def test_every_exit_code_is_in_the_batch_help() -> None:
    result = subprocess.run(batch_command("--help"), capture_output=True, text=True, env=batch_env(),
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = result.stdout[result.stdout.index("Exit codes:"):].split("\n\n")[0]
    for code in ExitCode:
        assert re.search(rf"(^|\s){int(code)} {re.escape(MEANINGS[code].short)}[,.]", listed), (code, listed)


def test_the_readme_table_is_the_one_table() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Exit codes"):]
    assert readme_table() in section, "regenerate the README's table from batch/exit_codes.py"
    rows = [int(m) for m in re.findall(r"^\| (\d+) \|", section.split("\n## ")[0], re.M)]
    assert rows == [int(code) for code in ExitCode], "one row per exit code, in order"


def test_every_error_category_has_an_exit_code() -> None:
    assert set(BY_CATEGORY) == set(Category)
    assert set(MEANINGS) == set(ExitCode)
