"""Shared fixtures: an isolated environment, the local S3 server, data dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # moto is only imported when a test asks for the server
    from laion_fmri_tui.devserver.access import AccessService
    from laion_fmri_tui.devserver.s3server import LocalS3Server
    from laion_fmri_tui.devserver.synthetic import SyntheticObject


# ---- running in parallel -----------------------------------------------------

for _size in ("COLUMNS", "LINES"):
    # pytest-xdist's workers export COLUMNS=80 and LINES=24; Textual sizes itself from
    # them before asking the terminal, so every app started in a 120x40 tmux pane drew
    # at 80x24 (16 journeys failed on the workers, none in one process).
    os.environ.pop(_size, None)

ONE_WORKER = {
    "slurm_cluster": "slurm-lab",
    "snapshot_data_dir": "snapshot-data-dir",
}
"""Fixture -> xdist group: what a fixture holds exists once per machine, so every test
that uses it runs on one worker of ``pytest -n N --dist loadgroup`` (the README's test
command). ``slurm_cluster``: one lab cluster is started, not one per worker, and its one
node is not shared by two workers' jobs. ``snapshot_data_dir``: a fixed path under /tmp,
because the screenshots show it. Everything else is per test (``tmp_path``, HOME, tmux
sockets, free ports) or per worker (the session's S3 and access servers)."""


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks to route the tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, group in ONE_WORKER.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                break
        else:
            if getattr(getattr(item, "module", None), "Terminal", None) is not None:
                item.add_marker(pytest.mark.xdist_group(TERMINAL_GROUP))


TERMINAL_GROUP = "terminal"
"""Tests that drive the installed app in tmux (``tests/tui/terminal.py``'s
``Terminal``) run one at a time on one worker: each starts the app, an engine
process and a server, and waits for screens with 30 s bounds; one at a time
keeps several such apps from sharing the 2 cores (a precaution: the failures
first blamed on it came from the workers' COLUMNS and LINES, see above)."""


# ---- environment -------------------------------------------------------------

_NETWORK_ENV = frozenset(
    case(name) for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ssl_cert_file",
                            "ssl_cert_dir", "requests_ca_bundle") for case in (str.lower, str.upper))
"""Proxy and CA settings of the machine running the suite: every test talks to 127.0.0.1."""

@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real home, XDG dirs and AWS set-up.

    AWS_PROFILE names a missing profile and AWS_CONFIG_FILE holds garbage, so
    any code path that reads the user's AWS configuration fails loudly.
    """
    home = tmp_path / "home"
    for name, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"),
                      ("XDG_CACHE_HOME", ".cache"), ("XDG_DATA_HOME", ".local/share")):
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(path))
    for name in list(os.environ):
        if name.startswith(("AWS_", "LAION_FMRI_")) or name in _NETWORK_ENV:
            monkeypatch.delenv(name)
    garbage = tmp_path / "aws-config-garbage"
    garbage.write_text("this is [not an ini file\n= = =\n[profile\n")
    monkeypatch.setenv("AWS_PROFILE", "laion-fmri-tui-tests-no-such-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(garbage))


# ---- local S3 ----------------------------------------------------------------

@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3Server]:
    """moto on 127.0.0.1 holding the synthetic LAION-fMRI bucket (one per session)."""
    from laion_fmri_tui.devserver.s3server import LocalS3Server, seed

    server = LocalS3Server().start()
    try:
        seed(server)
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: LocalS3Server) -> Iterator[LocalS3Server]:
    """The session server with an empty request log and no throttles or faults."""
    s3_server.reset()
    yield s3_server
    s3_server.reset()


@pytest.fixture
def s3_objects(s3_server: LocalS3Server) -> dict[str, SyntheticObject]:
    """What the bucket holds: key -> SyntheticObject (data, public, multipart)."""
    return dict(s3_server.objects)


# ---- data directories -------------------------------------------------------

@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An existing, empty data directory."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def licensed_data_dir(data_dir: Path) -> Path:
    """A data directory whose CC0 licence was already accepted."""
    marker = data_dir / ".laion_fmri" / "license_accepted"
    marker.parent.mkdir(parents=True)
    marker.touch()
    return data_dir


# ---- local stimulus access service -----------------------------------------

@pytest.fixture(scope="session")
def access_service_server(s3_server: LocalS3Server) -> Iterator[AccessService]:
    """The reference access service on 127.0.0.1, backed by the session's local S3."""
    from laion_fmri_tui.devserver.access import AccessService

    service = AccessService(s3_server).start()
    s3_server.clear_log()  # start() read the gated objects; keep that out of the first test's log
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def access(access_service_server: AccessService) -> Iterator[AccessService]:
    """The session access service with default terms/TTL, no knobs and an empty log."""
    access_service_server.reset()
    yield access_service_server
    access_service_server.reset()
