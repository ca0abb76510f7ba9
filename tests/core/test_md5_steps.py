"""MD5 on SIMD lanes: every lane count and length gives hashlib's digests."""

from __future__ import annotations

import hashlib
import random

import pytest

from laion_fmri_tui.core.integrity.md5_steps import WIDTH, Md5Stream, update_together


@pytest.mark.parametrize("streams", range(1, 17))
def test_each_lane_count_matches_hashlib(lanes, streams):
    """Each width has its own kernel (one lane at a time, 4, 8, 16, and 16
    through a transpose on AVX-512), so every count from 1 to 16 is checked,
    over lengths from no block to many, each lane's data different."""
    rng = random.Random(streams)
    for length in (0, 1, 63, 64, 65, 1000, 64 * 33, 64 * 1024 + 17):
        datas = [rng.randbytes(length) for _ in range(streams)]
        hashes = [Md5Stream() for _ in range(streams)]
        for start in range(0, len(datas), WIDTH):
            group = slice(start, start + WIDTH)
            update_together(hashes[group], [memoryview(d) for d in datas[group]], length,
                            [True] * len(datas[group]))
        assert [h.hexdigest() for h in hashes] == [hashlib.md5(d).hexdigest() for d in datas], length


def test_a_message_fed_in_steps_matches_hashlib(lanes):
    """Whole blocks in several steps, then the tail: the state carries over."""
    rng = random.Random(7)
    datas = [rng.randbytes(64 * 50 + 9) for _ in range(WIDTH)]
    hashes = [Md5Stream() for _ in datas]
    pos = 0
    for step in (64, 64 * 7, 64 * 30, 64 * 12):
        update_together(hashes, [memoryview(d)[pos:] for d in datas], step, [False] * len(datas))
        pos += step
    update_together(hashes, [memoryview(d)[pos:] for d in datas], 9, [True] * len(datas))
    assert [h.hexdigest() for h in hashes] == [hashlib.md5(d).hexdigest() for d in datas]
