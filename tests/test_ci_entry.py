"""``.ci/run``: what a CI runner gets, whatever its own environment says.

The script is run for real on a copy of the repository whose README test
command only prints the environment; ``apt-get`` is left off ``PATH`` so the
package step is skipped, as on a runner without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("bash", "sed", "grep", "head", "rm", "id", "dirname", "env")


def test_ci_run_sets_ci_so_a_missing_tool_fails_instead_of_skipping(tmp_path: Path) -> None:
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text(
        "<!-- test-command -->\n```\nenv\n```\n<!-- /test-command -->\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PATH": str(bin_dir)}
    done = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "CI=true" in done.stdout.splitlines()
