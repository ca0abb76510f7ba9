"""A shaping reverse proxy for the benchmark (HTTP/1.1, 127.0.0.1 only).

It sits in front of a local S3 server (``rclone serve s3``) and makes it look
a little more like S3 over a real network:

* every request waits a fixed time-to-first-byte (default 30 ms) before it is
  forwarded upstream;
* every client connection is capped at a byte rate for the response bodies
  (default 20 MB/s), like one TCP stream to S3;
* optionally, all connections together share one total link cap;
* optionally, object GETs and HEADs above a request rate over all
  connections are answered ``503 SlowDown`` with ``Retry-After``, as S3
  answers a prefix asked more than about 5,500 GET/s (scaled down here);
* rclone's ``200`` + ``Content-Range`` answers to Range requests are rewritten
  to ``206 Partial Content``;
* it counts connections, requests, bytes and peak concurrency;
* given a :class:`objects.LocalObjects`, it answers object GETs and HEADs
  itself with ``sendfile`` from the served folder (see ``objects.py`` for
  why) and forwards only the rest (listings) upstream.

Each client connection gets its own upstream connection (kept alive as long
as both sides allow it), so the client's connection pool is what is measured.

Library use::

    with ShapingProxy("http://127.0.0.1:9000", ttfb=0.03, conn_rate=20e6) as p:
        ... use p.url ...
    print(p.stats())

Command line::

    python bench/proxy.py --upstream http://127.0.0.1:9000 --ttfb-ms 30 --conn-rate 20M
"""
from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from objects import Answer, LocalObjects

CHUNK = 64 * 1024
FILE_CHUNK = 256 * 1024
"""Bytes per ``sendfile`` call between two pacing steps (13 ms at 20 MB/s)."""
HEAD_LIMIT = 1 << 20

_UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "KI": 1024, "MI": 1024 ** 2, "GI": 1024 ** 3}


def parse_rate(text: str | float | int | None) -> float | None:
    """'20M' -> 20e6 bytes/s, '1Gi' -> 2**30; '0', '' or None -> no cap."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return float(text) or None
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMG]i?)?B?(?:/s)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"bad rate: {text!r}")
    value = float(m.group(1)) * _UNITS[(m.group(2) or "").upper()]
    return value or None


class Pacer:
    """A byte-rate limiter on the 'debt' model: each caller books its bytes and
    sleeps until the booked total is due.  Shared by several coroutines it
    caps their sum; the burst allowance is small (``burst`` seconds).

    ``booked`` and ``first`` let a test read the schedule the pacer kept (bytes
    over seconds booked) instead of timing the wall clock."""

    def __init__(self, rate: float, burst: float = 0.01, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.due = clock()
        self.first: float | None = None
        """When the first bytes were booked."""
        self.booked = 0
        """Bytes booked so far."""

    def book(self, n: int) -> float:
        """Book ``n`` bytes; the seconds the caller must wait before sending them."""
        now = self.clock()
        if self.first is None:
            self.first = now
        self.booked += n
        self.due = max(self.due, now - self.burst) + n / self.rate
        return self.due - now

    def booked_rate(self) -> float:
        """Bytes booked over the seconds from the first booking to the last byte's due
        time: never above ``rate`` by more than the burst allows."""
        span = self.due - self.first if self.first is not None else 0.0
        return self.booked / span if span > 0 else 0.0

    async def take(self, n: int) -> None:
        delay = self.book(n)
        if delay > 0:
            await asyncio.sleep(delay)


class RequestLimiter:
    """S3's request-rate limit, scaled down: a token bucket over all connections.

    Each object GET or HEAD takes a token; tokens come back at ``rate`` per
    second up to ``burst``. A request that finds none is answered ``503
    SlowDown`` (with ``Retry-After``), as S3 answers a prefix asked faster than
    it allows. ``allowed`` and ``refused`` count the decisions."""

    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()
        self.allowed = 0
        self.refused = 0

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.allowed += 1
            return True
        self.refused += 1
        return False


SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")


@dataclass
class Stats:
    connections: int = 0
    requests: int = 0
    bytes_out: int = 0
    open_connections: int = 0
    peak_connections: int = 0
    active_requests: int = 0
    peak_requests: int = 0
    rewritten_206: int = 0
    answered_locally: int = 0
    throttled: int = 0
    """Requests answered 503 SlowDown by the request-rate limit."""
    errors: int = 0
    status: dict = field(default_factory=dict)
    methods: dict = field(default_factory=dict)
    first_object: float | None = None
    """Seconds from the last reset to the first object GET/HEAD: what the client spent before
    (start-up, listings, planning)."""
    timeline: list = field(default_factory=list)
    """Object bytes sent in each quarter second since the last reset: how fast the
    client ramps up and whether it keeps the link full."""


class _Closed(Exception):
    pass


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise _Closed("connection closed inside a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise _Closed("message head too large") from exc


def _split_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _join_head(first: str, headers: list[tuple[str, str]]) -> bytes:
    return ("\r\n".join([first, *(f"{k}: {v}" for k, v in headers)]) + "\r\n\r\n").encode("latin-1")


async def _copy_body(reader, writer, headers, *, until_eof: bool, pacers=(), stats=None) -> None:
    """Copy one message body (Content-Length, chunked, or up to EOF)."""

    async def send(data: bytes) -> None:
        for pacer in pacers:
            await pacer.take(len(data))
        writer.write(data)
        await writer.drain()
        if stats is not None:
            stats.bytes_out += len(data)

    te = (_get(headers, "Transfer-Encoding") or "").lower()
    length = _get(headers, "Content-Length")
    if "chunked" in te:
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                trailer = line
                while True:                      # trailers, then the empty line
                    t = await reader.readuntil(b"\r\n")
                    trailer += t
                    if t == b"\r\n":
                        break
                await send(trailer)
                return
            await send(line)
            left = size + 2                      # data + CRLF
            while left:
                data = await reader.readexactly(min(CHUNK, left))
                left -= len(data)
                await send(data)
    elif length is not None:
        left = int(length)
        while left:
            data = await reader.read(min(CHUNK, left))
            if not data:
                raise _Closed("body cut short")
            left -= len(data)
            await send(data)
    elif until_eof:
        while data := await reader.read(CHUNK):
            await send(data)


async def _read_body(reader, headers) -> bytes:
    """One whole message body, unframed (Content-Length or chunked)."""
    if "chunked" not in (_get(headers, "Transfer-Encoding") or "").lower():
        return await reader.readexactly(int(_get(headers, "Content-Length") or 0))
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the empty line
        pass
    return b"".join(parts)


class ShapingProxy:
    def __init__(self, upstream: str, *, port: int = 0, ttfb: float = 0.030,
                 conn_rate: float | str | None = 20e6, total_rate: float | str | None = None,
                 rewrite_206: bool = True, objects: LocalObjects | None = None,
                 request_rate: float | None = None, request_burst: float | None = None,
                 retry_after: int = 1) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the bench proxy only forwards to loopback")
        self.up_host = parts.hostname
        self.up_port = parts.port or 80
        self.port = port
        self.ttfb = ttfb
        self.conn_rate = parse_rate(conn_rate)
        self.total_rate = parse_rate(total_rate)
        self.rewrite_206 = rewrite_206
        self.objects = objects
        """Answers object GETs/HEADs from the folder; None forwards every request."""
        self.limiter = RequestLimiter(request_rate, request_burst) if request_rate else None
        """Object GETs/HEADs above this rate get ``503 SlowDown``; None: no limit."""
        self.retry_after = retry_after
        """Seconds sent in ``Retry-After`` with each 503."""
        self._stats = Stats()
        self._reset_at = time.monotonic()
        self.total_pacer = Pacer(self.total_rate) if self.total_rate else None
        """The pacer all connections share (the link's total cap), if any."""
        self.connection_pacers: list[Pacer] = []
        """Each connection's pacer since start (or the last ``reset_stats``), to read its schedule."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task] = set()
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        """Counters since start (or the last ``reset_stats``).  ``connections``
        counts connections accepted in that window; connections a client
        keeps alive from before are in ``open_connections``."""
        return asdict(self._stats)

    def reset_stats(self) -> None:
        """Zero the counters in place (handlers keep a reference to them);
        the gauges keep their current values and restart the peaks there."""
        st = self._stats
        for name in ("connections", "requests", "bytes_out", "rewritten_206", "answered_locally", "throttled",
                     "errors"):
            setattr(st, name, 0)
        st.status.clear()
        st.methods.clear()
        st.first_object = None
        st.timeline = []
        self._reset_at = time.monotonic()
        self.connection_pacers.clear()
        st.peak_connections = st.open_connections
        st.peak_requests = st.active_requests

    # ---- serving -------------------------------------------------------
    async def serve(self) -> None:
        """Run until ``stop`` (or cancellation); usable from any event loop."""
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port,
                                                  limit=HEAD_LIMIT, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._started.set()
        try:
            await self._stopped.wait()
        finally:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    async def _handle(self, creader, cwriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        st = self._stats
        st.connections += 1
        st.open_connections += 1
        st.peak_connections = max(st.peak_connections, st.open_connections)
        ureader = uwriter = None
        conn_pacer = Pacer(self.conn_rate) if self.conn_rate else None
        if conn_pacer is not None:
            self.connection_pacers.append(conn_pacer)
        pacers = tuple(p for p in (conn_pacer, self.total_pacer) if p)
        try:
            while True:
                head = await _read_head(creader)
                if head is None:
                    break
                first, headers = _split_head(head)
                method = first.split(" ", 1)[0].upper()
                st.requests += 1
                st.methods[method] = st.methods.get(method, 0) + 1
                st.active_requests += 1
                st.peak_requests = max(st.peak_requests, st.active_requests)
                try:
                    if self.ttfb > 0:
                        await asyncio.sleep(self.ttfb)
                    obj = self.objects.find(method, first.split(" ")[1]) if self.objects else None
                    if obj is not None and st.first_object is None:
                        st.first_object = round(time.monotonic() - self._reset_at, 3)
                    if obj is not None and self.limiter is not None and not self.limiter.allow():
                        st.throttled += 1
                        await self._answer(cwriter, self._slow_down(), pacers)
                        if "close" in (_get(headers, "Connection") or "").lower():
                            break
                        continue
                    if obj is not None:
                        answer = self.objects.answer(obj, method, {k.lower(): v for k, v in headers})
                        await self._answer(cwriter, answer, pacers)
                        if "close" in (_get(headers, "Connection") or "").lower():
                            break
                        continue
                    if uwriter is None or ureader.at_eof() or uwriter.is_closing():
                        if uwriter is not None:
                            uwriter.close()
                        ureader, uwriter = await asyncio.open_connection(
                            self.up_host, self.up_port, limit=HEAD_LIMIT)
                    uwriter.write(head)
                    await _copy_body(creader, uwriter, headers, until_eof=False)
                    await uwriter.drain()

                    rhead = await _read_head(ureader)
                    if rhead is None:
                        raise _Closed("upstream closed before answering")
                    status_line, rheaders = _split_head(rhead)
                    version, _, rest = status_line.partition(" ")
                    code = rest.split(" ", 1)[0]
                    if (self.rewrite_206 and code == "200"
                            and _get(rheaders, "Content-Range") is not None):
                        status_line = f"{version} 206 Partial Content"
                        code = "206"
                        st.rewritten_206 += 1
                        rhead = _join_head(status_line, rheaders)
                    st.status[code] = st.status.get(code, 0) + 1
                    if not (code == "200" and "?" in first.split(" ")[1] and self.objects is not None
                            and self.objects.rewrites_listings):
                        cwriter.write(rhead)
                    no_body = method == "HEAD" or code in ("204", "304") or code.startswith("1")
                    up_close = "close" in (_get(rheaders, "Connection") or "").lower()
                    framed = (_get(rheaders, "Content-Length") is not None
                              or "chunked" in (_get(rheaders, "Transfer-Encoding") or "").lower())
                    if (not no_body and framed and code == "200" and "?" in first.split(" ")[1]
                            and self.objects is not None and self.objects.rewrites_listings):
                        await self._send_listing(ureader, cwriter, status_line, rheaders, pacers)
                    elif not no_body:
                        await _copy_body(ureader, cwriter, rheaders, until_eof=not framed,
                                         pacers=pacers, stats=st)
                    await cwriter.drain()
                finally:
                    st.active_requests -= 1
                if (up_close or (not no_body and not framed)
                        or "close" in (_get(headers, "Connection") or "").lower()):
                    break
        except (_Closed, OSError, asyncio.IncompleteReadError, ValueError, RuntimeError):
            # RuntimeError: asyncio's sendfile to a client that went away (killed)
            st.errors += 1
        except asyncio.CancelledError:
            pass
        finally:
            st.open_connections -= 1
            for w in (cwriter, uwriter):
                if w is not None:
                    w.close()
            self._tasks.discard(task)

    async def _send_listing(self, ureader, cwriter, status_line: str, rheaders, pacers) -> None:
        """A listing, whole, with the ETags the objects would have on S3 (see objects.py)."""
        body = self.objects.rewrite_listing(await _read_body(ureader, rheaders))
        headers = [(k, v) for k, v in rheaders if k.lower() not in ("content-length", "transfer-encoding")]
        cwriter.write(_join_head(status_line, [*headers, ("Content-Length", str(len(body)))]))
        for pacer in pacers:
            await pacer.take(len(body))
        cwriter.write(body)
        self._stats.bytes_out += len(body)

    def _slow_down(self) -> Answer:
        """S3's answer to a request above the rate: 503, an XML error, ``Retry-After``."""
        return Answer(503, "Slow Down", [("Content-Type", "application/xml"),
                                         ("Content-Length", str(len(SLOW_DOWN))),
                                         ("Retry-After", str(self.retry_after))], body=SLOW_DOWN)

    async def _answer(self, writer: asyncio.StreamWriter, answer: Answer, pacers) -> None:
        """Send a locally answered request: the head, then the file's bytes by
        ``sendfile`` in paced steps (or a short error body)."""
        st = self._stats
        st.answered_locally += 1
        code = str(answer.status)
        st.status[code] = st.status.get(code, 0) + 1
        writer.write(_join_head(f"HTTP/1.1 {answer.status} {answer.reason}", answer.headers) + answer.body)
        await writer.drain()
        if answer.path is None or not answer.count:
            return
        loop = asyncio.get_running_loop()
        with open(answer.path, "rb") as handle:
            pos, left = answer.offset, answer.count
            while left:
                step = min(FILE_CHUNK, left)
                for pacer in pacers:
                    await pacer.take(step)
                sent = await loop.sendfile(writer.transport, handle, pos, step)
                if not sent:
                    raise _Closed("client stopped reading")
                pos += sent
                left -= sent
                st.bytes_out += sent
                slot = int((time.monotonic() - self._reset_at) * 4)
                if slot >= len(st.timeline):
                    st.timeline.extend([0] * (slot + 1 - len(st.timeline)))
                st.timeline[slot] += sent

    # ---- thread helpers ------------------------------------------------
    def start(self) -> ShapingProxy:
        """Serve from a background thread; returns once the port is bound."""
        def run() -> None:
            try:
                asyncio.run(self.serve())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                self._start_error = exc
                self._started.set()
        self._thread = threading.Thread(target=run, name="shaping-proxy", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._start_error is not None:
            raise RuntimeError("proxy failed to start") from self._start_error
        if not self._started.is_set():
            raise TimeoutError("proxy did not start")
        return self

    def stop(self) -> dict:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        return self.stats()

    def __enter__(self) -> ShapingProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> None:
    import argparse
    import signal
    ap = argparse.ArgumentParser(description="shaping reverse proxy for the bench (127.0.0.1 only)")
    ap.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9000")
    ap.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    ap.add_argument("--ttfb-ms", type=float, default=30.0, help="delay per request (default 30)")
    ap.add_argument("--conn-rate", default="20M", help="cap per connection, bytes/s (default 20M; 0 = none)")
    ap.add_argument("--total-rate", default=None, help="cap over all connections, bytes/s (default none)")
    ap.add_argument("--no-rewrite-206", action="store_true", help="pass rclone's 200+Content-Range through")
    ap.add_argument("--request-rate", type=float, default=None,
                    help="object GETs/HEADs per second over all connections before 503 SlowDown (default none)")
    a = ap.parse_args(argv)
    proxy = ShapingProxy(a.upstream, port=a.port, ttfb=a.ttfb_ms / 1000,
                         conn_rate=a.conn_rate, total_rate=a.total_rate,
                         rewrite_206=not a.no_rewrite_206, request_rate=a.request_rate)

    async def run() -> None:
        task = asyncio.create_task(proxy.serve())
        while not proxy._started.is_set() and not task.done():
            await asyncio.sleep(0.01)
        print(proxy.url, flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, proxy._stopped.set)
        await task

    asyncio.run(run())
    print(json.dumps(proxy.stats()), flush=True)


if __name__ == "__main__":
    main()
