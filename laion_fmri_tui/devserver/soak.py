"""Accounts of a kill soak: what a killed run left on disk, and what the next asked again.

A resume must ask only for bytes that are not on disk (issue 21: at most 2%
of them fetched again over a soak of random SIGKILLs). The bytes on disk are
read from the ``.part`` itself, not from its resume record: for each ranged
part, the longest run of right bytes from its first one (a part arrives in
order). The bytes asked again come from the server's request log: each GET's
Range header (its first byte) and the bytes it was sent. Bytes a killed run
was sent that were still in its sockets never reached the disk; they are
counted apart (:attr:`Soak.in_flight`), as no record could keep them.
Used by the suite's soak (``tests/batch/test_batch_kill_soak.py``) and the
longer one in ``bench/kill_soak.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

BLOCK = 64 * 1024


def kept(part_file: Path, data: bytes, part: int) -> list[int]:
    """How many of each part's first bytes the ``.part`` holds right (all 0 when there is none)."""
    try:
        disk = memoryview(part_file.read_bytes())
    except FileNotFoundError:
        disk = memoryview(b"")
    want = memoryview(data)
    return [_prefix(disk[start:start + part], want[start:start + part]) for start in range(0, len(data), part)]


def _prefix(got: memoryview, want: memoryview) -> int:
    """The length of the longest common prefix."""
    pos, end = 0, min(len(got), len(want))
    while pos < end and got[pos:pos + BLOCK].tobytes() == want[pos:pos + BLOCK].tobytes():
        pos += BLOCK
    stop = min(end, pos + BLOCK)
    while pos < stop and got[pos] == want[pos]:
        pos += 1
    return min(pos, end)


def first_byte(range_header: str | None) -> int:
    """The first byte a GET asked for (``bytes=N-M``; none: 0)."""
    return int((range_header or "bytes=0-").split("=")[1].split("-")[0])


@dataclass
class Soak:
    """Running totals over the runs of one object, fetched in parts of ``part`` bytes."""

    data: bytes
    part: int
    on_disk: list[int] = field(default_factory=list)
    """Each part's right bytes on disk after the last run."""
    kills: int = 0
    brought: int = 0
    """Bytes the killed runs added to the disk."""
    again: int = 0
    """Bytes a run was sent that were on disk already."""
    in_flight: int = 0
    """Bytes a killed run was sent that never reached its disk."""
    sent: int = 0

    def __post_init__(self) -> None:
        self.on_disk = self.on_disk or [0] * -(-len(self.data) // self.part)

    def run_ended(self, gets: list[tuple[int, int]], part_file: Path | None, killed: bool = True) -> None:
        """Account one run: its GETs (first byte asked for, bytes sent) and,
        when it was killed, the ``.part`` it left (None: it finished)."""
        again = 0
        for first, sent in gets:
            index = first // self.part
            again += max(0, min(index * self.part + self.on_disk[index] - first, sent))
        sent = sum(sent for _, sent in gets)
        self.again += again
        self.sent += sent
        if not killed or part_file is None:
            return
        now = kept(part_file, self.data, self.part)
        brought = sum(max(0, n - b) for n, b in zip(now, self.on_disk))
        self.kills += 1
        self.brought += brought
        self.in_flight += max(0, sent - again - brought)
        self.on_disk = now

    @property
    def share(self) -> float:
        """Bytes fetched again over the bytes the killed runs brought to disk."""
        return self.again / max(1, self.brought)
