"""Engine settings: how many GETs in flight, how large the ranged parts."""

from __future__ import annotations

import os
from dataclasses import dataclass

from laion_fmri_tui.core.http.retry import RetrySettings

MIB = 1024 * 1024
"""Here rather than imported: the app holds these settings without loading the engine."""


@dataclass(frozen=True)
class EngineSettings:
    """How hard to push; defaults suit a shared login node on real S3."""

    jobs: int = 96
    """Ranged parts in flight at once (shared out among the lanes). S3 serves each connection at tens of MB/s after tens of ms, so
    filling a fast link takes about this many requests in flight (measured in
    ``bench/``: at 20 MB/s a connection, 32 held large files near 500 MB/s;
    a subject of 64 MiB files went 15% faster at 96 than at 64)."""
    part_size: int | None = None
    """Ranged-part size; None adapts it to the object (8-64 MiB)."""
    threshold: int | None = None
    """Objects above this are fetched as parallel parts; None = 2 x part size (min 16 MiB)."""
    retries: int | None = None
    """``--retries N``: attempts per unit in all; None: only ``retry_for`` counts."""
    retry_for: float = 300.0
    """``--retry-for``: seconds a unit keeps retrying throttling, 5xx and
    dropped connections without progress (see :mod:`laion_fmri_tui.core.http.retry`)."""
    max_bandwidth: int | None = None
    """Bytes per second over all lanes together; None = no cap.
    The starting value: :meth:`TransferEngine.set_bandwidth` changes it live."""
    progress_interval: float = 0.25
    lane_jobs: int | None = None
    """GETs in flight on the lanes (parts and whole small files together);
    None = 4 x ``jobs``; at least 1 (every GET of a run goes through the lanes)."""

    fsync: bool = True
    """Flush a file's data to stable storage (fdatasync) before its ``.part``
    is renamed, so that a node crash on a parallel filesystem cannot leave a
    right-sized file with holes that a rerun trusts. Done for files fetched
    as ranged parts (their ``.part`` has its full size from the start, so
    holes are possible) and files above 1 MiB; not for small files written
    front to back: one fdatasync costs about 3 ms on ext4 (measured), which
    would cap a run of small files at a few hundred a second, and a crash
    leaves such a file short, which the size check catches."""

    lanes: int | None = None
    """Threads that run the lanes' GETs, sharing them out; None = one
    per CPU this process may use, at most two. Their bytes cross the kernel
    twice (socket to buffer, buffer to page cache): on one thread that copy
    was a whole core, and the download's pace on a shared 2-core node."""

    @property
    def lane_count(self) -> int:
        if self.lanes is not None:
            return max(1, self.lanes)
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not Linux
            cpus = os.cpu_count() or 1
        return max(1, min(2, cpus))

    @property
    def lane_transfers(self) -> int:
        """Small files are a round trip each, not bytes: many more fit in flight
        than ranged parts, on a lane's one ``epoll`` (see :mod:`.lane`)."""
        return max(1, 4 * self.jobs if self.lane_jobs is None else self.lane_jobs)

    @property
    def retry(self) -> RetrySettings:
        return RetrySettings(budget=self.retry_for, max_attempts=self.retries)

    def part_size_for(self, size: int) -> int:
        if self.part_size:
            part = self.part_size
        else:
            part = min(64 * MIB, max(8 * MIB, -(-size // (2 * self.jobs)) // MIB * MIB))
        threshold = self.threshold or (self.part_size or max(16 * MIB, 2 * part))
        return part if size > threshold else 0
