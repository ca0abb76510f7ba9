"""The stored stimulus request id, in the file the dataset package also reads.

Compatibility with ``laion_fmri``: it keeps ``{"server_url", "request_id",
"email", "saved_at"}`` in ``~/.cache/laion-fmri/auth.json`` (hyphen) and lets
``LAION_FMRI_REQUEST_ID`` override it. We resolve the folder with
platformdirs' XDG (``Unix``) resolver, as :mod:`~laion_fmri_tui.core.disk.datadir`
does, so it is that same file on every OS while honouring ``XDG_CACHE_HOME``.

The id is a bearer credential, so unlike upstream the file is private from
its first byte (created 0600 with ``O_EXCL``, then atomically renamed into a
0700 folder) and a crash never leaves a half-written ``auth.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from platformdirs.unix import Unix

from laion_fmri_tui.core.redact import register_secret

AUTH_APP = "laion-fmri"
AUTH_FILE = "auth.json"
ENV_REQUEST_ID = "LAION_FMRI_REQUEST_ID"


@dataclass(frozen=True)
class AuthRecord:
    """What ``auth.json`` holds; the id is left out of ``repr``."""

    request_id: str = field(repr=False)
    email: str | None
    server_url: str | None
    saved_at: str | None
    path: Path


def auth_path() -> Path:
    """``<XDG cache home>/laion-fmri/auth.json``."""
    return Unix(AUTH_APP).user_cache_path / AUTH_FILE


def env_request_id() -> str | None:
    """``LAION_FMRI_REQUEST_ID``, stripped, or None when unset or blank."""
    value = os.environ.get(ENV_REQUEST_ID, "").strip()
    if value:
        register_secret(value)
        return value
    return None


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def load_auth() -> AuthRecord | None:
    """The record in ``auth.json`` (not the env override); None if absent or unusable."""
    path = auth_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip():
        return None
    request_id = request_id.strip()
    register_secret(request_id)
    return AuthRecord(
        request_id=request_id,
        email=_optional_str(data.get("email")),
        server_url=_optional_str(data.get("server_url")),
        saved_at=_optional_str(data.get("saved_at")),
        path=path,
    )


def load_request_id() -> str | None:
    """The id to use: ``LAION_FMRI_REQUEST_ID`` first, then ``auth.json``."""
    from_env = env_request_id()
    if from_env is not None:
        return from_env
    record = load_auth()
    return record.request_id if record else None


def save_request_id(request_id: str, *, email: str | None, server_url: str) -> Path:
    """Store the id (0600, atomically) where the dataset package will find it."""
    if not isinstance(request_id, str) or not request_id.strip():
        raise ValueError("refusing to save an empty request id")
    request_id = request_id.strip()
    register_secret(request_id)
    path = auth_path()
    _private_dir(path.parent)
    record = {
        "server_url": server_url,
        "request_id": request_id,
        "email": email,
        "saved_at": datetime.now(timezone.utc).isoformat(),
    }
    data = (json.dumps(record, indent=2) + "\n").encode("utf-8")
    tmp = path.with_name(f".{AUTH_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):  # a strange umask must not loosen it either
                os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def clear_request_id() -> bool:
    """Delete ``auth.json``; True if there was one."""
    try:
        auth_path().unlink()
    except FileNotFoundError:
        return False
    return True


def _private_dir(folder: Path) -> None:
    """Create ``folder`` (and parents) and make the leaf owner-only."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # e.g. Windows, or a folder we do not own
        os.chmod(folder, 0o700)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where the OS allows syncing a directory."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
