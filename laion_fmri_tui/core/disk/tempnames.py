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
import re
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


def current(dest: Path, size: int | None = None, etag: str = "") -> Path:
    """The base of ``dest``'s temp files as they are now: the lock holder's
    (live, or killed before it could park), else the parked shared names,
    else the orphan that keeps most bytes of the object of ``size`` and
    ``etag`` (see :func:`orphans`; without ``size``, the largest)."""
    holder, _ = filelock.holder_of(dest)
    if holder is not None and os.path.lexists(partfile.part_path(_base_of(dest, holder))):
        return _base_of(dest, holder)
    if os.path.lexists(partfile.part_path(dest)):
        return dest
    return _best_orphan(dest, size, etag, exclude=holder) or dest


_TEMP = re.compile(r"(.+)\.([0-9a-f]{8})\.part")
"""A temp file's name as a process writes it: ``X.<token>.part`` (token:
eight hex digits, :func:`.filelock.token`)."""

def with_temp_files(names: frozenset[str] | set[str]) -> frozenset[str]:
    """The final names that have a process's temp file (``X.<token>.part``)
    among a folder's entries ``names``."""
    return frozenset(match[1] for name in names if (match := _TEMP.fullmatch(name)))


_listings: dict[str, tuple[int, dict[str, list[str]]]] = {}
"""Per folder: its mtime (ns) when listed, and the tokens of the temp files
in it, by final name. Listed again when the folder's mtime changes (a name
made or removed), so a plan of many files lists each folder once."""


_LEFT = re.compile(r"(.+)\.([0-9a-f]{8})\.part(?:\.json(?:\.tmp)?)?")
"""Any temp file of a process: ``X.<token>.part``, its record, the record's
``.tmp`` (a run killed outright may leave any of them without the others)."""


def _tokens(dest: Path) -> list[str]:
    """Tokens of the temp files of ``dest`` in its folder (see :data:`_listings`)."""
    folder = str(dest.parent)
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        return []
    listed = _listings.get(folder)
    if listed is None or listed[0] != stamp:
        tokens: dict[str, list[str]] = {}
        try:
            names = os.listdir(folder)
        except OSError:
            names = []
        for name in names:
            if match := _LEFT.fullmatch(name):
                found = tokens.setdefault(match[1], [])
                if match[2] not in found:
                    found.append(match[2])
        listed = (stamp, tokens)
        _listings[folder] = listed
    return sorted(listed[1].get(dest.name, ()))


def orphans(dest: Path, exclude: Holder | None = None) -> list[Path]:
    """Bases of ``dest``'s temp files of other processes' tokens
    (``X.<token>.part``, regular files), but this process's and
    ``exclude``'s (a lock's holder). Called once this process holds
    ``dest``'s lock, or when no live lock does, no process is writing them:
    they are left by a run killed outright whose lock was deleted (as the
    waiting line says to do for a run of a failed node), or taken over."""
    skip = {filelock.token(), exclude.token if exclude is not None else ""}
    found = []
    for token_ in _tokens(dest):
        base = dest.with_name(f"{dest.name}.{token_}")
        try:
            regular = token_ not in skip and stat.S_ISREG(os.lstat(partfile.part_path(base)).st_mode)
        except OSError:
            regular = False
        if regular:
            found.append(base)
    return found


def _best_orphan(dest: Path, size: int | None, etag: str, exclude: Holder | None = None,
                 has_sha256: bool = False) -> Path | None:
    """The orphan (see :func:`orphans`) that keeps most bytes of the object
    (of ``size`` and ``etag``; without ``size``, the largest ``.part``)."""
    def kept(base: Path) -> int:
        try:
            if size is None:
                return os.lstat(partfile.part_path(base)).st_size
            return partfile.kept_state(base, size, etag, has_sha256=has_sha256)[1]
        except OSError:
            return -1
    found = orphans(dest, exclude)
    return max(found, key=kept) if found else None


def final_size(dest: Path) -> int | None:
    """Size of the file at ``dest`` (None: none there); a symbolic link there
    is refused, never trusted: it could point anywhere; a folder (or anything
    but a regular file) is refused too, before a byte is fetched for it."""
    try:
        info = os.lstat(dest)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(f"refusing {dest}: the file's path is a symbolic link (links to folders "
                              "are followed, links to files are not); replace it with the file or remove it")
    if not stat.S_ISREG(info.st_mode):  # a folder there: the rename would fail after the whole download
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise UnsafePathError(f"refusing {dest}: the file's path is {what}; move it away and rerun")
    return info.st_size


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
            return partfile.kept_state(base, size, etag, has_sha256=has_sha256)
    orphan = _best_orphan(dest, size, etag, holder, has_sha256)
    if orphan is not None:
        return partfile.kept_state(orphan, size, etag, has_sha256=has_sha256)
    return LocalState.ABSENT, 0


def adopt(dest: Path, base: Path, previous: Holder | None, size: int | None = None, etag: str = "",
          has_sha256: bool = False) -> bool:
    """Rename the temp files of a killed holder (``previous``), else the
    parked ones, else the orphan that keeps most bytes of the object of
    ``size`` and ``etag`` (see :func:`orphans`), to this process's ``base``;
    True when there were some. Call it holding ``dest``'s lock: the orphans
    not adopted are removed (no run resumes from them any more)."""
    left = orphans(dest, previous)
    best = _best_orphan(dest, size, etag, previous, has_sha256) if left else None
    sources = [_base_of(dest, previous)] if previous is not None and previous.token else []
    taken = None
    for source in [*sources, dest, *([best] if best is not None else [])]:
        if source == base:
            if _regular(partfile.part_path(base)):
                taken = source
                break
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
        taken = source
        break
    for orphan in left:
        if orphan != taken:
            partfile.discard(orphan)
    return taken is not None


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
    """After ``dest`` took its final name: its parked temp files are stale,
    and so are those other runs left (``X.<token>.part`` without a record,
    a record without its ``.part``, a record's ``.tmp``: a run killed
    outright, one whose lock was taken over). Call it holding ``dest``'s
    lock; the temp files of the holder of a live lock that took its place
    (a takeover of a run thought gone) stay, and this process's own."""
    partfile.discard(dest)
    holder, alive = filelock.holder_of(dest)
    keep = {filelock.token(), holder.token if holder is not None and alive and not holder.mine else ""}
    for token_ in _tokens(dest):
        if token_ not in keep:
            partfile.discard(dest.with_name(f"{dest.name}.{token_}"))


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
