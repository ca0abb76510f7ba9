"""auth.json: the dataset package's file, private from its first byte, replaced atomically."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from laion_fmri_tui.core.access import auth
from laion_fmri_tui.core.redact import redact

RID = "lfm_Q2hhbmdlTWVQbGVhc2VJdHNBVGVzdElkZW50aWZpZXI"
SERVER = "https://laion-fmri.hebartlab.com"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask():
    """A umask that would leave files world-readable if we relied on it."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_location_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    assert auth.auth_path() == tmp_path / "xdg-cache" / "laion-fmri" / "auth.json"


def test_location_defaults_to_dot_cache_like_the_dataset_package(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert auth.auth_path() == tmp_path / ".cache" / "laion-fmri" / "auth.json"


def test_save_writes_the_upstream_fields(loose_umask):
    path = auth.save_request_id(RID, email="jane@uni.de", server_url=SERVER)
    assert path == auth.auth_path()
    text = path.read_text()
    data = json.loads(text)
    assert set(data) == {"server_url", "request_id", "email", "saved_at"}
    assert data["request_id"] == RID and data["email"] == "jane@uni.de" and data["server_url"] == SERVER
    saved = datetime.fromisoformat(data["saved_at"])
    assert data["saved_at"].endswith("+00:00") and saved.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - saved).total_seconds()) < 60
    assert text.startswith('{\n  "server_url"')  # indent 2, like upstream
    record = auth.load_auth()
    assert (record.request_id, record.email, record.server_url, record.path) == (RID, "jane@uni.de", SERVER, path)
    assert RID not in repr(record)


def test_file_is_0600_and_folder_0700_whatever_the_umask(loose_umask):
    path = auth.save_request_id(RID, email=None, server_url=SERVER)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


def test_existing_loose_folder_is_tightened(loose_umask):
    folder = auth.auth_path().parent
    folder.mkdir(parents=True, mode=0o755)
    os.chmod(folder, 0o755)
    auth.save_request_id(RID, email=None, server_url=SERVER)
    assert mode(folder) == 0o700


def test_never_readable_by_others_even_while_being_written(loose_umask, monkeypatch):
    modes: list[int] = []
    real_write = os.write

    def spy(fd: int, data) -> int:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    auth.save_request_id(RID, email=None, server_url=SERVER)
    assert modes and set(modes) == {0o600}


def test_save_leaves_no_temp_file_and_replaces_the_old_one():
    auth.save_request_id("lfm_first_identifier_0001", email=None, server_url=SERVER)
    path = auth.save_request_id(RID, email="jane@uni.de", server_url=SERVER)
    assert sorted(p.name for p in path.parent.iterdir()) == ["auth.json"]
    assert auth.load_request_id() == RID


def test_a_failed_save_keeps_the_previous_file_intact(monkeypatch):
    path = auth.save_request_id("lfm_first_identifier_0001", email=None, server_url=SERVER)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        auth.save_request_id(RID, email=None, server_url=SERVER)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["auth.json"]


def test_empty_id_is_refused():
    with pytest.raises(ValueError):
        auth.save_request_id("  ", email=None, server_url=SERVER)
    assert not auth.auth_path().exists()


def test_env_var_wins_over_the_file(monkeypatch):
    auth.save_request_id(RID, email=None, server_url=SERVER)
    monkeypatch.setenv("LAION_FMRI_REQUEST_ID", "  lfm_from_the_environment_42 \n")
    assert auth.load_request_id() == "lfm_from_the_environment_42"
    monkeypatch.setenv("LAION_FMRI_REQUEST_ID", "   ")
    assert auth.load_request_id() == RID  # blank env var is ignored


def test_no_file_no_id():
    assert auth.load_request_id() is None
    assert auth.load_auth() is None


@pytest.mark.parametrize("content", [
    "{not json", "[]", '"lfm_x"', "{}", '{"request_id": 42}', '{"request_id": ""}', '{"request_id": "   "}',
    '{"request_id": null}',
])
def test_unusable_files_mean_no_id(content):
    path = auth.auth_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    assert auth.load_request_id() is None


def test_unreadable_file_means_no_id():
    path = auth.auth_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir()  # a directory where the file should be: reading fails with OSError
    assert auth.load_request_id() is None


def test_file_written_by_the_dataset_package_is_read(tmp_path):
    path = auth.auth_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"server_url": SERVER, "request_id": "opaque-id-without-prefix-123",
                                "email": None, "saved_at": "2026-05-12T10:00:00.123456+00:00"}, indent=2))
    record = auth.load_auth()
    assert record.request_id == "opaque-id-without-prefix-123" and record.email is None
    # once seen, the id is scrubbed from any text even without the lfm_ prefix
    assert "opaque-id-without-prefix-123" not in redact("id=opaque-id-without-prefix-123 failed")


def test_clear_reports_whether_there_was_a_file():
    assert auth.clear_request_id() is False
    auth.save_request_id(RID, email=None, server_url=SERVER)
    assert auth.clear_request_id() is True
    assert not auth.auth_path().exists()
    assert auth.load_request_id() is None
