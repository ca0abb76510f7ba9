"""Fixtures for the app: contexts pointed at the suite's loopback servers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from laion_fmri_tui.core.settings import EngineSettings, S3Settings
from laion_fmri_tui.tui.context import AppContext

SNAPSHOT_DATA_DIR = Path("/tmp/laion-fmri-tui-snapshots/data")
"""Snapshots show the data directory, so they use one fixed path."""


def make_context(s3, access, data_dir: Path | None) -> AppContext:
    return AppContext(
        data_dir=data_dir,
        s3=S3Settings(endpoint_url=s3.url),
        access_url=access.url,
        engine=EngineSettings(jobs=4, part_size=1024 * 1024, progress_interval=0.1),
    )


@pytest.fixture
def context(s3, access, licensed_data_dir) -> AppContext:
    """A context whose data directory exists and has the licence accepted."""
    return make_context(s3, access, licensed_data_dir)


@pytest.fixture
def fresh_context(s3, access) -> AppContext:
    """First run: no data directory configured yet."""
    return make_context(s3, access, None)


@pytest.fixture
def snapshot_data_dir() -> Path:
    """The fixed data directory for snapshots, empty and licensed."""
    shutil.rmtree(SNAPSHOT_DATA_DIR.parent, ignore_errors=True)
    (SNAPSHOT_DATA_DIR / ".laion_fmri").mkdir(parents=True)
    (SNAPSHOT_DATA_DIR / ".laion_fmri" / "license_accepted").touch()
    yield SNAPSHOT_DATA_DIR
    shutil.rmtree(SNAPSHOT_DATA_DIR.parent, ignore_errors=True)


@pytest.fixture
def snapshot_context(s3, access, snapshot_data_dir) -> AppContext:
    return make_context(s3, access, snapshot_data_dir)
