"""Content checks computed while the bytes stream in.

What can be checked depends on what the bucket tells us:

* a plain ETag is the object's MD5 (single-part upload): check it;
* a multipart ETag ``<md5 of part md5s>-N`` can be recomputed when the upload
  part size is known. S3 parts are all equal except the last and at least
  5 MiB, so the part size lies between size/N and size/(N-1); uploaders pick
  whole MiB by default (aws-cli and boto3: 8 MiB, doubled until 10,000 parts
  suffice; s3cmd: 15 MiB; s5cmd: its ``-p`` in MiB; rclone: 5 MiB, raised
  to the whole MiB that fits 10,000 parts), whole MB (a boto3
  ``multipart_chunksize`` of ``8 * 10**6``) or any size a user configured
  (the dataset's own package only downloads, with ``aws s3 cp``).
  Of the whole-MiB and whole-MB sizes that fit (at most :data:`MAX_CANDIDATES`),
  the likeliest (:func:`likely_part_size`: aws-cli's 8 MiB, doubled) is
  hashed in the pass over the bytes, part by part as they land, and the
  file passes when it matches. Hashing every candidate in that pass cost a
  64 MiB object of 8 parts three MD5 passes (8 MiB, 9 MB and 9 MiB fit) in
  one thread: a subject's download spent 16 s of CPU where 5 do. When the
  likeliest does not match, :func:`judge` reads the bytes back from disk
  (the page cache, right after the download) and tries the others; when
  none matches, or none fits, the guesses prove nothing:
  :exc:`PartSizeUnknown` asks the caller for the upload's real part size
  (S3 answers ``HEAD ?partNumber=1`` with part 1's length), and
  :func:`recheck` hashes the bytes on disk once more with it. Only when the
  server cannot say is the size alone checked, and the check's name
  (``size``) says so;
* a sha256 (stimuli, from the access service's manifest) is always checked.

The size is always checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from laion_fmri_tui.core.models import RemoteObject
from laion_fmri_tui.core.integrity.md5_steps import Md5Stream

MIB = 1024 * 1024
MB = 1000 * 1000
MIN_PART = 5 * MIB


class VerificationError(Exception):
    """The bytes on disk are not the object's bytes."""


class PartSizeUnknown(VerificationError):
    """A multipart ETag matched none of the part sizes guessed (``tried``,
    maybe none): the bytes may be right (an upload in parts of another size)
    or wrong. :func:`recheck` settles it with the upload's real part size."""

    def __init__(self, message: str, tried: list[int], untried: list[int] | None = None) -> None:
        super().__init__(message)
        self.tried = tried
        self.untried = untried or []
        """Part sizes that also fit and were not hashed in the pass (:func:`judge` tries them on a re-read)."""


def not_checked(key: str, unknown: PartSizeUnknown) -> str:
    """The one line for a file kept on its size alone: its ETag could not be checked."""
    guessed = "no part size guessed from its size matched" if unknown.tried else "no part size could be guessed"
    return (f"{key}: ETag not checked ({guessed}, and the server did not tell the upload's part size); "
            "kept on its size alone")


RECHECK_READ = 8 * MIB
"""Bytes read from disk at a time by :func:`recheck`."""


def part_size_fits(size: int, parts: int, part_size: int) -> bool:
    """Whether ``parts`` parts of ``part_size`` (the last one shorter) make ``size`` bytes."""
    return part_size > 0 and -(-size // part_size) == parts


def recheck(unknown: PartSizeUnknown, size: int, etag: str, part_size: int | None,
            read: Callable[[int, int], bytes]) -> str:
    """Settle a :exc:`PartSizeUnknown`: ``part_size`` is the upload's real part
    size as the server told it (None: it could not say), ``read(offset, n)``
    reads the bytes on disk. Returns the check's name (``size`` when nothing
    but the size could be checked); raises VerificationError on a mismatch."""
    parts = RemoteObject("", size, etag).multipart_parts or 0
    if part_size is None or not part_size_fits(size, parts, part_size):
        return "size"
    if part_size in unknown.tried:
        raise VerificationError(str(unknown))  # that size was hashed already: the bytes are wrong
    kind = _reread(Verifier(size, etag, part_size=part_size), size, read).finish()
    _learn(part_size)
    return kind


def _reread(verifier: Verifier, size: int, read: Callable[[int, int], bytes]) -> Verifier:
    """``verifier`` fed every byte on disk, :data:`RECHECK_READ` at a time."""
    for offset in range(0, size, RECHECK_READ):
        verifier.update(read(offset, min(RECHECK_READ, size - offset)))
    return verifier


def _learn(part_size: int) -> None:
    """Try ``part_size`` first for the next objects (see :data:`_told`)."""
    if part_size not in _told:  # a list, not a lock: a lost update costs one more HEAD or pass
        _told[:] = [part_size, *_told][:_TOLD_KEPT]


@dataclass(frozen=True)
class Verdict:
    """What the check of a whole file proved: ``kind`` names it (``size``
    when nothing but the size could be checked; then ``unchecked`` is why
    the ETag was not, for the one line :func:`not_checked` makes)."""

    kind: str
    unchecked: PartSizeUnknown | None = None


def judge(finish: Callable[[], str], size: int, etag: str, part_size: Callable[[], int | None],
          read: Callable[[int, int], bytes]) -> Verdict:
    """The one verdict on a file whose every byte was fed to a check:
    ``finish`` (a :class:`Verifier`'s or a :class:`SpanCheck`'s), settled by
    :func:`recheck` when no guessed part size matched its multipart ETag
    (``part_size()`` asks the bucket; ``read(offset, n)`` reads the bytes
    on disk). Raises VerificationError on a mismatch.

    Every check of a whole file goes through it: the end of a download, the
    open of a ``.part`` whose record claims every byte, and ``--verify``; so
    a file one of them keeps, the others keep too (a correct ``.part`` of an
    upload in parts of 5,300,001 bytes was once discarded at its open
    because that check did not ask the bucket, and fetched again whole)."""
    try:
        return Verdict(finish())
    except PartSizeUnknown as unknown:
        if unknown.untried and (kind := _try_others(unknown, size, etag, read)):
            return Verdict(kind)
        kind = recheck(unknown, size, etag, part_size(), read)
        return Verdict(kind, unknown if kind == "size" else None)


def _try_others(unknown: PartSizeUnknown, size: int, etag: str,
                read: Callable[[int, int], bytes]) -> str | None:
    """One more pass over the bytes on disk with the part sizes that fit but
    were not guessed; the check's name if one matches (it is then tried
    first for the next objects), None if none does (they join ``tried``)."""
    verifier = _reread(Verifier(size, etag, candidates=unknown.untried), size, read)
    try:
        kind = verifier.finish()
    except PartSizeUnknown:
        unknown.tried = [*unknown.tried, *unknown.untried]
        unknown.untried = []
        return None
    if verifier.matched is not None:
        _learn(verifier.matched)
    return kind


MAX_CANDIDATES = 8
"""Most part sizes tried (the likeliest as the bytes arrive, the others side by
side on one re-read); an ETag that more fit is left to the bucket's answer."""


_told: list[int] = []
"""Part sizes this process learnt, latest first: told by the bucket for an
upload no guess matched (:func:`recheck`), or matched on a re-read
(:func:`judge`). An uploader that chose one for an object chose it for the
others, so it is the guess hashed as their bytes arrive, without a HEAD or a
second pass (the other sizes that fit are still tried on a mismatch)."""
_TOLD_KEPT = 8


def candidate_part_sizes(size: int, parts: int) -> list[int]:
    """Every whole-MiB or whole-MB part size that splits ``size`` into
    ``parts`` parts, smallest first (none when more than
    :data:`MAX_CANDIDATES` whole-MiB ones do), after a part size this
    process learnt for another object (:data:`_told`), if one fits.

    Whole MiB is what aws-cli and s5cmd use (8 MiB by default); whole MB
    (10**6 bytes) is what a boto3 ``TransferConfig(multipart_chunksize=8 * 10**6)``
    gives. A tester uploaded 20,000,000 bytes in 8,000,000-byte parts: with
    whole MiB only, the correct file failed its check on every run."""
    if parts < 1 or size <= 0:
        return []
    if parts == 1:
        return [size]
    told = next((part for part in tuple(_told) if part_size_fits(size, parts, part)), None)
    low = max(MIN_PART, -(-size // parts))  # ceil(size / parts)
    high = -(-size // (parts - 1)) - 1      # largest P with (parts-1)*P < size
    mib = [c * MIB for c in range(-(-low // MIB), high // MIB + 1)]
    both = sorted(set(mib) | {c * MB for c in range(-(-low // MB), high // MB + 1)})
    fitting = both if len(both) <= MAX_CANDIDATES else mib if len(mib) <= MAX_CANDIDATES else []
    return fitting if told is None else [told, *(c for c in fitting if c != told)]


def guess(candidates: list[int]) -> tuple[int, list[int]]:
    """The part size hashed as the bytes arrive, and the others that fit (tried
    by :func:`judge` only if it does not match)."""
    likely = likely_part_size(candidates)
    return likely, [c for c in candidates if c != likely]


def likely_part_size(candidates: list[int]) -> int:
    """The part size an uploader most likely chose among those that fit:
    aws-cli's and boto3's 8 MiB, doubled until 10,000 parts suffice, then
    the smallest whole MiB (rclone, s5cmd), then the rest in order; but a
    size this process learnt (:data:`_told`) comes first, and
    :func:`candidate_part_sizes` puts it first."""
    if candidates[0] in _told:
        return candidates[0]
    doubled = [c for c in candidates if c % (8 * MIB) == 0 and (c // (8 * MIB)).bit_count() == 1]
    whole_mib = [c for c in candidates if c % MIB == 0]
    return (doubled or whole_mib or candidates)[0]


class _Multipart:
    """A multipart ETag recomputed for one candidate part size, fed in order."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._digests: list[bytes] = []
        self._in_part = 0

    def update(self, view: memoryview) -> None:
        while view:
            take = min(len(view), self.part_size - self._in_part)
            self._md5.update(view[:take])
            self._in_part += take
            view = view[take:]
            if self._in_part == self.part_size:
                self._digests.append(self._md5.digest())
                self._md5 = hashlib.md5(usedforsecurity=False)
                self._in_part = 0

    def etag(self) -> str:
        digests = self._digests + ([self._md5.digest()] if self._in_part else [])
        return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


class Verifier:
    """Feed it the object's bytes in order; :meth:`finish` says what was proven."""

    def __init__(self, size: int, etag: str = "", sha256: str | None = None,
                 part_size: int | None = None, candidates: list[int] | None = None) -> None:
        """``part_size``: the upload's part size, if known; else the likeliest
        of the whole-MiB and whole-MB sizes that fit is hashed, and the others
        are left to :func:`judge`. ``candidates``: hash exactly these side by
        side (``judge``'s second pass)."""
        obj = RemoteObject("", size, etag)
        self.size = size
        self._fed = 0
        self._sha = hashlib.sha256() if sha256 else None
        self._want_sha = sha256.lower() if sha256 else None
        self._md5 = hashlib.md5(usedforsecurity=False) if obj.plain_md5 else None
        self._want_etag = etag
        parts = obj.multipart_parts or 0
        self._parts = parts
        self._untried: list[int] = []
        if part_size and part_size_fits(size, parts, part_size):
            sizes = [part_size]
        elif candidates is not None:
            sizes = [c for c in candidates if part_size_fits(size, parts, c)]
        else:
            sizes = candidate_part_sizes(size, parts)
            if sizes:
                likely, self._untried = guess(sizes)
                sizes = [likely]
        self._known = sizes == [part_size]
        self._multipart = [_Multipart(part) for part in sizes]
        self.matched: int | None = None
        """The part size whose ETag matched, once :meth:`finish` passed on a multipart ETag."""

    @property
    def fed(self) -> int:
        """Bytes hashed so far (the verified prefix)."""
        return self._fed

    @property
    def kind(self) -> str:
        if self._want_sha:
            return "sha256"
        if self._md5 is not None:
            return "md5"
        return "etag" if self._multipart else "size"

    def update(self, data: bytes | memoryview) -> None:
        self._fed += len(data)
        if self._sha is not None:
            self._sha.update(data)
        if self._md5 is not None:
            self._md5.update(data)
        for candidate in self._multipart:
            candidate.update(memoryview(data))

    def finish(self) -> str:
        """Raise :class:`VerificationError` on a mismatch; return the check's name."""
        if self._fed != self.size:
            raise VerificationError(f"size mismatch: expected {self.size} bytes, got {self._fed}")
        if self._sha is not None and self._sha.hexdigest() != self._want_sha:
            raise VerificationError(
                f"sha256 mismatch: expected {self._want_sha[:16]}…, got {self._sha.hexdigest()[:16]}…"
            )
        if self._md5 is not None:
            _check_etag(self._want_etag, self._md5.hexdigest())
        elif self._multipart:
            got = [candidate.etag() for candidate in self._multipart]
            if self._want_etag not in got:
                if self._known:
                    _check_etag(self._want_etag, got[0])
                raise PartSizeUnknown(_mismatch(self._want_etag, got[0]),
                                      [candidate.part_size for candidate in self._multipart], self._untried)
            self.matched = self._multipart[got.index(self._want_etag)].part_size
        elif self._parts > 1 and not self._want_sha:
            raise PartSizeUnknown(f"no whole-MiB or whole-MB part size fits {self._parts} parts", [])
        return self.kind


def _check_etag(want: str, got: str) -> None:
    if got != want:
        raise VerificationError(_mismatch(want, got))


def _mismatch(want: str, got: str) -> str:
    return f"checksum mismatch: ETag {want[:16]}…, bytes give {got[:16]}…"


@dataclass(eq=False)
class Span:
    """Bytes ``start..end`` (end exclusive) of a file that one digest covers, in order."""

    start: int
    end: int
    digest: Md5Stream | Verifier
    pos: int = 0
    """The next byte to hash."""
    claimed: bool = False
    """A thread is hashing it now."""

    def __post_init__(self) -> None:
        self.pos = self.start

    @property
    def batchable(self) -> bool:
        """Whether it can be hashed in one SIMD step with others (a bare MD5)."""
        return isinstance(self.digest, Md5Stream)


class SpanCheck:
    """The checks of a file fetched as parallel parts, as independent spans.

    Each part of a multipart upload has its own MD5 inside the ETag, so those
    spans are hashed whenever their bytes are on disk, many at a time (see
    :mod:`~laion_fmri_tui.core.integrity.md5_steps`); a plain MD5 is one span
    over the file; a sha256 is one span fed through a :class:`Verifier`.
    """

    def __init__(self, size: int, etag: str = "", sha256: str | None = None) -> None:
        self.size = size
        self._etag = etag
        self._part_size: int | None = None
        self._untried: list[int] = []
        obj = RemoteObject("", size, etag)
        if sha256:
            single = Verifier(size, etag, sha256)
            self.kind = single.kind
            self.spans = [Span(0, size, single)]
        elif obj.plain_md5:
            self.kind = "md5"
            self.spans = [Span(0, size, Md5Stream())]
        elif candidates := candidate_part_sizes(size, obj.multipart_parts or 0):
            # the only size that fits, or the likeliest (the others are tried by judge on a mismatch):
            # either way one span per part, hashed as parts land, many at a time
            self.kind = "etag"
            part, self._untried = guess(candidates)
            self._part_size = part
            self.spans = [Span(start, min(size, start + part), Md5Stream()) for start in range(0, size, part)]
        else:
            self.kind = "size"
            self.spans = []

    def finish(self) -> str:
        """Raise :class:`VerificationError` on a mismatch; return the check's name."""
        if any(span.pos != span.end for span in self.spans):
            hashed = sum(span.pos - span.start for span in self.spans)
            raise VerificationError(f"size mismatch: expected {self.size} bytes, hashed {hashed}")
        if not self.spans:
            parts = RemoteObject("", self.size, self._etag).multipart_parts or 0
            if parts > 1:
                raise PartSizeUnknown(f"no whole-MiB or whole-MB part size fits {parts} parts", [])
            return self.kind
        first = self.spans[0].digest
        if isinstance(first, Verifier):
            return first.finish()
        if self._part_size:
            joined = hashlib.md5(b"".join(s.digest.digest() for s in self.spans), usedforsecurity=False)
            got = f"{joined.hexdigest()}-{len(self.spans)}"
            if got != self._etag:
                raise PartSizeUnknown(_mismatch(self._etag, got), [self._part_size], self._untried)
        else:
            got = first.hexdigest()
        _check_etag(self._etag, got)
        return self.kind
