"""Content verification: is this file, byte for byte, the object the bucket holds?

Nothing reaches its final path unchecked, so every byte a download writes,
every ``.part`` a later run resumes and every file ``--verify`` reads goes
through the code here. It knows digests, sizes and spans; it knows nothing
of sockets, lanes, S3 or the access service (an import-linter contract in
``pyproject.toml`` keeps it that way), so the transfer engine and
``--verify`` share one rule without a cycle between them.

The modules
-----------
- :mod:`.content_checks`: the rule. :class:`~.content_checks.Verifier` checks
  one stream front to back; :class:`~.content_checks.Span` and
  :class:`~.content_checks.SpanCheck` split a file's check into spans that can
  be hashed out of order; :func:`~.content_checks.judge` gives the one verdict
  used at the open-time check of a kept ``.part``, at the end of a download and
  by ``--verify``.
- :mod:`.md5_steps`: MD5 of up to :data:`~.md5_steps.WIDTH` (16) independent
  streams in one SIMD step, in the C extension ``_md5lanes`` (``_md5lanes.c``
  and ``_md5lanes_body.h``, compiled by ``hatch_build.py`` when the wheel is
  built; without a compiler, :mod:`hashlib` one stream at a time). A step
  costs the same for one stream as for sixteen, so callers gather spans
  before they step.
- :mod:`.span_gather`: the buffer a streamed span's bytes are read into by the
  socket's reader, then handed to the span hasher without a copy.
- :mod:`.span_hasher`: the thread that hashes streamed spans as their bytes
  arrive, many at a time, and reports each finished span to a callback.
- :mod:`.checkup`: ``--verify``, the check of files already on disk, with no
  download.

The rule (MD5 and multipart ETags)
----------------------------------
The size is always checked. A sha256 (the stimulus images, from the access
service's manifest) is always checked. Otherwise the object's ETag decides:

- a plain ETag (32 hex digits) is the MD5 of the whole object: checked;
- a multipart ETag ``<hex>-N`` is the MD5 of the N parts' binary MD5s. The
  parts are all one size but the last, so it can be recomputed once that
  part size is known. The whole-MiB and whole-MB sizes that fit the object's
  size and N (:func:`~.content_checks.candidate_part_sizes`) are hashed side
  by side in the one pass over the bytes; one must match. When none fits or
  matches, :exc:`~.content_checks.PartSizeUnknown` asks the caller for the
  real part size (the bucket answers ``HEAD ?partNumber=1``) and
  :func:`~.content_checks.recheck` hashes the bytes on disk once more. Only
  when the server cannot say is the file kept on its size alone, and the
  check's name (``size``) and one line of output say so.

Where verification happens, from socket to final name
-----------------------------------------------------
(The transfer side is in :mod:`laion_fmri_tui.core.transfer`; its
``__init__`` follows one byte the whole way.)

1. At open: a ``.part`` kept from an earlier run whose record claims every
   byte is judged before use (``FileJob.open``); bytes that fail are
   discarded and fetched again in the same run.
2. As bytes arrive: an upload part that lies inside one ranged part, or a
   whole small file whose ETag is its MD5, is a *streamed* span. The lane
   reads it into a :class:`~.span_gather.SpanGather` buffer, ``pwrite``s it
   from there, and the :class:`~.span_hasher.SpanHasher` hashes it 16 spans
   at a time. A file fetched front to back in one GET is fed to its
   :class:`~.content_checks.Verifier` as it is written.
3. After the parts land: every other span (parts kept from an earlier run,
   a sha256, spans across ranged parts) is read back from the page cache by
   the transfer's hash pool (``core/transfer/hash_pool.py``, which stays in
   the transfer because it walks the engine's jobs), with the same
   :mod:`.md5_steps`.
4. At the end: when no unit and no span is outstanding, the transfer's
   ``Outcomes`` asks :func:`~.content_checks.judge` for the verdict; only a
   file that passes is flushed (``fdatasync``) and renamed from its ``.part``
   to its final name. A file that fails is reported failed, never done.
5. Later, on demand: ``--verify`` (:mod:`.checkup`) reads finished files
   back and applies the same rule, plus the ETag the download recorded.
"""
