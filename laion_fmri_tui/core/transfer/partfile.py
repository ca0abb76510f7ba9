"""``.part`` files and their resume records.

A file is written to ``<name>.part`` beside its final path and renamed only
after verification. Next to it, ``<name>.part.json`` records which object the
bytes belong to (size and ETag) and, for files fetched as parallel ranged
parts, which parts are on disk. A later run resumes from that record; when the
object changed (another ETag or size) the stale ``.part`` is discarded.
A ``.part`` with no record (for example one left by the dataset package's own
stimulus downloader, which writes sequentially) is resumed only when the file
carries a sha256 that will catch a wrong prefix.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from laion_fmri_tui.core.plan import LocalState


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


@dataclass
class PartRecord:
    """What a ``.part`` holds; ``chunk_size`` 0 means written front to back."""

    size: int
    etag: str
    chunk_size: int = 0
    chunks_done: list[int] = field(default_factory=list)

    def matches(self, size: int, etag: str) -> bool:
        return self.size == size and self.etag == etag

    def resumable_bytes(self, on_disk: int) -> int:
        """Bytes a resume may keep, given the ``.part``'s size on disk."""
        if not self.chunk_size:
            return min(on_disk, self.size)
        return sum(
            min(self.chunk_size, self.size - i * self.chunk_size) for i in set(self.chunks_done)
        )


def read_record(dest: Path) -> PartRecord | None:
    try:
        data = json.loads(record_path(dest).read_text())
        return PartRecord(
            size=int(data["size"]),
            etag=str(data["etag"]),
            chunk_size=int(data.get("chunk_size", 0)),
            chunks_done=[int(i) for i in data.get("chunks_done", [])],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(dest: Path, record: PartRecord, *, fresh: bool = False) -> None:
    """Atomically replace the resume record (a crash leaves the old or the new).

    ``fresh``: there is no record yet, so it is written in place; a torn first
    write is unreadable JSON, which :func:`read_record` treats as no record.
    """
    target = str(record_path(dest))
    data = json.dumps({"size": record.size, "etag": record.etag, "chunk_size": record.chunk_size,
                       "chunks_done": record.chunks_done}).encode()
    if fresh:
        _write(target, data, os.O_EXCL)
        return
    _write(target + ".tmp", data)
    os.replace(target + ".tmp", target)


def _write(path: str, data: bytes, flags: int = 0) -> None:
    """Never through a symbolic link (O_NOFOLLOW): temp names are per process
    (see :mod:`.tempnames`), so a link there was planted by someone else."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | flags, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def discard(dest: Path, *, part: bool = True, updated: bool = True) -> None:
    """Remove a ``.part`` (unless ``part`` is False: it was just renamed) and its
    record (and the record's ``.tmp``, which only updates write: ``updated``)."""
    record = str(record_path(dest))
    for path in ((str(part_path(dest)),) if part else ()) + (record,) + ((record + ".tmp",) if updated else ()):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def local_state(dest: Path, size: int, etag: str, *, has_sha256: bool = False) -> tuple[LocalState, int]:
    """Classify a planned file: complete (final file of the right size), partial
    (a resumable ``.part``, with the bytes it keeps) or absent.

    The complete test is the dataset package's own (size equality), so a data
    directory it filled is recognised; ``--verify`` checks content.
    """
    try:
        if dest.stat().st_size == size:
            return LocalState.COMPLETE, size
    except OSError:
        pass
    try:
        on_disk = part_path(dest).stat().st_size
    except OSError:
        return LocalState.ABSENT, 0
    record = read_record(dest)
    if record is not None and record.matches(size, etag):
        kept = record.resumable_bytes(on_disk)
    elif record is None and has_sha256 and on_disk < size:
        kept = on_disk
    else:
        kept = 0
    return (LocalState.PARTIAL, kept) if kept else (LocalState.ABSENT, 0)
