"""The multipart ETag check against uploads made the ways uploaders make them.

aws-cli and s5cmd upload in whole MiB; boto3 with ``multipart_chunksize=8 * 10**6``
in whole MB. A tester uploaded 20,000,000 bytes in 8,000,000-byte parts: the
correct file failed "checksum mismatch" on every run, so the job never ended.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from laion_fmri_tui.core.integrity.content_checks import VerificationError, Verifier, judge


def multipart_etag(data: bytes, part: int) -> str:
    digests = [hashlib.md5(data[at:at + part]).digest() for at in range(0, len(data), part)]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


@pytest.mark.parametrize("size, part", [
    (20_000_000, 8_000_000),                 # boto3, decimal part size
    (20_000_000, 8 * 1024 * 1024),           # aws-cli's default
    (64 * 1024 * 1024, 9 * 1024 * 1024),     # ambiguous: 8 or 9 MiB both give 8 parts
    (25_000_000, 6_000_000),                 # whole MB with a whole-MiB neighbour (5 MiB) that fits too
])
def test_a_correct_file_passes_and_a_flipped_byte_fails(size: int, part: int) -> None:
    """Through :func:`judge`, the one verdict every path uses: the likeliest
    part size is hashed as the bytes arrive, the others on a re-read; a
    server that cannot tell the part size is not needed for a correct file."""
    data = random.Random(size + part).randbytes(size)
    etag = multipart_etag(data, part)

    def verdict(body: bytes, told: int | None):
        checker = Verifier(size, etag)
        checker.update(body)
        return judge(checker.finish, size, etag, lambda: told, lambda at, n: body[at:at + n])

    assert verdict(data, None).kind == "etag", "checked by its ETag, not by size alone"
    flipped = bytes([data[0] ^ 1]) + data[1:]
    with pytest.raises(VerificationError):
        verdict(flipped, part)
    unproven = verdict(flipped, None)
    assert unproven.kind == "size" and unproven.unchecked is not None, "never called an ETag match"
