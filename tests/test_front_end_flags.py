"""The flags the app and --batch share are defined once: same checks, same line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRONT_ENDS = {"app": [], "batch": ["--batch", "--subject", "01"]}


def run(front_end: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI as a subprocess, stdin not a terminal (a bad flag is refused before that matters)."""
    return subprocess.run([sys.executable, "-m", "laion_fmri_tui", *FRONT_ENDS[front_end], *args],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def refusal(result: subprocess.CompletedProcess) -> str:
    """The one line of a refused flag, without where it points for help."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line.rpartition(" (see ")[0]


@pytest.mark.parametrize(("args", "expected"), [
    (("--n-jobs", "0"), "argument --n-jobs/--jobs: must be between 1 and 256 (got 0)"),
    (("--n-jobs", "300"), "argument --n-jobs/--jobs: must be between 1 and 256 (got 300)"),
    (("--jobs", "many"), "argument --n-jobs/--jobs: must be a whole number from 1 to 256 (got 'many')"),
    (("--max-bandwidth", "fast"), "argument --max-bandwidth: "),
    (("--retry-for", "soon"), "argument --retry-for: 'soon' is not a time"),
])
def test_the_app_and_batch_refuse_a_bad_value_with_the_same_line(args, expected) -> None:
    app, batch = (refusal(run(front_end, *args)) for front_end in ("app", "batch"))
    assert app == batch
    assert app.startswith(f"laion-fmri-tui: error: {expected}"), app


def test_each_front_end_points_to_its_own_help() -> None:
    assert run("app", "--n-jobs", "0").stderr.rstrip().endswith("(see laion-fmri-tui --help)")
    assert run("batch", "--n-jobs", "0").stderr.rstrip().endswith("(see laion-fmri-tui --batch --help)")
