"""One lock file per file being fetched, so runs sharing a data directory
(the same SLURM script started twice, the app and a batch job) do not fetch
one file twice at once.

``flock``/``fcntl`` locks are not trusted: on NFS and Lustre they are
per-mount options, may be silently local, or may be lost with a client.
Instead ``<name>.lock`` is made beside the file with ``O_CREAT | O_EXCL``
(atomic on NFSv3+ and Lustre) and holds the holder's host, pid, time and
token. A lock is *stale*, and is taken over, when its holder is a dead
process on this host, or when it was not refreshed (the holder touches it
every :data:`REFRESH_EVERY` seconds) for :data:`STALE_AFTER` seconds, which is
the only rule that works for a holder on another node (clocks of the nodes
must agree within minutes; the limit is far above NFS attribute caching).

The lock is an economy, not what keeps files correct: every process writes
its own temp names (:func:`token` is in them), checks every byte and renames
atomically, so two processes that both believe they hold a lock (a takeover
of a holder that was only suspended) still leave a correct file.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from laion_fmri_tui.core.errors import LaionFmriError

STALE_AFTER = 600.0
"""Seconds without a refresh after which a lock of another host is stale."""

REFRESH_EVERY = 60.0
"""Seconds between the holder's refreshes of its locks."""

_token: tuple[int, str] | None = None


def token() -> str:
    """This process's token: in its lock files and its temp file names.

    Eight hex digits of randomness (short: file names of the dataset are
    long already), made again in a forked child."""
    global _token
    if _token is None or _token[0] != os.getpid():
        _token = (os.getpid(), secrets.token_hex(4))
    return _token[1]


def host() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:64] or "unknown"


def lock_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".lock")


class UnsafePathError(LaionFmriError):
    """A path the tool must write is a symbolic link (or not a regular file):
    that one file is refused (the run fails it and goes on)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its file says."""

    host: str
    pid: int
    time: float
    token: str

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"

    @property
    def mine(self) -> bool:
        return self.token == token() and self.host == host() and self.pid == os.getpid()


@dataclass(frozen=True)
class Claim:
    """The outcome of :func:`acquire`: ``busy`` names a live holder (the lock
    is not ours); otherwise the lock is ours and ``previous`` is the stale
    holder it was taken from (its temp files may be adopted), if any."""

    busy: Holder | None = None
    previous: Holder | None = None


def acquire(dest: Path) -> Claim:
    """Take ``dest``'s lock, taking over a stale one; raises UnsafePathError
    when the lock's path is a symbolic link."""
    path = lock_path(dest)
    previous: Holder | None = None
    for _ in range(8):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            holder, age = _read(path)
            if holder is not None and holder.mine:
                return Claim(previous=holder)  # left by this process's earlier run (the app's retry)
            if not _stale(holder, age):
                return Claim(busy=holder or Holder("?", 0, 0.0, ""))
            if _take_over(path, holder):
                previous = holder
            continue
        try:
            os.write(fd, json.dumps({"host": host(), "pid": os.getpid(), "time": time.time(),
                                     "token": token()}).encode())
        finally:
            os.close(fd)
        return Claim(previous=previous)
    holder, _ = _read(path)
    return Claim(busy=holder or Holder("?", 0, 0.0, ""))


def release(dest: Path) -> None:
    """Remove ``dest``'s lock if it is still this process's."""
    path = lock_path(dest)
    holder, _ = _read(path, strict=False)
    if holder is not None and holder.mine:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def refresh(dests: list[Path]) -> None:
    """Touch the locks of the files this process is fetching (see :data:`STALE_AFTER`)."""
    for dest in dests:
        try:
            os.utime(lock_path(dest), follow_symlinks=False)
        except OSError:
            pass  # gone (taken over): the temp names keep the two runs apart


def holder_of(dest: Path) -> tuple[Holder | None, bool]:
    """The holder named in ``dest``'s lock, if any, and whether it is alive."""
    holder, age = _read(lock_path(dest), strict=False)
    if holder is None:
        return None, False
    return holder, holder.mine or not _stale(holder, age)


def _read(path: Path, strict: bool = True) -> tuple[Holder | None, float]:
    """The lock's holder (None: gone, empty or torn) and its age in seconds."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None, 0.0
    except OSError as error:
        if error.errno == errno.ELOOP:
            if strict:
                raise UnsafePathError(f"refusing {path}: it is a symbolic link; remove it and rerun") from None
            return None, 0.0
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"refusing {path}: it is not a regular file; remove it and rerun")
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    age = time.time() - info.st_mtime
    try:
        raw = json.loads(data)
        holder = Holder(str(raw["host"]), int(raw["pid"]), float(raw["time"]), str(raw["token"]))
    except (ValueError, KeyError, TypeError):
        return None, age  # being written right now, or torn by a crash: judged by its age
    return holder, min(age, time.time() - holder.time)


def _stale(holder: Holder | None, age: float) -> bool:
    if holder is not None and holder.host == host() and holder.pid != os.getpid() and not _alive(holder.pid):
        return True
    return age > STALE_AFTER


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take_over(path: Path, judged: Holder | None) -> bool:
    """Move a stale lock aside (atomic: one taker wins) and check it was the
    one judged stale; a fresh lock moved by mistake is put back. True when
    the stale lock was removed by this call."""
    aside = path.with_name(f"{path.name}.{token()}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False  # another process took it over first
    moved, _ = _read(aside, strict=False)
    if moved != judged:
        try:
            os.link(aside, path)  # put it back, unless a newer one took its place
        except OSError:
            pass
        os.unlink(aside)
        return False
    os.unlink(aside)
    return True
