"""The transfer engine: every GET of a run on a few epoll threads, resumable ``.part`` files.

The bytes are verified as they arrive and before any rename, by the rules of
:mod:`laion_fmri_tui.core.integrity` (which imports nothing from here).

Words (each means one thing here)
---------------------------------
- **lane**: one thread that keeps hundreds of GETs in flight on non-blocking
  sockets and one ``epoll`` (:class:`.lane.Lane`); a run has one per
  core, two at most. (The MD5 code steps 16 digests together in one SIMD
  *step* of :data:`~laion_fmri_tui.core.integrity.md5_steps.WIDTH` streams;
  it has no lanes.)
- **job**: one file being fetched (:class:`.filejob.FileJob`): its ``.part``
  file (``job.part_file``), resume record, verifier, lock.
- **part**: a ranged piece of a large file, ``job.part_size`` bytes, fetched
  by its own GET; a small file is one whole-file GET. Either is a **unit**:
  what one GET fetches, retried from the byte it reached.
- **transfer**: a unit in flight on a lane (:class:`.lane_transfer.LaneTransfer`):
  its connection, the answer's head, the cursor.
- **span**: a range a digest covers
  (:class:`~laion_fmri_tui.core.integrity.content_checks.Span`): one upload
  part of a multipart ETag, or the whole file.
- **chunk** only ever means HTTP's ``Transfer-Encoding: chunked``
  (:class:`laion_fmri_tui.core.http.wire.ChunkReader`).

One byte, from socket to verified file
--------------------------------------
1. The engine (:class:`.engine.TransferEngine`, the caller's thread) splits
   the plan: files above the threshold wait, unopened, in one shared deque
   (``_PartQueues.items``); each has its parts queued only once a lane opens
   it, on that lane's own queue (a lane with none left takes the last part
   of the lane with the most). Small files wait in one queue that only lane 0
   takes from. A run with no file in parts has a single lane. The engine
   starts the lanes and waits for them; then files another live process was
   fetching get a second pass (``_await_others``: skipped if that process
   finished them, fetched here from its parked temp files if it did not).
2. A lane (thread ``transfer-lane-N``) takes a part or a small file from
   its work supply (:class:`.lane.WorkSupply`, the engine's scheduling:
   :meth:`~.engine.TransferEngine.take_part`, ``take_small``). Taking the
   first unit of a file opens its job: the file's lock, its ``.part``
   (never through a symbolic link), its resume record. The source
   (:mod:`.sources`: the bucket's objects, the access service's signed
   stimulus URLs) describes the GET; the lane adds the ``Range`` and sends it
   on a kept or a new connection (proxy, CA bundle, addresses:
   :mod:`laion_fmri_tui.core.http`).
3. The socket is ready: the lane reads into its one buffer, or straight into
   a span's gather buffer when the bytes belong to a span hashed as it
   arrives (:mod:`~laion_fmri_tui.core.integrity.span_gather`), and
   ``pwrite``s them into the ``.part`` at
   their offset at once; the progress counter and the bandwidth cap are
   charged. Only a ranged part has an extent in the resume record: it is
   rewritten in place after every 256 KiB of the part or 20 ms since its last
   update, whichever comes first, and when the part completes
   (:class:`laion_fmri_tui.core.disk.partfile.ExtentWriter`). A file fetched
   sequentially (one GET) resumes from the ``.part``'s length instead.
4. Hashing: a small file fetched from byte 0 whose ETag is its plain MD5 is
   one span that goes to the span hasher (``FileJob._stream_whole``); only a
   sequential file resumed from a kept prefix, checked by sha256, or with a
   multipart ETag is hashed in :meth:`.filejob.FileJob.store` as it is
   written. In a file in parts, a span that lies inside one part fetched now
   goes to the span hasher as its gather buffer fills (thread
   ``span-hasher``, or inline on lane 0 in a run of small files only); every
   other span (parts from an earlier run, sha256, spans across parts) is
   read back from the page cache by the hash pool (thread ``hash-pool``)
   once its parts have ended.
5. A unit's answer ends: the lane reports it to :class:`.outcomes.Outcomes`
   (a failure first goes to the run's :class:`.retrier.Retrier`, which
   says whether and when: if retried, the unit stays on its lane and is sent
   again from the byte reached). Every hashed span and every failure
   found off the units' path is reported there too. Whichever report leaves
   the file with no unit outstanding and either a failure or no span left
   (a lane, the span hasher, the hash pool, or the engine's thread at the
   end) finishes it, on its own thread, in ``Outcomes``: checks size and
   digests, ``fdatasync``, renames the ``.part`` to the final path, removes
   the resume record, remembers a sha256 in ``verified.json``, releases the
   lock and reports ``FileDone`` (or ``FileFailed``, or a refusal's
   ``FileSkipped``). See :mod:`.outcomes` for the locking rule: one claim
   (:meth:`.filejob.FileJob.claim_wrap_up`, called by ``Outcomes`` alone)
   makes that happen exactly once.

Threads and who owns what
-------------------------
- The caller's thread: :meth:`~.engine.TransferEngine.run`; starts the lanes
  and the progress thread, and after the lanes stop it drains both hashers
  (finishing the files they complete) and cancels what was never started.
- ``transfer-lane-N``: its sockets, connections and transfers (nobody else
  touches them; a dry lane receives transfers in flight only through
  :mod:`.lane_relay`); ``job`` writes at the offsets of its own transfers.
  Scheduling (taking parts and small files, opening files) runs on the lane
  threads, under the engine's lock.
- ``span-hasher``, ``hash-pool``: digests of spans; through ``Outcomes``
  they finish the file whose last span they hashed (``fdatasync``, rename,
  record removal, ``verified.json``).
- ``progress``: reads counters, emits at most one ``Progress`` per interval,
  refreshes the locks of files in flight.
- Any thread may call ``pause``/``resume``/``cancel``/``set_bandwidth``: they
  flip the gate (:class:`.gate.RunGate`) the lanes read once a turn.

Who owns each decision a lane meets (see :mod:`.lane`): what to fetch next,
the engine (:class:`.lane.WorkSupply`); run, hold or drop, and how fast, the
gate (:class:`.gate.RunGate`); try again or give up, the retrier
(:class:`.retrier.Retrier`); how a file ends, :class:`.outcomes.Outcomes`.
- ``Outcomes`` owns the ends of files: the counts, the failures, the jobs in
  flight; the events the sink receives for them.
- When the engine runs in a child process (the app's
  :mod:`laion_fmri_tui.core.run.engine_process`), that child also runs a
  ``commands`` thread (pause, resume, cancel, bandwidth from the parent) and
  an ``events`` thread (sends the sink's events back).
"""
