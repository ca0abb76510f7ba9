"""moto's S3 server, in-process on 127.0.0.1, with a request log and fault knobs.

Tests need more than a fake bucket: they must see which requests the client
made (ranges, retries, bytes actually served), slow a transfer down to watch
progress or cancel it, and make a GET fail (503 SlowDown) or die mid-body to
prove retries and resume. moto's ``ThreadedMotoServer`` offers none of that,
so we serve moto's WSGI app ourselves behind a small middleware.

moto keeps its state in process-global backends: every server in a process
shares one bucket, and a ``mock_aws`` block wipes it on exit.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.parse
import time
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import boto3
import botocore.session
from botocore.config import Config
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import ThreadedWSGIServer


from . import synthetic
from .serving import BackgroundServer, QuietErrors, log
from .synthetic import BUCKET, REGION, SyntheticObject

FAULT_KINDS = ("503", "reset", "flip")
RESET_BYTES = 1024  # at most this much body goes out before a "reset" drops the connection
_SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")
StartResponse = Callable[..., Any]
ISOLATED_SESSION_VARS = {
    "profile": (None, None, None, None),
    "config_file": (None, None, os.devnull, None),
    "credentials_file": (None, None, os.devnull, None),
    "region": (None, None, REGION, None),
}
"""botocore session variables whose environment and config-file lookups are
switched off: the seeding client must not read the developer's AWS set-up."""


@dataclass
class RequestRecord:
    """One HTTP request as the server saw it; filled in while it streams."""

    method: str
    key: str  # object key (URL-unquoted); "" for bucket-level calls such as listings
    query: str  # raw query string
    range: str | None  # the Range header, verbatim
    status: int = 0  # 0 until the app answered
    bytes_sent: int = 0  # body bytes handed to the socket
    time: float = 0.0  # time.monotonic() on arrival
    duration: float | None = None  # seconds until the body was done; None while streaming
    fault: str | None = None  # injected fault kind, if any
    signed: bool = False  # an Authorization header or a presigned signature came with it
    port: int = 0  # the client's source port: which connection (so which process) asked


class _QuietHandler(MotoRequestHandler):
    """No werkzeug access-log line per request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _Server(QuietErrors, ThreadedWSGIServer):
    """werkzeug's threaded server; a failed request is one log line, never a traceback
    (werkzeug logs "Error on request" with the whole traceback to stderr)."""

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            lines = (message % args if args else message).strip().splitlines() or ["a request failed"]
            log.error("%s", lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}")  # the exception's line
            return
        super().log(type, message, *args)


class _Router:
    """S3 calls go straight to moto's S3 app: its dispatcher re-lists moto's
    package directory on every request (~2 ms, half a small GET)."""

    def __init__(self) -> None:
        self.dispatcher = DomainDispatcherApplication(create_backend_app)
        self.s3 = create_backend_app("s3")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        app = self.dispatcher if environ.get("PATH_INFO", "").startswith("/moto-api") else self.s3
        return app(environ, start_response)


HOLD_LIMIT = 60.0
"""Seconds a held listing waits at most (a failure bound, never reached when a test releases it)."""


def _listed_prefix(query: str) -> str:
    return parse_qs(query).get("prefix", [""])[0]


def _key_of(environ: dict[str, Any]) -> str:
    path = unquote((environ.get("RAW_URI") or environ.get("PATH_INFO", "")).split("?", 1)[0])
    bucket = f"/{BUCKET}"
    if path in (bucket, bucket + "/"):
        return ""
    return path[len(bucket) + 1:] if path.startswith(bucket + "/") else path.lstrip("/")


def _stream(rec: RequestRecord, body: Iterable[bytes], rate: int | None,
            environ: dict[str, Any]) -> Iterator[bytes]:
    """Pass the body through, counting it, pacing it, or cutting it short."""
    try:
        if rec.fault == "reset":
            data = b"".join(body)
            chunk = data[:min(RESET_BYTES, len(data) // 2)]
            rec.bytes_sent += len(chunk)
            yield chunk
            # Shut the socket under werkzeug: the client sees EOF mid-body.
            with contextlib.suppress(OSError):
                environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return
        due = time.monotonic()
        if rec.fault == "flip":  # every byte arrives, the first one wrong: only a checksum sees it
            body = _flip_first(body)
        for block in body:
            if not rate:
                rec.bytes_sent += len(block)
                yield block
                continue
            piece = max(1024, min(64 * 1024, rate // 16))
            for i in range(0, len(block), piece):
                chunk = block[i:i + piece]
                now = time.monotonic()
                # A thread starved of CPU does not catch up in a burst: at most one
                # piece ahead of the pace, as a real link's rate works (a burst would
                # park megabytes in the client's socket, lost at a kill, and tests
                # that count what a kill costs would measure the server's lag).
                due = max(due, now - piece / rate) + len(chunk) / rate
                if due > now:
                    time.sleep(due - now)
                rec.bytes_sent += len(chunk)
                yield chunk
    finally:
        if hasattr(body, "close"):
            body.close()
        rec.duration = time.monotonic() - rec.time


def _flip_first(body: Iterable[bytes]) -> Iterator[bytes]:
    flipped = False
    for block in body:
        if block and not flipped:
            block, flipped = bytes([block[0] ^ 0xFF]) + block[1:], True
        yield block


def _listing_fault_key(query: str) -> str:
    """The fault-queue name of a listing of one prefix (never a valid key: it starts with NUL)."""
    prefix = urllib.parse.parse_qs(query, keep_blank_values=True).get("prefix", [""])[0]
    return f"\0listing:{prefix}"


class LocalS3Server(BackgroundServer):
    """moto's S3 app behind a WSGI middleware, served by werkzeug on 127.0.0.1."""

    label = "local-s3"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.objects: dict[str, SyntheticObject] = {}  # what seed() stored, by key
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._rates: dict[str | None, int] = {}
        self._faults: dict[str, list[str]] = {}
        self._holds: dict[str, threading.Event] = {}
        self._admin: Any = None
        self._app = _Router()
        self.part_numbers = True
        """Whether ``GET``/``HEAD ?partNumber=N`` answer with part N, as S3 and
        moto do; False: the query is ignored (the whole object), as by servers
        without it."""

    def _make_server(self) -> ThreadedWSGIServer:
        return _Server(self.host, self.port, self._wsgi, handler=_QuietHandler)

    def _wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The middleware: log the request, inject faults, wrap the body."""
        method = environ["REQUEST_METHOD"]
        if not self.part_numbers:
            environ["QUERY_STRING"] = "&".join(
                field for field in environ.get("QUERY_STRING", "").split("&") if not field.startswith("partNumber="))
        rec = RequestRecord(method, _key_of(environ), environ.get("QUERY_STRING", ""),
                            environ.get("HTTP_RANGE"), time=time.monotonic(),
                            signed="HTTP_AUTHORIZATION" in environ
                            or "X-Amz-Signature" in environ.get("QUERY_STRING", ""),
                            port=int(environ.get("REMOTE_PORT") or 0))
        object_get = method == "GET" and rec.key != ""
        with self._lock:
            self._requests.append(rec)
            queue = None
            if method == "GET":  # "" = bucket listings; a listing of one prefix first
                if rec.key == "":
                    queue = self._faults.get(_listing_fault_key(rec.query))
                if not queue:
                    queue = self._faults.get(rec.key)
            rec.fault = queue.pop(0) if queue else None
            rate = self._rates.get(rec.key, self._rates.get(None)) if object_get else None
            hold = self._holds.get(_listed_prefix(rec.query)) if method == "GET" and rec.key == "" else None
        if hold is not None:
            hold.wait(HOLD_LIMIT)
        if rec.fault == "503":
            rec.status, rec.bytes_sent, rec.duration = 503, len(_SLOWDOWN), 0.0
            start_response("503 Slow Down", [("Content-Type", "application/xml"),
                                             ("Content-Length", str(len(_SLOWDOWN)))])
            return [_SLOWDOWN]

        def recording_start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            rec.status = int(status.split(None, 1)[0])
            return start_response(status, headers, exc_info)

        return _stream(rec, self._app(environ, recording_start_response), rate, environ)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear_log(self) -> None:
        with self._lock:
            self._requests.clear()

    def gets(self, key: str) -> list[RequestRecord]:
        """GET records for one object key."""
        return [r for r in self.requests if r.method == "GET" and r.key == key]

    def bytes_sent(self, key: str | None = None) -> int:
        """Object bytes served: bodies of 200/206 answers (cut-off ones included)."""
        return sum(r.bytes_sent for r in self.requests
                   if r.status in (200, 206) and (key is None or r.key == key))

    def throttle(self, key: str | None, bytes_per_second: int | None) -> None:
        """Pace GET bodies of ``key`` (None = every key); a None rate switches it off."""
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive")
        with self._lock:
            if bytes_per_second is None:
                self._rates.pop(key, None)
            else:
                self._rates[key] = bytes_per_second

    def fail_next(self, key: str, count: int, kind: str = "503", *, prefix: str | None = None) -> None:
        """Make the next ``count`` GETs of ``key`` ("" = listings) fail: "503" SlowDown, or "reset"
        (headers and up to RESET_BYTES of body, then the connection drops), or "flip" (the whole body
        with its first byte inverted). With ``key=""`` and ``prefix``, only listings of that
        prefix fail ("" = the bucket's top level): the app lists several levels at once, so
        "the next listing" is whichever the scheduler sent first."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}, not {kind!r}")
        if prefix is not None:
            if key:
                raise ValueError("prefix applies to listings only (key must be '')")
            key = _listing_fault_key(f"prefix={urllib.parse.quote(prefix, safe='')}")
        with self._lock:
            self._faults.setdefault(key, []).extend([kind] * count)

    def hold_listings(self, prefix: str) -> threading.Event:
        """Hold every listing of exactly ``prefix`` (logged on arrival) until the
        returned event is set: a barrier that makes one listing the slow one
        without timing. :meth:`reset` releases every hold."""
        with self._lock:
            return self._holds.setdefault(prefix, threading.Event())

    def reset(self) -> None:
        """Clear the log, throttles, pending faults and holds (the bucket is untouched)."""
        with self._lock:
            self._requests.clear()
            self._rates.clear()
            self._faults.clear()
            for event in self._holds.values():
                event.set()
            self._holds.clear()

    def admin(self) -> Any:
        """A signed boto3 S3 client (dummy credentials) for seeding and mutating."""
        if self._admin is None:
            core = botocore.session.Session(session_vars=ISOLATED_SESSION_VARS)
            self._admin = boto3.Session(botocore_session=core).client(
                "s3", endpoint_url=self.url, region_name=REGION,
                aws_access_key_id="testing", aws_secret_access_key="testing",
                config=Config(s3={"addressing_style": "path"},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required",
                              ignore_configured_endpoint_urls=True))
        return self._admin


def held_out_policy(keys: Iterable[str]) -> dict[str, Any]:
    """A bucket policy denying GetObject on exactly these keys (the embargo)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyHeldOutSessions", "Effect": "Deny", "Principal": "*",
        "Action": "s3:GetObject", "Resource": [f"arn:aws:s3:::{BUCKET}/{k}" for k in sorted(keys)]}]}


def _upload(client: Any, obj: SyntheticObject) -> None:
    """PUT one object over HTTP, as a multipart upload if it asks for one."""
    acl = {"ACL": "public-read"} if obj.public else {}
    size = obj.multipart_part_size
    if size is None:
        client.put_object(Bucket=BUCKET, Key=obj.key, Body=obj.data, **acl)
        return
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=obj.key, **acl)["UploadId"]
    parts = []
    for number, offset in enumerate(range(0, len(obj.data), size), start=1):
        answer = client.upload_part(Bucket=BUCKET, Key=obj.key, UploadId=upload_id, PartNumber=number,
                                    Body=obj.data[offset:offset + size])
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    client.complete_multipart_upload(Bucket=BUCKET, Key=obj.key, UploadId=upload_id,
                                     MultipartUpload={"Parts": parts})


def _put_direct(objs: list[SyntheticObject]) -> None:
    """Store single-part objects straight in moto's in-process backend.

    Over HTTP each small PUT costs ~4 ms of GIL-bound botocore + moto work
    (~6 s for the synthetic bucket); this is the backend call moto's PUT
    handler ends in: same bytes, MD5 ETag and canned ACL.
    """
    from moto.s3.models import get_canned_acl, s3_backends

    partition, account = s3_backends.bucket_accounts[BUCKET]
    backend = s3_backends[account][partition]
    public = get_canned_acl("public-read")
    for obj in objs:
        key = backend.put_object(BUCKET, obj.key, obj.data, disable_notification=True)
        if obj.public:
            key.set_acl(public)


def seed(server: LocalS3Server, objects: Iterable[SyntheticObject] | None = None, *,
         via_http: bool = False) -> dict[str, SyntheticObject]:
    """Create the bucket, store the objects, deny the held-out keys; clear the log.

    The bucket, multipart objects and the policy always go through the admin
    client; single-part objects go straight into moto's backend unless
    ``via_http`` (moto-internals-free but ~6 s for the synthetic bucket).
    """
    objs = list(synthetic.build_objects() if objects is None else objects)
    client = server.admin()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    _put_direct([o for o in objs if not via_http and o.multipart_part_size is None])
    for obj in objs:
        if via_http or obj.multipart_part_size is not None:
            _upload(client, obj)
    denied = [o.key for o in objs if synthetic.is_denied(o.key)]
    if denied:
        client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(held_out_policy(denied)))
    server.clear_log()
    seeded = {o.key: o for o in objs}
    server.objects.update(seeded)
    return seeded


def start_seeded() -> LocalS3Server:
    """A started server holding the synthetic bucket (for ``--demo``)."""
    server = LocalS3Server().start()
    try:
        seed(server)
    except BaseException:
        server.stop()
        raise
    return server
