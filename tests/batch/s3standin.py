"""A small S3 stand-in on 127.0.0.1 that answers as real S3 does where moto does not.

moto encodes a listed key's space as ``%20``; S3 form-encodes it (``+``, and a
literal ``+`` as ``%2B``). This one does, and can also throttle (503 SlowDown
with Retry-After, for a scripted burst or the first K requests), answer a
listing with an HTML page or a truncated body, redirect with
``x-amz-bucket-region``, refuse every object (403) and send bodies chunked.
Every request is logged with its arrival time, the requests in flight at
arrival and its headers, so tests check order and counts, not speed.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote_plus, unquote, urlsplit
from xml.sax.saxutils import escape

BUCKET = "laion-fmri"
SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>")


@dataclass
class Logged:
    key: str  # "" for a listing
    arrived: float
    in_flight: int  # requests being served when it arrived (itself included)
    headers: dict[str, str]
    query: str = ""
    status: int = 0
    answered: float = 0.0


@dataclass
class Script:
    """How the stand-in bends its answers (tests set these)."""

    burst_for: float = 0.0
    """Every object GET gets 503 for this many seconds from the first object GET."""
    burst_first: int = 0
    """Or: the first this many object GETs get 503."""
    burst_each: bool = False
    """Or: the first GET of each key gets 503."""
    list_burst_for: float = 0.0
    """Every listing gets 503 for this many seconds from the first listing."""
    retry_after: str | None = None
    delay: float = 0.0
    """Seconds every object GET takes (so requests in flight can be counted)."""
    listing: str = "xml"
    """``xml``, ``html`` (a captive portal's page), ``truncated`` (cut mid-document),
    ``redirect`` (301 with x-amz-bucket-region)."""
    objects: str = "ok"
    """``ok``, ``denied`` (403 to every object GET), ``redirect`` (301), ``chunked``."""
    chunked_listing: bool = False


@dataclass
class StandIn:
    objects: dict[str, bytes]
    script: Script = field(default_factory=Script)
    log: list[Logged] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    burst_began: float | None = None
    listings_began: float | None = None
    object_gets: int = 0
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> StandIn:
        stand_in = self

        class Handler(_Handler):
            owner = stand_in

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def gets(self, key: str) -> list[Logged]:
        with self.lock:
            return [r for r in self.log if r.key == key]


def listing_xml(keys: list[str], prefix: str, delimiter: str | None) -> bytes:
    contents, prefixes = [], []
    for key in sorted(keys):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if delimiter and delimiter in rest:
            common = prefix + rest.split(delimiter, 1)[0] + delimiter
            if common not in prefixes:
                prefixes.append(common)
            continue
        contents.append(key)
    enc = lambda text: escape(quote_plus(text, safe="/"))  # noqa: E731 - as S3 does with encoding-type=url
    body = ['<?xml version="1.0" encoding="UTF-8"?>',
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
            f"<Name>{BUCKET}</Name><Prefix>{enc(prefix)}</Prefix><KeyCount>{len(contents)}</KeyCount>",
            "<MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"]
    for key in contents:
        body.append(f"<Contents><Key>{enc(key)}</Key><Size>{{size:{key}}}</Size>"
                    f"<ETag>&quot;{{etag:{key}}}&quot;</ETag><StorageClass>STANDARD</StorageClass></Contents>")
    body += [f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>" for p in prefixes]
    body.append("</ListBucketResult>")
    return "".join(body).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: StandIn

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        owner = self.owner
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        key = path[len(f"/{BUCKET}/"):] if path.startswith(f"/{BUCKET}/") else ""
        with owner.lock:
            owner.in_flight += 1
            record = Logged(key, time.monotonic(), owner.in_flight, {k.lower(): v for k, v in self.headers.items()},
                            parts.query)
            owner.log.append(record)
        status = 0  # the client went away before an answer
        try:
            status = self._answer(owner, key, parse_qs(parts.query))
        finally:
            with owner.lock:
                owner.in_flight -= 1
                record.status, record.answered = status, time.monotonic()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, chunked: bool = False) -> int:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for at in range(0, len(body), 1000):
                piece = body[at:at + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        return status

    def _slowdown(self, script: Script) -> int:
        """S3's throttling answer: 503 SlowDown, with the script's Retry-After."""
        headers = {"Content-Type": "application/xml"}
        if script.retry_after is not None:
            headers["Retry-After"] = script.retry_after
        return self._send(503, SLOWDOWN, headers)

    def _answer(self, owner: StandIn, key: str, query: dict[str, list[str]]) -> int:
        script = owner.script
        if not key:
            return self._listing(owner, query)
        with owner.lock:
            owner.object_gets += 1
            now = time.monotonic()
            owner.burst_began = owner.burst_began or now
            first_of_key = sum(r.key == key for r in owner.log) == 1  # its own record is logged already
            throttled = (owner.object_gets <= script.burst_first or (script.burst_each and first_of_key)
                         or now - owner.burst_began < script.burst_for)
        if script.delay:
            time.sleep(script.delay)
        if throttled:
            return self._slowdown(script)
        if script.objects == "denied":
            return self._send(403, b"<Error><Code>AccessDenied</Code></Error>")
        if script.objects == "redirect":
            return self._send(301, b"<Error><Code>PermanentRedirect</Code></Error>",
                              {"x-amz-bucket-region": "eu-central-1"})
        data = owner.objects.get(key)
        if data is None:
            return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
        asked = self.headers.get("Range")
        headers = {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}
        if asked:
            first, _, last = asked.split("=", 1)[1].partition("-")
            start, end = int(first), int(last) if last else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start:end + 1], headers, chunked=script.objects == "chunked")
        return self._send(200, data, headers, chunked=script.objects == "chunked")

    def _listing(self, owner: StandIn, query: dict[str, list[str]]) -> int:
        script = owner.script
        with owner.lock:
            now = time.monotonic()
            owner.listings_began = owner.listings_began or now
            throttled = now - owner.listings_began < script.list_burst_for
        if throttled:
            return self._slowdown(script)
        if script.listing == "html":
            return self._send(200, b"<html><head><title>Network login</title></head><body><form>"
                                   b"Accept the terms<input type=submit></form></body></html>",
                              {"Content-Type": "text/html"})
        if script.listing == "redirect":
            return self._send(301, b"<Error><Code>PermanentRedirect</Code></Error>",
                              {"x-amz-bucket-region": "eu-central-1"})
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [None])[0]
        body = listing_xml(list(owner.objects), prefix, delimiter).decode()
        for key, data in owner.objects.items():
            body = body.replace(f"{{size:{key}}}", str(len(data)))
            body = body.replace(f"{{etag:{key}}}", hashlib.md5(data).hexdigest())
        raw = body.encode()
        if script.listing == "truncated":
            raw = raw[:len(raw) * 2 // 3]
        return self._send(200, raw, {"Content-Type": "application/xml"}, chunked=script.chunked_listing)
