"""``GET``/``HEAD /files/<name>``: check the signed URL like S3, then stream the object.

The checks run once, when the request arrives (as on S3): a body already
streaming is never cut when its URL expires, but the client's next ranged
request is refused. The body is read from the local bucket in 64 KiB chunks
and can be paced (``throttle``), made to ignore Range, or corrupted, so the
client's resume, expiry and sha256 paths can all be driven from tests.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from ..synthetic import BUCKET
from .files import expiry_of, handle_of, parse_range
from .state import FileRequest

CHUNK = 64 * 1024
REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature")


def s3_error(code: str, message: str) -> bytes:
    """An S3-style XML error body."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error>").encode()


def _refuse(h: FileRequest, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
    h.send_bytes(status, s3_error(code, message), "application/xml", headers or {})


def _check(h: FileRequest, name: str, query: dict[str, str]) -> bool:
    """Answer the request with an S3 error (and return False) unless the URL is good now."""
    svc = h.service
    if any(p not in query for p in REQUIRED):
        _refuse(h, 400, "AuthorizationQueryParametersError",
                "Query-string authentication requires the X-Amz-* parameters.")
        return False
    grant = svc.store.by_handle(handle_of(query))
    if grant is None:
        _refuse(h, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
        return False
    if not svc.signer.check_signature(name, query, grant):
        _refuse(h, 403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.")
        return False
    try:
        expiry = expiry_of(query)
    except ValueError:
        _refuse(h, 400, "AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is malformed.")
        return False
    if time.time() + svc.clock_skew > expiry:
        _refuse(h, 403, "AccessDenied", "Request has expired")
        return False
    if grant.revoked:
        _refuse(h, 403, "AccessDenied", "Access Denied")
        return False
    return True


def serve(h: FileRequest, name: str, query_string: str) -> None:
    """Answer one file request on ``h`` (status, headers and, for GET, the body)."""
    svc = h.service
    query = dict(parse_qsl(query_string, keep_blank_values=True))
    if not _check(h, name, query):
        return
    entry = svc.catalog.get(name)
    if entry is None:
        _refuse(h, 404, "NoSuchKey", "The specified key does not exist.")
        return
    wanted = None if svc.ignore_range else parse_range(h.headers.get("Range"), entry.size)
    if wanted == "unsatisfiable":
        _refuse(h, 416, "InvalidRange", "The requested range is not satisfiable",
                {"Content-Range": f"bytes */{entry.size}"})
        return
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{entry.sha256[:32]}"'}
    first, last = wanted if isinstance(wanted, tuple) else (0, entry.size - 1)
    if isinstance(wanted, tuple):
        headers["Content-Range"] = f"bytes {first}-{last}/{entry.size}"
    length = last - first + 1
    status = 206 if isinstance(wanted, tuple) else 200
    if h.command == "HEAD":
        h.send_head(status, length, "application/octet-stream", headers)
        return
    extra = {"Range": f"bytes={first}-{last}"} if isinstance(wanted, tuple) else {}
    try:
        body = svc.admin.get_object(Bucket=BUCKET, Key=entry.key, **extra)["Body"]
    except Exception as error:  # the local S3 refused or failed: say so like S3 would
        _refuse(h, 503, "ServiceUnavailable", f"Storage error: {type(error).__name__}")
        return
    h.send_head(status, length, "application/octet-stream", headers)
    _stream(h, body, length)


def _stream(h: FileRequest, body: Any, length: int) -> None:
    """Copy ``length`` bytes to the socket, paced and/or corrupted per the knobs."""
    svc, record = h.service, h.record
    flip = length // 2 if svc.corrupt and length else -1
    deadline = time.monotonic()
    sent = 0
    try:
        while sent < length:
            rate = svc.throttle
            size = max(1024, min(CHUNK, rate // 16)) if rate else CHUNK
            chunk = body.read(min(size, length - sent))
            if not chunk:
                break  # storage ended early: Content-Length is now a lie, so drop the connection
            if sent <= flip < sent + len(chunk):
                at = flip - sent
                chunk = chunk[:at] + bytes([chunk[at] ^ 0xFF]) + chunk[at + 1:]
            if rate:
                deadline = max(deadline, time.monotonic()) + len(chunk) / rate
                time.sleep(max(0.0, deadline - time.monotonic()))
            h.wfile.write(chunk)
            sent += len(chunk)
            record.bytes_sent += len(chunk)
    except Exception:  # client went away or storage broke mid-body
        h.close_connection = True
    finally:
        body.close()
    if sent < length:
        h.close_connection = True
