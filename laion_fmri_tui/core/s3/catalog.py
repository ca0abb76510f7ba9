"""Live bucket listings, cached for the run.

Two views of one bucket: :meth:`Catalog.level` lists one prefix level
(``Delimiter="/"``), which is what the app's tree expands lazily;
:meth:`Catalog.objects` lists everything under a prefix, which is what the
planner needs. Both follow continuation tokens past 1,000 keys. A recursive
listing, once made, also answers level listings beneath it, so the tree does
not re-list what the planner already saw.

A listing is a chain of pages (each page's token names the next), but
separate prefixes are independent: :meth:`Catalog.list_ahead` lists several
at once, so a plan over many subjects costs a few round trips, not one per
prefix and page in sequence, and returns without waiting: the planner works
through the first subject's files while later subjects are still being
listed (a 100,000-key plan spent a third of its time on per-key work after
the last page had arrived). :meth:`Catalog.levels_ahead` starts several
single levels at once the same way (subject discovery). One prefix longer
than a page is itself split by its next level (sessions, then folders) and
its parts listed at once (:meth:`Catalog._walk`): a subject of 20,000 keys
is three round trips deep, not twenty.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from laion_fmri_tui.core.errors import BucketUnreachableError
from laion_fmri_tui.core.models import Listing, RemoteObject, normalise_etag
from laion_fmri_tui.core.s3.client import ListingError, S3Http
from laion_fmri_tui.core.settings import S3Settings, ServiceSettings

SUBJECT_ROOTS = (
    "derivatives/glmsingle-tedana/",
    "derivatives/rois/",
    "derivatives/freesurfer/",
    "derivatives/anatomical/",
    "",
)
"""Prefixes whose ``sub-*`` children name the subjects (upstream's order)."""

LISTING_THREADS = 16
"""Prefixes listed at once by :meth:`Catalog.list_ahead` and :meth:`Catalog.levels_ahead`."""


def pool_settings(settings: ServiceSettings) -> S3Settings:
    """The S3 settings with a connection pool that fits the engine's workers
    and the listing threads (which share the one pool)."""
    pool = max(settings.s3.max_connections, settings.engine.jobs + LISTING_THREADS)
    return dataclasses.replace(settings.s3, max_connections=pool)


class Catalog:
    """A lazily filled, thread-safe cache of bucket listings."""

    def __init__(self, client: S3Http, bucket: str) -> None:
        self._client = client
        self._bucket = bucket
        self._lock = threading.Lock()
        self._levels: dict[str, Listing] = {}
        self._trees: dict[str, tuple[RemoteObject, ...]] = {}
        self._pending: dict[str, Future] = {}
        """Recursive listings started by :meth:`list_ahead`, until they are stored."""
        self._pending_levels: dict[str, Future] = {}
        """Level listings started by :meth:`levels_ahead`, until they are stored."""

    @property
    def bucket(self) -> str:
        return self._bucket

    def level(self, prefix: str) -> Listing:
        """One level under ``prefix`` (``""`` or ending in ``/``)."""
        with self._lock:
            cached = self._levels.get(prefix) or self._level_from_tree(prefix)
            pending = self._pending_levels.get(prefix)
        if cached is not None:
            return cached
        if pending is not None:
            return self._wait(self._pending_levels, prefix, pending)
        return self._list_level(prefix)

    def _list_level(self, prefix: str) -> Listing:
        prefixes, objects = self._split(prefix)
        listing = Listing(prefix, tuple(prefixes), tuple(o for o in objects if o.key != prefix))
        with self._lock:
            self._levels[prefix] = listing
        return listing

    def objects(self, prefix: str) -> tuple[RemoteObject, ...]:
        """Every object under ``prefix``, recursively, in key order (waiting for
        a listing :meth:`list_ahead` started, and raising its error)."""
        with self._lock:
            cached = self._from_trees(prefix)
            pending = next(((root, f) for root, f in self._pending.items() if prefix.startswith(root)), None)
        if cached is not None:
            return cached
        if pending is not None:
            self._wait(self._pending, *pending)
            with self._lock:
                cached = self._from_trees(prefix)
            if cached is not None:
                return cached
        return self._list_tree(prefix)

    def list_ahead(self, prefixes: Iterable[str]) -> None:
        """Start recursive listings of ``prefixes`` (a few at once, in this order)
        and return without waiting: :meth:`objects` waits for its own."""
        with self._lock:
            self._forget_failed(self._pending)
            todo = [p for p in dict.fromkeys(prefixes)
                    if p not in self._pending and not any(p.startswith(root) for root in self._trees)]
            self._start(todo, self._pending, self._list_tree)

    def levels_ahead(self, prefixes: Iterable[str]) -> None:
        """Start level listings of ``prefixes`` and return without waiting:
        :meth:`level` waits for its own (``--batch`` loads the transfer engine
        during subject discovery's round trip)."""
        with self._lock:
            self._forget_failed(self._pending_levels)
            todo = [p for p in dict.fromkeys(prefixes) if p not in self._levels
                    and p not in self._pending_levels and self._level_from_tree(p) is None]
            self._start(todo, self._pending_levels, self._list_level)

    def _start(self, todo: list[str], pending: dict[str, Future], listing: Callable[[str], object]) -> None:
        """Run ``listing`` for each of ``todo`` on a pool of their own, noted in
        ``pending`` (the caller holds the lock); the pool ends with its last one."""
        if not todo:
            return
        pool = ThreadPoolExecutor(max_workers=min(LISTING_THREADS, len(todo)), thread_name_prefix="listing")
        for prefix in todo:
            pending[prefix] = pool.submit(self._ahead, pending, listing, prefix)
        pool.shutdown(wait=False)

    def cancel_ahead(self) -> None:
        """Drop the listings :meth:`list_ahead` and :meth:`levels_ahead` queued that
        have not started (those running finish; a retried failure can take seconds each)."""
        with self._lock:
            for pending in (self._pending, self._pending_levels):
                for prefix, future in list(pending.items()):
                    if future.cancel():
                        del pending[prefix]

    def _ahead(self, pending: dict[str, Future], listing: Callable[[str], object], prefix: str) -> object:
        """A listing started ahead, forgotten once stored. A failed one stays
        noted until a waiter has taken its error (:meth:`_wait`) or the next
        round of listings ahead starts it again: forgetting it at once let a
        waiter that came a moment late list the prefix again and never see
        the failure (the browser then showed no error, order-dependently)."""
        result = listing(prefix)
        with self._lock:
            pending.pop(prefix, None)
        return result

    def _wait(self, pending: dict[str, Future], prefix: str, future: Future) -> object:
        """The result of a listing started ahead; its error is handed to one
        waiter, and the failed listing forgotten, so the next ask lists again."""
        try:
            return future.result()
        except BaseException:
            with self._lock:
                if pending.get(prefix) is future:
                    del pending[prefix]
            raise

    @staticmethod
    def _forget_failed(pending: dict[str, Future]) -> None:
        """Drop failed listings nobody took (lock held): a new round lists them again."""
        for prefix, future in list(pending.items()):
            if future.done() and not future.cancelled() and future.exception() is not None:
                del pending[prefix]

    def _from_trees(self, prefix: str) -> tuple[RemoteObject, ...] | None:
        """``prefix``'s objects from a stored recursive listing that covers it (lock held)."""
        for root, tree in self._trees.items():
            if prefix.startswith(root):
                return tuple(o for o in tree if o.key.startswith(prefix))
        return None

    def _list_tree(self, prefix: str) -> tuple[RemoteObject, ...]:
        tree = tuple(o for o in self._walk(prefix, prefix) if not o.key.endswith("/"))
        with self._lock:
            self._trees[prefix] = tree
        return tree

    def _walk(self, prefix: str, shown: str) -> list[RemoteObject]:
        """Every object under ``prefix``, in the bucket's key order.

        Pages of one prefix come one after another (each token names the
        next), so a prefix of 20,000 keys costs 20 round trips in a row: 40 s
        of a plan at 150 ms. Its first page is asked for as before (a prefix
        that fits in one page costs one round trip); when it is cut short, the
        prefix's next level (``Delimiter="/"``: sessions under a subject,
        folders under a session) is listed, and its children are walked at
        once, each split again the same way. The keys are the same, and sorted
        back into the order one listing gives. Errors name ``shown``, the
        prefix the caller asked for."""
        pages = self._pages(prefix, None, shown)
        first = next(pages)
        if not (first.get("IsTruncated") and first.get("NextContinuationToken")):
            return _objects(first)
        pages.close()
        children, direct = self._split(prefix, shown)
        if not children:  # a flat folder: its level listing held every key
            return direct
        found = direct
        with ThreadPoolExecutor(max_workers=min(LISTING_THREADS, len(children)),
                                thread_name_prefix="listing-split") as pool:
            walks = [pool.submit(self._walk, child, shown) for child in children]
            try:
                for walk in walks:
                    found.extend(walk.result())
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        found.sort(key=lambda o: o.key)  # code point order is S3's UTF-8 byte order
        return found

    def _split(self, prefix: str, shown: str | None = None) -> tuple[list[str], list[RemoteObject]]:
        """``prefix``'s child prefixes and the objects directly in it (errors name
        ``shown``, if given, else ``prefix``)."""
        children: list[str] = []
        direct: list[RemoteObject] = []
        for page in self._pages(prefix, "/", shown):
            children.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
            direct.extend(_objects(page))
        return children, direct

    def subjects(self) -> list[str]:
        """Sorted subject ids found under the upstream discovery prefixes."""
        self.levels_ahead(SUBJECT_ROOTS)  # at once; level() waits for each, and raises its error
        found: set[str] = set()
        for root in SUBJECT_ROOTS:
            found.update(n for n in self.level(root).names if n.startswith("sub-"))
        return sorted(found)

    def _level_from_tree(self, prefix: str) -> Listing | None:
        for root, tree in self._trees.items():
            if not prefix.startswith(root):
                continue
            children: set[str] = set()
            objects = []
            for obj in tree:
                if not obj.key.startswith(prefix):
                    continue
                rest = obj.key[len(prefix):]
                if "/" in rest:
                    children.add(prefix + rest.split("/", 1)[0] + "/")
                else:
                    objects.append(obj)
            return Listing(prefix, tuple(sorted(children)), tuple(objects))
        return None

    def _pages(self, prefix: str, delimiter: str | None, shown: str | None = None):
        kwargs = {"Bucket": self._bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        try:
            while True:
                page = self._client.list_objects_v2(**kwargs)
                yield page
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    return
                kwargs["ContinuationToken"] = token
        except ListingError as error:
            what = f"s3://{self._bucket}/{prefix if shown is None else shown}"
            raise unreachable(error, self._client.contacted(self._bucket), what) from None


def unreachable(error: ListingError, endpoint: str, what: str) -> BucketUnreachableError:
    """The one line (exit 4) for a request to ``endpoint`` that failed for good:
    a listing of ``what``, or the probe of a ``--plan`` run, which says the same."""
    if error.whole:  # a proxy's refusal, an untrusted certificate: the reason says it all
        return BucketUnreachableError(str(error))
    if error.status is not None:
        return BucketUnreachableError(f"listing {what} failed (HTTP {error.status}); "
                                      "check --endpoint-url and try again")
    return BucketUnreachableError(f"could not reach the S3 endpoint {endpoint} ({error}); "
                                  "check your network or --endpoint-url")


def _objects(page: dict) -> list[RemoteObject]:
    return [
        RemoteObject(o["Key"], int(o["Size"]), normalise_etag(o.get("ETag")))
        for o in page.get("Contents", ())
    ]

