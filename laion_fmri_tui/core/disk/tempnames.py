"""Whose temp files are whose: per-process names, adopted and parked.

While a process fetches ``X`` it writes ``X.<token>.part`` and its resume
record ``X.<token>.part.json`` (token: :func:`.filelock.token`), so two
processes never write one temp file, even if both think they hold ``X``'s
lock. The :mod:`.partfile` functions are called with the *base*
``X.<token>`` in place of ``X``.

When a process stops without finishing ``X`` (a failure, Ctrl-C, SIGTERM),
it *parks* its temp files under the shared names ``X.part`` and
``X.part.json`` (the names the dataset package and earlier versions use)
before it releases the lock. A process killed outright cannot park: its lock
stays, names its token, and is stale. The next holder of the lock *adopts*
the killed holder's temp files, else the parked ones, by renaming them to
its own names, and resumes from them.

No temp file is ever opened or renamed through a symbolic link: a link at
one of these names (or at the final path) refuses the file with
:class:`~.filelock.UnsafePathError`. Nor is one with other hard links used
(:func:`linked_elsewhere`): it is discarded, and the file fetched afresh. Links to folders the user made are
followed (the containment rule of :mod:`laion_fmri_tui.core.plan.bids` is lexical).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from laion_fmri_tui.core.models import LocalState
from laion_fmri_tui.core.disk import filelock, partfile
from laion_fmri_tui.core.disk.filelock import Holder, UnsafePathError


def own_base(dest: Path) -> Path:
    """The base of this process's temp names for ``dest``."""
    return dest.with_name(f"{dest.name}.{filelock.token()}")


def _base_of(dest: Path, holder: Holder) -> Path:
    return dest.with_name(f"{dest.name}.{holder.token}")


def _regular(path: Path) -> bool:
    """Whether ``path`` is a regular file (False: nothing there); raises
    UnsafePathError for a symbolic link or anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(f"refusing {path}: it is a symbolic link; remove it and rerun")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(f"refusing {path}: it is not a regular file; remove it and rerun")
    return True


def current(dest: Path) -> Path:
    """The base of ``dest``'s temp files as they are now: the lock holder's
    (live, or killed before it could park), else the parked shared names."""
    holder, _ = filelock.holder_of(dest)
    if holder is not None and os.path.lexists(partfile.part_path(_base_of(dest, holder))):
        return _base_of(dest, holder)
    return dest


def final_size(dest: Path) -> int | None:
    """Size of the file at ``dest`` (None: none there); a symbolic link there
    is refused, never trusted: it could point anywhere."""
    try:
        info = os.lstat(dest)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(f"refusing {dest}: the file's path is a symbolic link (links to folders "
                              "are followed, links to files are not); replace it with the file or remove it")
    return info.st_size if stat.S_ISREG(info.st_mode) else None


ETAG_ATTR = "user.laion_fmri.etag"
"""Extended attribute a finished file carries: the ETag of the object its
bytes were checked against. A rerun whose listing gives another ETag (the
object was replaced on the server, even by one of the same size) fetches the
file again. Where the filesystem keeps no user attributes, a file has none
and the size alone decides, as for files the dataset package fetched."""


def mark_fetched(fd: int, etag: str) -> None:
    """Record ``etag`` on the open ``.part`` before its rename (best effort)."""
    if etag:
        try:
            os.setxattr(fd, ETAG_ATTR, etag.encode())
        except (OSError, AttributeError):  # no user xattrs here (or not Linux): the size decides
            pass


def fetched_etag(dest: Path) -> str | None:
    """The ETag recorded on the file at ``dest`` (None: none recorded)."""
    try:
        return os.getxattr(dest, ETAG_ATTR, follow_symlinks=False).decode(errors="replace")
    except (OSError, AttributeError):
        return None


def is_complete(dest: Path, size: int, etag: str) -> bool:
    """Whether the final file is the listed object's: its size, and no other
    recorded ETag. Raises UnsafePathError for a symbolic link there."""
    return final_size(dest) == size and fetched_etag(dest) in (None, etag)


def local_state(dest: Path, size: int, etag: str, *, has_sha256: bool = False) -> tuple[LocalState, int]:
    """:func:`.partfile.local_state` over these names: the final file, else the
    temp files a next holder of the lock would adopt. Raises UnsafePathError."""
    if is_complete(dest, size, etag):
        return LocalState.COMPLETE, size
    holder, _ = filelock.holder_of(dest)
    for base in ([_base_of(dest, holder)] if holder is not None else []) + [dest]:
        if _regular(partfile.part_path(base)):
            _regular(partfile.record_path(base))
            return partfile.local_state(base, size, etag, has_sha256=has_sha256)
    return LocalState.ABSENT, 0


def adopt(dest: Path, base: Path, previous: Holder | None) -> bool:
    """Rename the temp files of a killed holder (``previous``), else the parked
    ones, to this process's ``base``; True when there were some."""
    sources = [_base_of(dest, previous)] if previous is not None and previous.token else []
    for source in [*sources, dest]:
        if source == base:
            if _regular(partfile.part_path(base)):
                return True
            continue
        part, record = partfile.part_path(source), partfile.record_path(source)
        has_record = _regular(record)
        if not _regular(part):
            if has_record:
                _unlink(record)  # a record whose .part is gone describes nothing
            continue
        os.rename(part, partfile.part_path(base))
        if has_record:
            os.rename(record, partfile.record_path(base))
        return True
    return False


def linked_elsewhere(base: Path) -> str | None:
    """Why the temp files at ``base`` may not be used: one with other hard
    links (None: none has). A hard link planted at a temp name (on
    group-writable scratch anyone can make one to a file they can write)
    would make the run write into a file outside the data directory, and
    rename that file into it; such temp files are discarded (unlinking a
    name leaves the other file as it was) and the file is fetched afresh."""
    for path in (partfile.part_path(base), partfile.record_path(base)):
        try:
            links = os.lstat(path).st_nlink
        except FileNotFoundError:
            continue
        if links > 1:
            return f"{path.name} has {links} hard links (a file elsewhere could be written through it)"
    return None


def park(dest: Path, base: Path) -> None:
    """Give this process's temp files the shared names a next run adopts."""
    part = partfile.part_path(base)
    if not os.path.lexists(part):
        return
    _unlink(partfile.record_path(dest))  # first: a record never describes another .part
    os.replace(part, partfile.part_path(dest))  # a link there is replaced, never followed
    record = partfile.record_path(base)
    if os.path.lexists(record):
        os.replace(record, partfile.record_path(dest))
    _unlink(Path(str(record) + ".tmp"))


def clear_parked(dest: Path) -> None:
    """After ``dest`` took its final name: parked temp files of it are stale."""
    partfile.discard(dest)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
