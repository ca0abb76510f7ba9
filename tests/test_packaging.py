"""A non-editable install carries the stylesheets from the top-level ``styles/`` and the
compiled MD5 lanes."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_styles_and_an_install_finds_them_from_any_directory(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel = next(wheels.glob("laion_fmri_tui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("laion_fmri_tui/styles/")}
    assert shipped == {p.name for p in (REPO / "styles").glob("*.tcss")} and shipped
    assert any(n.startswith("laion_fmri_tui/core/integrity/_md5lanes") and n.endswith(".so") for n in names), \
        "the SIMD MD5 extension is built into the wheel (hatch_build.py)"

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = subprocess.run(
        [sys.executable, "-I", "-c",
         f"import sys; sys.path.insert(0, {str(target)!r}); "
         "from laion_fmri_tui.styles import stylesheet; print(stylesheet('app.tcss')); "
         "from laion_fmri_tui.core.integrity import md5_steps; assert md5_steps.NATIVE"],
        capture_output=True, text=True, cwd=elsewhere, check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(target)
