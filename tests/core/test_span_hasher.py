"""The span hasher: MD5 of many spans from pieces of any size, in any interleaving."""

from __future__ import annotations

import hashlib
import random
import threading
import time

import pytest

from laion_fmri_tui.core.integrity import span_hasher
from laion_fmri_tui.core.integrity.md5_steps import Md5Stream
from laion_fmri_tui.core.integrity.span_hasher import SpanHasher
from laion_fmri_tui.core.integrity.content_checks import Span


def _cuts(rng: random.Random, size: int) -> list[int]:
    """Piece lengths for ``size`` bytes: tiny ones, odd ones, whole blocks, large ones."""
    cuts = []
    while size:
        take = min(size, rng.choice([1, 7, 63, 64, 65, 1000, 4096, 20_000, rng.randrange(1, 70_000)]))
        cuts.append(take)
        size -= take
    return cuts


def _pieces(rng: random.Random, data: bytes) -> list[memoryview]:
    """``data`` cut as :func:`_cuts` says, in order."""
    pieces, pos = [], 0
    for cut in _cuts(rng, len(data)):
        pieces.append(memoryview(data)[pos:pos + cut])
        pos += cut
    return pieces


@pytest.mark.parametrize("spans", [1, 5, 16, 40])
def test_digests_match_hashlib_for_pieces_of_any_size(lanes, spans):
    rng = random.Random(spans)
    owner = object()
    datas = [rng.randbytes(rng.choice([0, 1, 64, 100, 65_536, 300_001])) for _ in range(spans)]
    made = [Span(0, len(data), Md5Stream()) for data in datas]
    done: list[Span] = []
    hasher = SpanHasher(lambda who, span: done.append(span), lambda who: False)
    queues = [(span, _pieces(rng, data)) for span, data in zip(made, datas)]
    while any(pieces for _, pieces in queues):  # interleaved, each span's pieces in order
        span, pieces = rng.choice([q for q in queues if q[1]])
        hasher.put(owner, span, pieces.pop(0))
    hasher.close()
    for span, data in zip(made, datas):
        if data:
            assert span.pos == span.end
            assert span.digest.hexdigest() == hashlib.md5(data).hexdigest()
    assert sorted(map(id, done)) == sorted(id(s) for s, d in zip(made, datas) if d), "each span reported once"


@pytest.mark.parametrize("spans", [1, 16, 40])
def test_an_inline_hasher_hashes_on_the_callers_thread_whenever_it_drains(lanes, spans):
    """Whole small files: the lane drains after each turn, whatever has come in
    by then (a span cut anywhere, carries across drains); no thread starts."""
    rng = random.Random(100 + spans)
    owner = object()
    datas = [rng.randbytes(rng.choice([1, 63, 64, 65, 4096, 100_000, 262_144])) for _ in range(spans)]
    made = [Span(0, len(data), Md5Stream()) for data in datas]
    done: list[tuple[Span, str]] = []
    hasher = SpanHasher(lambda who, span: done.append((span, threading.current_thread().name)),
                        lambda who: False, inline=True)
    queues = [(span, _pieces(rng, data)) for span, data in zip(made, datas)]
    threads = threading.active_count()
    while any(pieces for _, pieces in queues):
        span, pieces = rng.choice([q for q in queues if q[1]])
        hasher.put(owner, span, pieces.pop(0))
        if rng.random() < 0.2:
            hasher.drain()
    assert threading.active_count() == threads, "an inline hasher starts no thread"
    hasher.close()
    for span, data in zip(made, datas):
        assert span.pos == span.end and span.digest.hexdigest() == hashlib.md5(data).hexdigest()
    assert sorted(id(s) for s, _ in done) == sorted(map(id, made)), "each span reported once"
    assert {name for _, name in done} == {threading.current_thread().name}


def test_an_inline_hasher_hashes_a_full_step_as_it_is_queued(lanes):
    """A lane's turn over hundreds of ready sockets must not hold a gather
    buffer per file until the turn ends: sixteen whole spans queued are hashed
    (and their buffers given back) by the put that queues the sixteenth."""
    rng = random.Random(5)
    datas = [rng.randbytes(1000 + n) for n in range(40)]
    done: list[Span] = []
    hasher = SpanHasher(lambda who, span: done.append(span), lambda who: False, inline=True)
    made = [Span(0, len(data), Md5Stream()) for data in datas]
    for n, (span, data) in enumerate(zip(made, datas), start=1):
        hasher.put(object(), span, memoryview(data))
        assert len(done) == n - n % span_hasher.WIDTH, (n, len(done))
    hasher.close()
    assert len(done) == len(datas)
    assert all(s.digest.hexdigest() == hashlib.md5(d).hexdigest() for s, d in zip(made, datas))


def test_pieces_from_many_threads_and_a_failed_owner(lanes):
    """Feeders on their own threads, as parts end at random; a failed file's
    spans are dropped and never reported."""
    rng = random.Random(7)
    good, failed = object(), object()
    datas = {(owner, n): rng.randbytes(200_000 + n) for owner in (good, failed) for n in range(12)}
    spans = {key: Span(0, len(data), Md5Stream()) for key, data in datas.items()}
    done: list[tuple[object, Span]] = []
    hasher = SpanHasher(lambda who, span: done.append((who, span)), lambda who: who is failed)

    def feed(key) -> None:
        data, view, pos = datas[key], memoryview(datas[key]), 0
        for cut in _cuts(random.Random(len(data)), len(data)):
            hasher.put(key[0], spans[key], view[pos:pos + cut])
            pos += cut

    threads = [threading.Thread(target=feed, args=(key,)) for key in datas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    hasher.close()
    assert {id(span) for who, span in done} == {id(spans[key]) for key in datas if key[0] is good}
    for key, data in datas.items():
        if key[0] is good:
            assert spans[key].digest.hexdigest() == hashlib.md5(data).hexdigest()


def test_a_span_queued_while_a_file_is_wrapped_up_is_not_missed():
    """``done`` runs without the hasher's lock (the engine renames the file
    then); bytes queued meanwhile, and a close, must still be seen."""
    first, second = Span(0, 128, Md5Stream()), Span(0, 4096, Md5Stream())
    done: list[Span] = []
    inside = threading.Event()

    def wrap_up(owner, span) -> None:
        done.append(span)
        if span is first:
            inside.set()
            time.sleep(0.3)

    hasher = SpanHasher(wrap_up, lambda owner: False)
    hasher.put("a", first, memoryview(bytes(128)))
    assert inside.wait(5)
    hasher.put("b", second, memoryview(bytes(4096)))
    closer = threading.Thread(target=hasher.close, daemon=True)
    closer.start()
    closer.join(5)
    assert not closer.is_alive(), "close() hung"
    assert done == [first, second]


def test_a_backlog_is_hashed_without_waiting_for_company(monkeypatch):
    """One span with many pieces queued (a run's last part): each step goes on
    at once instead of lingering for other spans (200 pieces x 10 ms before).
    Lingering is made endless here, so the span is hashed only if no step waits."""
    monkeypatch.setattr(span_hasher, "LINGER", 3600.0)
    data = random.Random(3).randbytes(200 * 65_536)
    span = Span(0, len(data), Md5Stream())
    hasher = SpanHasher(lambda owner, s: None, lambda owner: False)
    for start in range(0, len(data), 65_536):
        hasher.put("a", span, memoryview(data)[start:start + 65_536])
    deadline = time.monotonic() + 20
    while span.pos < span.end:
        assert time.monotonic() < deadline, f"{span.pos} of {span.end} bytes hashed: a step waited for company"
        time.sleep(0.005)
    hasher.close()
    assert span.digest.hexdigest() == hashlib.md5(data).hexdigest()


def test_a_failing_wrap_up_does_not_stop_the_hasher():
    spans = [Span(0, 1000, Md5Stream()) for _ in range(3)]
    done: list[Span] = []

    def wrap_up(owner, span) -> None:
        done.append(span)
        if span is spans[0]:
            raise RuntimeError("boom")

    hasher = SpanHasher(wrap_up, lambda owner: False)
    for span in spans:
        hasher.put("x", span, memoryview(bytes(1000)))
    hasher.close()
    assert sorted(map(id, done)) == sorted(map(id, spans))


def test_a_hasher_that_falls_behind_holds_back_its_feeders(monkeypatch):
    """Past HELD queued bytes, put() waits (and with it the writer, the lane and
    TCP) until the hasher catches up, instead of holding every byte in memory."""
    monkeypatch.setattr(span_hasher, "HELD", 1024 * 1024)
    first = Span(0, 64, Md5Stream())
    data = random.Random(5).randbytes(4 * 1024 * 1024)
    second = Span(0, len(data), Md5Stream())
    held_up, go = threading.Event(), threading.Event()

    def wrap_up(owner, span) -> None:
        if span is first:
            held_up.set()
            go.wait(10)  # the hasher is busy elsewhere

    hasher = SpanHasher(wrap_up, lambda owner: False)
    hasher.put("a", first, memoryview(bytes(64)))
    assert held_up.wait(5)
    feeder = threading.Thread(target=lambda: [hasher.put("b", second, memoryview(data)[at:at + 65536])
                                              for at in range(0, len(data), 65536)], daemon=True)
    feeder.start()
    feeder.join(0.5)
    assert feeder.is_alive(), "put() went on past the budget"
    go.set()
    feeder.join(10)
    assert not feeder.is_alive()
    hasher.close()
    assert second.digest.hexdigest() == hashlib.md5(data).hexdigest()
