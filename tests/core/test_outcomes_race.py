"""A file is finished exactly once, whichever of the threads that report to
:class:`Outcomes` sees its last piece of work end.

Lanes end units, hashers report spans, and a bug found off the units' path
fails a file (``Outcomes.unexpected``); all of them may race for the same
file. Each round lines the racers up on a barrier and counts the file's ends
in the events: exactly one, and the counts agree.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from pathlib import Path

import pytest

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.models import PlanItem
from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.integrity.md5_steps import update_together
from laion_fmri_tui.core.transfer.outcomes import Outcomes

PART = 64 * 1024
PARTS = 8
ROUNDS = 60


def _job_in_parts(tmp_path: Path, name: str, content: bytes) -> FileJob:
    """A file in PARTS ranged parts with a plain MD5 ETag (one span), all its
    bytes on disk and its span hashed, with its units and span still to report."""
    item = PlanItem(name, tmp_path / name, len(content), hashlib.md5(content).hexdigest(), "dataset")
    job = FileJob(item, PART)
    assert job.open() == list(range(PARTS))
    os.pwrite(job.fd, content, 0)
    for span in job.spans_left:
        view = memoryview(content)[span.start:span.end]
        update_together([span.digest], [view], len(view), [True])
        span.pos = span.end
    return job


def _race(job: FileJob, calls: list) -> list[ev.Event]:
    events: list[ev.Event] = []
    lock = threading.Lock()

    def sink(event: ev.Event) -> None:
        with lock:
            events.append(event)

    outcomes = Outcomes(sink, fsync=False, cancel=lambda reason: None)
    barrier = threading.Barrier(len(calls))

    def run(call) -> None:
        barrier.wait(timeout=30)
        call(outcomes)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the racers take turns between bytecodes, not every 5 ms
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        sys.setswitchinterval(interval)
    ends = [e for e in events if isinstance(e, (ev.FileDone, ev.FileFailed, ev.FileSkipped))]
    assert len(ends) == 1, ends
    assert sum(outcomes.counts.values()) == 1, outcomes.counts
    return ends


def _ends(job: FileJob, unexpected: int, ended_before: int = 0) -> list:
    """The reports that end ``job``, one per racer: its units (but the first
    ``ended_before``, reported by the caller already), its span, and
    ``unexpected`` failures found off the units' path."""
    calls = [lambda o, i=i: o.unit_ended(job, None, i) for i in range(ended_before, PARTS)]
    calls += [lambda o, s=s: o.span_hashed(job, s) for s in list(job.spans_left)]
    calls += [lambda o: o.unexpected(job, RuntimeError("a bug off the units' path"))] * unexpected
    return calls


def test_units_and_spans_racing_finish_the_file_once(tmp_path: Path) -> None:
    content = os.urandom(PARTS * PART)
    for n in range(ROUNDS):
        job = _job_in_parts(tmp_path, f"f{n}.bin", content)
        (end,) = _race(job, _ends(job, unexpected=0))
        assert isinstance(end, ev.FileDone) and end.verified == "md5"
        assert (tmp_path / f"f{n}.bin").read_bytes() == content


@pytest.mark.parametrize("unexpected", [1, 4])
@pytest.mark.parametrize("ended_before", [0, PARTS - 1])
def test_a_failure_racing_the_finish_ends_the_file_once(tmp_path: Path, unexpected: int,
                                                       ended_before: int) -> None:
    """``ended_before`` PARTS - 1: the failures race the last unit and the
    span, the window in which a file is being renamed."""
    content = os.urandom(PARTS * PART)
    for n in range(ROUNDS):
        job = _job_in_parts(tmp_path, f"f{n}.bin", content)
        outcomes = Outcomes(lambda event: None, fsync=False, cancel=lambda reason: None)
        for i in range(ended_before):
            outcomes.unit_ended(job, None, i)
        (end,) = _race(job, _ends(job, unexpected, ended_before))
        dest = tmp_path / f"f{n}.bin"
        if isinstance(end, ev.FileDone):
            assert dest.read_bytes() == content
        else:
            assert isinstance(end, ev.FileFailed) and end.kind is ev.FailKind.ERROR
            assert not dest.exists()
