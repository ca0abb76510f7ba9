"""The lane's own HTTP/1.1: TLS, kept connections the server dropped, answers
S3 never sends, and a server that goes quiet. Each against a real server on
127.0.0.1 through the engine's public ``run``."""

from __future__ import annotations

import hashlib
import http.server
import socket
import ssl
import threading
from pathlib import Path

import pytest
import trustme

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.plan import Plan, PlanItem
from laion_fmri_tui.core.transfer.engine import EngineSettings, TransferEngine
from laion_fmri_tui.core.transfer.lane_transfer import Request
from laion_fmri_tui.core.transfer.sources import SourceError

BODY = bytes(range(256)) * 4096  # 1 MiB
ETAG = hashlib.md5(BODY).hexdigest()


class _Objects(http.server.BaseHTTPRequestHandler):
    """Every path is BODY, honouring a Range; ``mode`` bends the answers."""

    protocol_version = "HTTP/1.1"
    mode = "plain"
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        type(self).requests.append(self.path)
        if self.mode == "silent":
            threading.Event().wait(3)
            return
        first, last = 0, len(BODY) - 1
        asked = self.headers.get("Range")
        if asked:
            start, _, end = asked.split("=")[1].partition("-")
            first, last = int(start), int(end) if end else len(BODY) - 1
        body = BODY[first:last + 1]
        self.send_response(206 if asked else 200)
        if asked:
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(BODY)}")
        self.send_header("ETag", f'"{ETAG}"')
        if self.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.mode == "drops-idle":  # keep-alive said, then closed: the client finds out on reuse
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def log_message(self, *args) -> None:
        pass


class _Source:
    """The lane's side of a source: plain requests to one base URL."""

    def __init__(self, base: str, ca_file: str, read_timeout: float = 10.0) -> None:
        self._base, self._ca_file, self._read_timeout = base, ca_file, read_timeout

    def lane_request(self, item: PlanItem) -> Request:
        return Request(f"{self._base}/{item.key}", (f'If-Match: "{item.etag}"',), self._ca_file, 2.0,
                       self._read_timeout)

    def open(self, item, start, end):
        raise SourceError("denied", "only the lane fetches these")


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _serve(mode: str, ca: trustme.CA | None = None):
    _Objects.mode, _Objects.requests = mode, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Objects)
    if ca is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _run(source: _Source, data_dir: Path, names: list[str], **settings) -> tuple[ev.RunFinished, list]:
    events: list = []
    options = dict(jobs=2, lane_jobs=4, progress_interval=0.05, part_size=256 * 1024, retries=0) | settings
    engine = TransferEngine({"s3": source}, events.append, EngineSettings(**options))
    items = tuple(PlanItem(name, data_dir / name, len(BODY), ETAG, "glmsingle") for name in names)
    return engine.run(Plan(data_dir, items)), events


def test_the_lane_fetches_over_tls_with_the_sources_certificates(ca, data_dir, tmp_path):
    """Parts and whole files over https, checked against a CA the test made."""
    server = _serve("plain", ca)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        source = _Source(f"https://127.0.0.1:{server.server_address[1]}", str(ca_file))
        finished, _ = _run(source, data_dir, ["a.bin", "b.bin"], part_size=None)
        chunked, _ = _run(source, data_dir, ["c.bin"])
    finally:
        server.shutdown()
        server.server_close()
    assert (finished.done, finished.failed, chunked.done) == (2, 0, 1)
    assert all((data_dir / name).read_bytes() == BODY for name in ("a.bin", "b.bin", "c.bin"))
    assert len(_Objects.requests) == 2 + 4  # two whole files, then four 256 KiB parts


def test_a_server_certificate_nobody_vouches_for_fails_the_file_with_a_reason(ca, data_dir):
    server = _serve("plain", ca)
    try:
        source = _Source(f"https://127.0.0.1:{server.server_address[1]}", ssl.get_default_verify_paths().cafile
                         or "/etc/ssl/certs/ca-certificates.crt")
        finished, _ = _run(source, data_dir, ["a.bin"])
    finally:
        server.shutdown()
        server.server_close()
    assert finished.failed == 1 and not (data_dir / "a.bin").exists()
    assert "TLS handshake failed" in finished.failures[0][1]


def test_a_kept_connection_the_server_dropped_is_reopened_without_costing_an_attempt(data_dir):
    """The server closes every connection after its answer without saying so:
    each reuse finds it closed. With no retries allowed, every file still lands."""
    server = _serve("drops-idle")
    try:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, events = _run(source, data_dir, [f"f{n}.bin" for n in range(6)])
    finally:
        server.shutdown()
        server.server_close()
    assert (finished.done, finished.failed) == (6, 0), finished.failures
    assert not [e for e in events if isinstance(e, ev.Notice) and "retrying" in e.message]
    assert len(_Objects.requests) == 6 * 4  # one GET per 256 KiB part, none repeated


def test_a_chunked_answer_fails_its_file_with_a_message(data_dir):
    server = _serve("chunked")
    try:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "")
        finished, _ = _run(source, data_dir, ["a.bin"], part_size=None)
    finally:
        server.shutdown()
        server.server_close()
    assert finished.failed == 1 and "chunked answer" in finished.failures[0][1]


def test_a_server_that_goes_quiet_times_out(data_dir):
    server = _serve("silent")
    try:
        source = _Source(f"http://127.0.0.1:{server.server_address[1]}", "", read_timeout=1.0)
        finished, _ = _run(source, data_dir, ["a.bin"], part_size=None)
    finally:
        server.shutdown()
        server.server_close()
    assert finished.failed == 1 and "timed out" in finished.failures[0][1]
