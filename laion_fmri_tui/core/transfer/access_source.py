"""Bytes of the gated stimulus files, through the access service's signed URLs.

One more :class:`~laion_fmri_tui.core.transfer.sources.Source` for the same
engine, so the stimuli get the same ``.part`` files, Range resume, retries and
verification as S3 objects. Signed URLs are short-lived: when storage answers
403, the source asks the service for fresh ones (``/refresh``) and reports
``expired`` so the engine retries the range at once, from the byte it had
reached. Nothing it raises carries the request id or a URL signature.
"""

from __future__ import annotations

import threading

import httpx

from laion_fmri_tui.core.access.errors import AccessServiceError
from laion_fmri_tui.core.http.network import NetworkSettings
from laion_fmri_tui.core.http.retry import FailureKind
from laion_fmri_tui.core.models import PlanItem
from laion_fmri_tui.core.redact import redact
from laion_fmri_tui.core.transfer.lane_transfer import Request
from laion_fmri_tui.core.transfer.sources import Opened, SourceError, classify_status, content_range_start

CONNECT_TIMEOUT, READ_TIMEOUT = 15.0, 60.0

READ = 1024 * 1024


class _Body:
    """``read(n)`` over an httpx streaming response (what the engine expects)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks = response.iter_raw(READ)
        self._buffer = b""

    def read(self, amt: int) -> bytes:
        while len(self._buffer) < amt:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        data, self._buffer = self._buffer[:amt], self._buffer[amt:]
        return data

    def close(self) -> None:
        self._response.close()


class AccessSource:
    """Ranged GETs on signed URLs, re-minted through ``refresh`` when they expire."""

    def __init__(self, client, request_id: str, grant, http: httpx.Client | None = None) -> None:
        self._client = client
        self._request_id = request_id
        self._lock = threading.Lock()
        self._urls = {f.name: f.url for f in grant.files}
        self._generation = 0
        self._network: NetworkSettings = getattr(client, "network", None) or NetworkSettings()
        self._http = http or httpx.Client(timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
                                          follow_redirects=True, verify=self._network.tls_context(),
                                          trust_env=False)

    def lane_request(self, item: PlanItem) -> Request:
        """The signed GET for the multi lane, the same lane as the bucket's objects
        (its proxy, CA and address rules: :mod:`laion_fmri_tui.core.http`)."""
        with self._lock:
            url = self._urls.get(item.dest.name)
        if url is None:
            raise SourceError("missing", f"the access service did not grant {item.dest.name}")
        return Request(url, (), self._network, CONNECT_TIMEOUT, READ_TIMEOUT)

    def status_failure(self, item: PlanItem, status: int, url: str) -> SourceError:
        """What a refusal of the signed URL ``url`` means: 403 is an expired
        link (fresh ones are fetched, once however many transfers saw it)."""
        if status == 403:
            with self._lock:
                current = url in self._urls.values()
                generation = self._generation
            if current:
                self._renew(generation)
            return SourceError("expired", "the download link expired; fetched a fresh one from the access service")
        return classify_status(status, item.dest.name)

    def open(self, item: PlanItem, start: int, end: int | None) -> Opened:
        name = item.dest.name
        with self._lock:
            url, generation = self._urls.get(name), self._generation
        if url is None:
            raise SourceError("missing", f"the access service did not grant {name}")
        headers = {"Range": f"bytes={start}-{'' if end is None else end}"} if start or end is not None else {}
        try:
            response = self._http.send(self._http.build_request("GET", url, headers=headers), stream=True)
        except httpx.HTTPError as error:
            kind = FailureKind.UNREACHABLE if isinstance(error, httpx.ConnectError) else FailureKind.DROPPED
            raise SourceError("transient", f"network error: {type(error).__name__}", retry=kind) from None
        status = response.status_code
        if status in (200, 206):
            first = content_range_start(response.headers.get("content-range")) if status == 206 else 0
            if status == 206 and first is None:
                response.close()
                raise SourceError("transient", "a partial answer without Content-Range")
            return Opened(_Body(response), first or 0)
        response.close()
        if status == 403:
            self._renew(generation)
            raise SourceError("expired", "the download link expired; fetched a fresh one from the access service")
        raise classify_status(status, name, after=response.headers.get("retry-after"))

    def _renew(self, seen_generation: int) -> None:
        """Swap in fresh URLs once, however many workers saw the old ones fail."""
        with self._lock:
            if self._generation != seen_generation:
                return
            try:
                grant = self._client.refresh(self._request_id)
            except AccessServiceError as error:
                raise SourceError("access", redact(str(error))) from None
            self._urls = {f.name: f.url for f in grant.files}
            self._generation += 1

    def close(self) -> None:
        self._http.close()
