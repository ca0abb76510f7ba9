"""MD5 streams that can be stepped together: one step hashes up to 16 at a time.

The C extension ``_md5lanes`` (built at install when a compiler is there;
its name keeps the SIMD word, "lanes" of a vector register, which this
package otherwise uses for its epoll threads) hashes up to 16 independent
messages in one step for about a fifth of the CPU
of hashlib's one-at-a-time MD5. Without it every stream is a plain
``hashlib.md5``: same answers, more CPU.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

try:
    from laion_fmri_tui.core.integrity import _md5lanes
except ImportError:  # no compiler at install time: hashlib does the work
    _md5lanes = None

WIDTH = _md5lanes.LANES if _md5lanes is not None else 1
"""How many streams one step hashes together."""
NATIVE = _md5lanes is not None
_INIT = struct.pack("<4I", 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)


class Md5Stream:
    """One message's MD5, fed in order: whole 64-byte blocks, then one tail."""

    __slots__ = ("_state", "_hash", "length", "_tail")

    def __init__(self) -> None:
        self._state = bytearray(_INIT) if NATIVE else None
        self._hash = None if NATIVE else hashlib.md5(usedforsecurity=False)
        self.length = 0
        self._tail = b""

    def digest(self) -> bytes:
        if not NATIVE:
            return self._hash.digest()
        state = bytearray(self._state)
        tail = self._tail
        padded = tail + b"\x80" + bytes((55 - len(tail)) % 64) + struct.pack("<Q", (self.length * 8) % 2**64)
        _md5lanes.update([state], [padded], len(padded))
        return bytes(state)

    def hexdigest(self) -> str:
        return self.digest().hex()


def update_together(streams: Sequence[Md5Stream], views: Sequence[memoryview], nbytes: int,
                    last: Sequence[bool]) -> None:
    """Feed ``nbytes`` of each view to its stream (at most :data:`WIDTH` streams).

    ``nbytes`` may end in a partial block only for streams whose message ends
    there (``last``); the others must get whole blocks."""
    whole = nbytes - nbytes % 64
    if NATIVE:
        if whole:
            _md5lanes.update([s._state for s in streams], views, whole)
        for stream, view, ends in zip(streams, views, last):
            if whole != nbytes:
                if not ends:
                    raise ValueError("a partial block before the end of a message")
                stream._tail = bytes(view[whole:nbytes])
            stream.length += nbytes
        return
    for stream, view in zip(streams, views):
        stream._hash.update(view[:nbytes])
        stream.length += nbytes
