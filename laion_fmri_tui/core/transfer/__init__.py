"""The transfer engine: every GET of a run on a few epoll threads, resumable ``.part`` files, verification.

Words (each means one thing here)
---------------------------------
- **lane**: one thread that keeps hundreds of GETs in flight on non-blocking
  sockets and one ``epoll`` (:class:`.lane.Lane`); a run has one per
  core, two at most. (The MD5 code steps 16 digests together in one SIMD
  *step* of :data:`.md5_steps.WIDTH` streams; it has no lanes.)
- **job**: one file being fetched (:class:`.filejob.FileJob`): its ``.part``
  file (``job.part_file``), resume record, verifier, lock.
- **part**: a ranged piece of a large file, ``job.part_size`` bytes, fetched
  by its own GET; a small file is one whole-file GET. Either is a **unit**:
  what one GET fetches, retried from the byte it reached.
- **transfer**: a unit in flight on a lane (:class:`.lane_transfer.LaneTransfer`):
  its connection, the answer's head, the cursor.
- **span**: a range a digest covers (:class:`.content_checks.Span`): one
  upload part of a multipart ETag, or the whole file.
- **chunk** only ever means HTTP's ``Transfer-Encoding: chunked``
  (:class:`laion_fmri_tui.core.http.wire.ChunkReader`).

One byte, from socket to verified file
--------------------------------------
1. The engine (:class:`.engine.TransferEngine`, the caller's thread) splits
   the plan: files above the threshold into parts, queued per lane; small
   files in one queue, lane 0's. It starts the lanes and waits for them.
2. A lane (thread ``transfer-lane-N``) takes a part or a small file
   (:meth:`~.engine.TransferEngine.take_part`, ``take_small``). Taking the
   first unit of a file opens its job: the file's lock, its ``.part``
   (never through a symbolic link), its resume record. The source
   (:mod:`.sources`: the bucket's objects, the access service's signed
   stimulus URLs) describes the GET; the lane adds the ``Range`` and sends it
   on a kept or a new connection (proxy, CA bundle, addresses:
   :mod:`laion_fmri_tui.core.http`).
3. The socket is ready: the lane reads into its one buffer, or straight into
   a span's gather buffer when the bytes belong to a span hashed as it
   arrives (:mod:`.span_gather`), and ``pwrite``s them into the ``.part`` at
   their offset at once; the part's extent in the resume record advances,
   the progress counter and the bandwidth cap are charged.
4. Hashing: a sequential small file is hashed as it is written; a streamed
   span's full gather buffer goes to the span hasher (thread
   ``span-hasher``, or inline on lane 0 in a run of small files only); every
   other span (parts from an earlier run, sha256, spans across parts) is
   read back from the page cache by the hash pool (thread ``hash-pool``)
   once its parts have ended.
5. A unit's answer ends: the lane reports it to :class:`.outcomes.Outcomes`
   (a failure first goes through the run's retry rules and, if retried, back
   to step 2 from the byte reached). Whoever sees the file's last unit end
   and its last span hashed (a lane, the span hasher, the hash pool, or the
   engine's thread at the end) finishes it in ``Outcomes``: checks size and
   digests, ``fdatasync``, renames the ``.part`` to the final path, releases
   the lock and reports ``FileDone`` (or ``FileFailed``, or a refusal's
   ``FileSkipped``). See :mod:`.outcomes` for the locking rule.

Threads and who owns what
-------------------------
- The caller's thread: :meth:`~.engine.TransferEngine.run`; scheduling state
  (the queues of parts and small files, under the engine's lock); after the
  lanes stop, it drains both hashers and cancels what was never started.
- ``transfer-lane-N``: its sockets, connections and transfers (nobody else
  touches them; a dry lane receives transfers in flight only through
  :mod:`.lane_relay`); ``job`` writes at the offsets of its own transfers.
- ``span-hasher``, ``hash-pool``: digests of spans; they never write.
- ``progress``: reads counters, emits at most one ``Progress`` per interval,
  refreshes the locks of files in flight.
- Any thread may call ``pause``/``resume``/``cancel``/``set_bandwidth``: they
  flip the gate (:mod:`.gate`) the lanes read once a turn.
- ``Outcomes`` owns the ends of files: the counts, the failures, the jobs in
  flight; the events the sink receives for them.
"""
