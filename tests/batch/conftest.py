"""Fixtures for the batch CLI tests."""

from __future__ import annotations

import subprocess

import pytest
from batchtools import batch_command, batch_env


@pytest.fixture
def run_batch(s3):
    """Run the batch CLI against the local S3 server; returns CompletedProcess."""

    def run(*args: str, endpoint: bool = True, timeout: float = 120, **env: str):
        extra = ["--endpoint-url", s3.url] if endpoint else []
        return subprocess.run(
            batch_command(*args, *extra), capture_output=True, text=True,
            stdin=subprocess.DEVNULL, env=batch_env(**env), timeout=timeout,
        )

    return run
