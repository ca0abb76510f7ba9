"""``.part`` files and their resume records.

A file is written to ``<name>.part`` beside its final path and renamed only
after verification. Next to it, ``<name>.part.json`` records which object the
bytes belong to (size and ETag) and, for files fetched as parallel ranged
parts, how many bytes of each part are on disk (its *extent*: a part arrives
in order), kept current while the bytes land (see :class:`ExtentWriter`). A
later run asks only for the bytes past each extent, in the record's parts
(whatever part size it was given). When the object changed (another ETag or
size: :func:`dropped_because`) the stale ``.part`` is discarded, and so is a
record whose numbers cannot be right (:class:`BadRecord`) or that claims
bytes the ``.part`` lacks (:func:`missing_bytes`); the run says why in one line.
A ``.part`` with no record (a small file, for which none is written, or one
left by the dataset package's own stimulus downloader, which writes
sequentially) is resumed only when the file carries a sha256 or a plain-MD5
ETag, which the whole file, a wrong prefix included, must match.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from laion_fmri_tui.core.models import RemoteObject
from laion_fmri_tui.core.models import LocalState


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


EXTENT_WIDTH = 15
"""Characters of each extent in a record: every one sits at a fixed offset, so
a running job rewrites it in place (:class:`ExtentWriter`) and the record
stays valid JSON between updates (numbers padded with spaces, up to 1 PB)."""


class BadRecord(ValueError):
    """A resume record that cannot describe the ``.part`` beside it (edited,
    torn by a crash, or written for another layout): it is discarded."""


@dataclass
class PartRecord:
    """What a ``.part`` holds; ``chunk_size`` 0 means written front to back.

    ``extents[i]`` is how many bytes of ranged part ``i``, from its first one,
    are in the ``.part`` (a part is fetched in order, so they are contiguous);
    a resume asks only for the rest of each part. A sequential file has none:
    its size on disk is its extent."""

    size: int
    etag: str
    chunk_size: int = 0
    extents: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.chunk_size and not self.extents:
            self.extents = [0] * self.parts

    @classmethod
    def with_parts(cls, size: int, etag: str, chunk_size: int, done: list[int] | set[int]) -> PartRecord:
        """A record whose parts ``done`` are all on disk and the others not begun."""
        record = cls(size, etag, chunk_size)
        for index in done:
            record.extents[index] = record.part_length(index)
        return record

    @property
    def parts(self) -> int:
        return -(-self.size // self.chunk_size) if self.chunk_size else 0

    def part_length(self, index: int) -> int:
        return min(self.chunk_size, self.size - index * self.chunk_size)

    @property
    def chunks_done(self) -> list[int]:
        """The parts whose every byte is on disk."""
        return [i for i, kept in enumerate(self.extents) if kept == self.part_length(i)]

    def matches(self, size: int, etag: str) -> bool:
        return self.size == size and self.etag == etag

    def resumable_bytes(self, on_disk: int) -> int:
        """Bytes a resume may keep, given the ``.part``'s size on disk (and
        that :func:`missing_bytes` found none of its claims false)."""
        if not self.chunk_size:
            return min(on_disk, self.size)
        return sum(self.extents)

    def check(self) -> None:
        """Raise :class:`BadRecord` unless every number can describe a ``.part``."""
        if self.size < 0 or self.chunk_size < 0 or (self.chunk_size and self.chunk_size >= self.size):
            raise BadRecord(f"size {self.size} in parts of {self.chunk_size}")
        if 0 < self.chunk_size < MIN_CHUNK:
            raise BadRecord(f"parts of {self.chunk_size} bytes, fewer than {MIN_CHUNK}")
        if len(self.extents) != self.parts:
            raise BadRecord(f"{len(self.extents)} extents for {self.parts} parts")
        for index, kept in enumerate(self.extents):
            if not 0 <= kept <= self.part_length(index):
                raise BadRecord(f"part {index} claims {kept} bytes of {self.part_length(index)}")

    def claims(self, on_disk: int) -> list[tuple[int, int, str]]:
        """The byte ranges (start, end) this record says the ``.part`` holds,
        each with what it calls them (a part, or the bytes of a sequential one)."""
        if not self.chunk_size:
            return [(0, min(on_disk, self.size), "its first bytes")] if on_disk and self.size else []
        return [(i * self.chunk_size, i * self.chunk_size + kept, f"part {i}")
                for i, kept in enumerate(self.extents) if kept]

    def in_parts(self, chunk_size: int, on_disk: int) -> PartRecord:
        """This sequential record's ``on_disk`` first bytes as the extents of
        parts of ``chunk_size``: a run that fetches the file in parts keeps them all."""
        assert not self.chunk_size and chunk_size > 0
        record = PartRecord(self.size, self.etag, chunk_size)
        kept = min(on_disk, self.size)
        record.extents = [max(0, min(kept - i * chunk_size, record.part_length(i))) for i in range(record.parts)]
        return record

    def encode(self) -> tuple[bytes, int]:
        """The record as JSON, and the offset of its first extent (see :data:`EXTENT_WIDTH`)."""
        head = (f'{{"size": {self.size}, "etag": {json.dumps(self.etag)}, '
                f'"chunk_size": {self.chunk_size}, "extents": [')
        body = ",".join(f"{kept:{EXTENT_WIDTH}d}" for kept in self.extents)
        return (head + body + "]}\n").encode(), len(head.encode())


def read_record(dest: Path) -> PartRecord | None:
    """The record beside ``dest``'s ``.part``; None when there is none (or it
    cannot be read); :class:`BadRecord` when it holds numbers that cannot be
    right (a record of the older ``chunks_done`` form is read as extents)."""
    text = _read_small(record_path(dest))
    if text is None:
        return None
    try:
        data = json.loads(text)
        record = PartRecord(size=_int(data["size"]), etag=str(data["etag"]),
                            chunk_size=_int(data.get("chunk_size", 0)))
        if "extents" in data:
            record.extents = [_int(kept) for kept in data["extents"]]
        else:
            done = [_int(i) for i in data.get("chunks_done", [])]
            if any(not 0 <= i < record.parts for i in done):
                raise BadRecord(f"finished parts {done[:4]} of {record.parts}")
            record = PartRecord.with_parts(record.size, record.etag, record.chunk_size, done)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BadRecord(str(error) or type(error).__name__) from None
    record.check()
    return record


def _read_small(path: Path) -> str | None:
    """A record's text; None unless it is a regular file (never followed
    through a symbolic link) of at most :data:`RECORD_AT_MOST` bytes. Opened
    without blocking: a FIFO planted at a record's name would block the open
    (and a ``--dry-run`` with it), a link to ``/dev/zero`` be read without end."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > RECORD_AT_MOST:
            return None
        data = os.read(fd, RECORD_AT_MOST + 1)
        while len(data) <= RECORD_AT_MOST and (more := os.read(fd, RECORD_AT_MOST + 1 - len(data))):
            data += more
        return data.decode() if len(data) <= RECORD_AT_MOST else None
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)


RECORD_AT_MOST = 64 * 1024 * 1024
"""Largest record read: 16 bytes an extent, so about four million parts (a
4 TB file in parts of 1 MiB); a larger one is unreadable, as a torn one."""


MIN_CHUNK = 64 * 1024
"""Smallest part a record may name (``--part-size`` is at least 256K): a
resume follows its record's parts, and one of a few bytes would make a
request of every few bytes."""


def missing_bytes(dest: Path, record: PartRecord, on_disk: int) -> str | None:
    """Why the ``.part`` beside ``dest`` lacks bytes ``record`` claims, or None.

    A claim past the ``.part``'s end (it was truncated), or over a hole (a
    sparse ``.part``: truncated, then extended; a node crash on a filesystem
    that allocates late) cannot be true, and the record is then never used:
    kept bytes are hashed only once the file is whole, so trusting it would
    fail the file after fetching the rest. Holes are found with
    ``SEEK_HOLE``; where the filesystem does not report them, every byte
    below the end counts as data (a filesystem that turns zeros into holes,
    such as ZFS with compression, may cost a resume, never a wrong file)."""
    claims = record.claims(on_disk)
    for _start, end, what in claims:
        if end > on_disk:
            return f"{what} claims bytes up to {end}, the .part has {on_disk}"
    if not claims:
        return None
    try:
        fd = os.open(part_path(dest), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None  # the caller's own open says what is wrong
    try:
        for start, end, what in claims:
            hole = os.lseek(fd, start, os.SEEK_HOLE)
            if hole < end:
                return f"{what} claims bytes {start}-{end - 1}, the .part has a hole at byte {hole}"
    except OSError:  # no SEEK_HOLE here
        return None
    finally:
        os.close(fd)
    return None


def dropped_because(record: PartRecord, size: int, etag: str) -> str | None:
    """Why a well-formed record's bytes belong to another object than the
    listed one (``size``, ``etag``), or None."""
    if record.etag != etag:
        return f"the object changed in the bucket (ETag {etag} now, {record.etag} when its bytes were kept)"
    if record.size != size:
        return f"the object changed in the bucket ({size} bytes now, {record.size} when its bytes were kept)"
    return None


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord(f"{value!r} is not a whole number")
    return value


def write_record(dest: Path, record: PartRecord, *, fresh: bool = False) -> int:
    """Atomically replace the resume record (a crash leaves the old or the new);
    return the offset of its first extent in the file (see :func:`begin_record`)."""
    fd, offset = begin_record(dest, record, fresh=fresh)
    os.close(fd)
    return offset


def begin_record(dest: Path, record: PartRecord, *, fresh: bool = False) -> tuple[int, int]:
    """Write the resume record; return its open descriptor (the caller closes
    it) and the offset of its first extent. :class:`ExtentWriter` writes
    through that descriptor: the record is never opened again by its name,
    where a file planted since could stand.

    ``fresh``: there is no record yet, so it is written in place; a torn first
    write is unreadable JSON, which :func:`read_record` treats as no record.
    Otherwise it is written to ``.tmp`` and renamed over the old one (a crash
    leaves the old or the new). Whatever is at the ``.tmp`` name is removed
    first and never opened: a hard link planted there (its token is in the
    run's lock) would make the outside file the record.
    """
    target = str(record_path(dest))
    data, offset = record.encode()
    if fresh:
        return _write(target, data), offset
    fd = _write(target + ".tmp", data, replace=True)
    try:
        os.replace(target + ".tmp", target)
    except OSError:
        os.close(fd)
        raise
    return fd, offset


class ExtentWriter:
    """Keeps a chunked job's record up to date as its parts' bytes land.

    Each update overwrites one fixed-width extent in place: one ``pwrite`` of
    15 bytes, no fsync (SIGKILL, a node's OOM killer: the page cache keeps
    what was written). A part's extent is rewritten once it has
    :meth:`step` bytes more than the record says, a step that is
    :data:`RECORD_SHARE` of what this job has written in this run, split among
    its parts in flight (at most :data:`RECORD_CEILING`). So a kill at any
    moment loses at most that share of the bytes the run had brought to disk.
    A fixed step (it was 256 KiB or 20 ms a part) loses a larger share the
    earlier the kill comes: at 24 MB/s, 20 ms of every part in flight is
    half a MB a kill. Early in a run every write updates its extent (never
    more updates than writes); later they thin out, their number growing with
    the log of the bytes, not with the bytes. The data is written before its extent, so a record never
    claims bytes the ``.part`` did not get from this process; after a node
    crash either may be short, which the checks (every byte is hashed before
    the rename) catch."""

    def __init__(self, fd: int, record: PartRecord, offset: int) -> None:
        """``fd``: the record as :func:`begin_record` made it (this writer closes it)."""
        self._record = record
        self._offset = offset
        self._fd = fd
        self._written = list(record.extents)
        self._brought = 0
        """Bytes this job has written in this run (recorded or not)."""
        self._flying: set[int] = set()
        """Parts with bytes of this run and not complete."""

    def step(self) -> int:
        """Unrecorded bytes a part in flight may hold before its extent is rewritten."""
        return min(RECORD_CEILING, int(self._brought * RECORD_SHARE) // max(1, len(self._flying)))

    def advance(self, index: int, kept: int) -> None:
        """Part ``index`` has its first ``kept`` bytes on disk."""
        record = self._record
        self._brought += kept - record.extents[index]
        record.extents[index] = kept
        if kept == record.part_length(index):
            self._flying.discard(index)
            self.flush(index)
            return
        self._flying.add(index)
        if kept - self._written[index] >= self.step():
            self.flush(index)

    def flush(self, index: int) -> None:
        kept = self._record.extents[index]
        if kept != self._written[index]:
            os.pwrite(self._fd, f"{kept:{EXTENT_WIDTH}d}".encode(), self._offset + index * (EXTENT_WIDTH + 1))
            self._written[index] = kept
        if kept == self._record.part_length(index):
            self._flying.discard(index)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


RECORD_SHARE = 0.01
"""Share of the bytes a job brought to disk in this run that a kill may lose
(those not yet in the record). One ``pwrite`` took about 6 microseconds on the
test VM's ext4: past its first writes, a 4 GiB file in 96 parts makes about
7,000 per doubling of its bytes (about 40 ms of CPU)."""

RECORD_CEILING = 8 * 1024 * 1024
"""Largest step, whatever the run has written."""


def _write(path: str, data: bytes, *, replace: bool = False) -> int:
    """A new file at ``path`` holding ``data``, open for writing; never an
    existing one (O_EXCL), so never through a symbolic link or a hard link
    someone else planted there (temp names are per process, see
    :mod:`.tempnames`). ``replace``: whatever is at ``path`` is unlinked
    first (only the name: a linked file stays as it was), once more if a
    file appears there again before the create."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for attempt in range(2 if replace else 1):
        if replace:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            fd = os.open(path, flags, 0o644)
            break
        except FileExistsError:
            if attempt or not replace:
                raise
    try:
        os.write(fd, data)
    except OSError:
        os.close(fd)
        raise
    return fd


def discard(dest: Path, *, part: bool = True, updated: bool = True) -> None:
    """Remove a ``.part`` (unless ``part`` is False: it was just renamed) and its
    record (and the record's ``.tmp``, which only updates write: ``updated``)."""
    record = str(record_path(dest))
    for path in ((str(part_path(dest)),) if part else ()) + (record,) + ((record + ".tmp",) if updated else ()):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def checked_whole(etag: str) -> bool:
    """Whether a record-less ``.part`` may be resumed: its ETag is the whole
    file's MD5, which every byte (a prefix of another object's too) must match."""
    return RemoteObject("", 0, etag).plain_md5 is not None


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
    return kept_state(dest, size, etag, has_sha256=has_sha256)


def kept_state(base: Path, size: int, etag: str, *, has_sha256: bool = False) -> tuple[LocalState, int]:
    """Partial (with the bytes its ``.part`` keeps) or absent, from the temp
    files of ``base`` alone: never complete. ``base`` may be a process's
    ``X.<token>``, and a file of the object's size planted at that name (no
    name the tool writes) must not pass for the finished file: only the
    final path can be one (:func:`local_state`)."""
    dest = base
    try:
        on_disk = part_path(dest).stat().st_size
    except OSError:
        return LocalState.ABSENT, 0
    try:
        record = read_record(dest)
    except BadRecord:
        return LocalState.PARTIAL, 0  # the run opens it to discard it, and says so
    if record is not None and (not record.matches(size, etag) or missing_bytes(dest, record, on_disk)):
        return (LocalState.PARTIAL, 0) if record.claims(on_disk) else (LocalState.ABSENT, 0)  # as above
    if record is not None:
        kept = record.resumable_bytes(on_disk)
    elif record is None and (has_sha256 or checked_whole(etag)) and on_disk < size:
        kept = on_disk
    else:
        kept = 0
    return (LocalState.PARTIAL, kept) if kept else (LocalState.ABSENT, 0)
