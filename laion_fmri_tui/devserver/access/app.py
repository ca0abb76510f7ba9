"""HTTP plumbing: one request handler that logs, routes and answers with Content-Length.

HTTP/1.1 keep-alive only works if every answer says how long its body is and
every request body is read before answering, so both are done here, once,
for all routes. The stdlib's per-request access log is silenced: it would
print query strings (URL signatures) to stderr.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from . import api, download, pages
from .state import AccessRecord, ServiceState

MAX_BODY = 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    """Routes to the JSON API, the signed file downloads and the HTML pages."""

    protocol_version = "HTTP/1.1"
    server_version = "laion-fmri-access-dev"
    timeout = 60  # an idle keep-alive connection frees its thread after this long
    # Headers and body go out in separate writes; with Nagle on, the body waits
    # for the client's delayed ACK (~40 ms per keep-alive request).
    disable_nagle_algorithm = True
    service: ServiceState
    record: AccessRecord

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    # ---- answering ---------------------------------------------------------

    def send_head(self, status: int, length: int, content_type: str, headers: dict[str, str]) -> None:
        """Status line and headers; the caller writes exactly ``length`` bytes (none for HEAD)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.record.status = status

    def send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_head(status, len(body), content_type, headers or {})
        if self.command != "HEAD":
            self.wfile.write(body)
            self.record.bytes_sent += len(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    # ---- routing -----------------------------------------------------------

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is too large to read (connection then closes)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        self.service = self.server.service  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        self.record = self.service._begin(self.command, path, self.headers.get("Range"))
        try:
            raw = self._read_body()
            if raw is None:
                self.send_json(413, {"detail": "Request body too large or not sized."})
            else:
                self._route(path, query, raw)
        except Exception:  # a bug here must not kill the server thread silently
            self.close_connection = True
            if self.record.status == 0:
                self.send_json(500, {"detail": "Internal Server Error"})
            raise
        finally:
            self.record.duration = time.monotonic() - self.record.time

    def _route(self, path: str, query: str, raw: bytes) -> None:
        method = self.command
        if path in api.ROUTES:
            allowed, endpoint = api.ROUTES[path]
            if method != allowed:
                self.send_json(405, {"detail": "Method Not Allowed"}, {"Allow": allowed})
                return
            status, payload, headers = api.rate_limited(self.service) or endpoint(self.service, raw)
            self.send_json(status, payload, headers)
        elif path.startswith("/files/"):
            if method not in ("GET", "HEAD"):
                self.send_json(405, {"detail": "Method Not Allowed"}, {"Allow": "GET, HEAD"})
                return
            download.serve(self, unquote(path[len("/files/"):]), query)
        elif path in pages.PATHS and method in ("GET", "HEAD"):
            html = pages.render(path, self.service.store.terms_version) or b""
            self.send_bytes(200, html, "text/html; charset=utf-8")
        else:
            self.send_json(404, {"detail": "Not Found"})
