"""Counts in ``--batch`` output read as English: ``1 file``, ``2 files``."""

from __future__ import annotations

import re


def test_a_one_file_plan_says_1_file(run_batch, data_dir):
    result = run_batch("--batch", "--include-captions", "--data-dir", str(data_dir), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "1 file," in result.stdout and "1 files" not in result.stdout


def test_a_one_file_run_and_verify_say_1_file(run_batch, data_dir):
    args = ("--batch", "--include-captions", "--data-dir", str(data_dir), "--accept-license")
    for extra in ((), ("--verify",), ()):  # fetch, verify, then a rerun that skips it
        result = run_batch(*args, *extra)
        assert result.returncode == 0, result.stderr
        text = result.stdout + result.stderr
        assert not re.search(r"\b1 (files|tasks|keys)\b", text), text
    assert "skipped 1 file already complete" in text
