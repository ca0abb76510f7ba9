"""Fixtures shared by the core tests."""

from __future__ import annotations

import pytest

from laion_fmri_tui.core.integrity import md5_steps


@pytest.fixture(params=["simd", "hashlib"])
def lanes(request, monkeypatch) -> str:
    """Every check runs with the compiled lanes and with hashlib alone (no compiler at install)."""
    if request.param == "simd":
        assert md5_steps.NATIVE, "the _md5lanes extension was not built (see hatch_build.py)"
    else:
        monkeypatch.setattr(md5_steps, "NATIVE", False)
    return request.param
