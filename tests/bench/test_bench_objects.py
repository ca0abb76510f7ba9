"""The benchmark's object server answers like S3 does, so the race it hosts is fair.

``bench/objects.py`` serves object GETs and HEADs from the shaping proxy by
``sendfile``; every contender's ranged downloads, resumes and ETag checks go
through it. These tests talk to a real proxy on 127.0.0.1 with ``http.client``.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from objects import LocalObjects  # noqa: E402
from proxy import ShapingProxy  # noqa: E402

KEY = "derivatives/sub-01/ses-01/func/sub-01_ses-01_betas.nii.gz"
BODY = bytes(range(256)) * 40 + b"tail"
MD5 = hashlib.md5(BODY).hexdigest()


def closed_port() -> int:
    """A loopback port nobody listens on (the proxy's upstream: never needed here)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def proxy(tmp_path: Path) -> Iterator[ShapingProxy]:
    path = tmp_path / "laion-fmri" / KEY
    path.parent.mkdir(parents=True)
    path.write_bytes(BODY)
    objects = LocalObjects(tmp_path, {KEY: MD5}, "laion-fmri")
    with ShapingProxy(f"http://127.0.0.1:{closed_port()}", ttfb=0, conn_rate=None, objects=objects) as running:
        yield running


def get(proxy: ShapingProxy, headers: dict[str, str] | None = None, method: str = "GET",
        path: str = f"/laion-fmri/{KEY}") -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_whole_object_with_its_md5_as_etag(proxy):
    status, headers, body = get(proxy)
    assert (status, body) == (200, BODY)
    assert headers["etag"] == f'"{MD5}"' and headers["content-length"] == str(len(BODY))
    assert headers["accept-ranges"] == "bytes" and "last-modified" in headers
    assert proxy.stats()["answered_locally"] == 1


@pytest.mark.parametrize(("spec", "first", "last"), [
    ("bytes=10-19", 10, 19), ("bytes=10000-", 10000, len(BODY) - 1),
    ("bytes=-4", len(BODY) - 4, len(BODY) - 1), ("bytes=100-999999", 100, len(BODY) - 1),
])
def test_ranges_answer_206_with_exactly_those_bytes(proxy, spec, first, last):
    status, headers, body = get(proxy, {"Range": spec})
    assert status == 206 and body == BODY[first:last + 1]
    assert headers["content-range"] == f"bytes {first}-{last}/{len(BODY)}"


def test_a_range_past_the_end_is_416(proxy):
    status, headers, _ = get(proxy, {"Range": f"bytes={len(BODY)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(BODY)}"


def test_if_match_pins_the_version(proxy):
    assert get(proxy, {"If-Match": f'"{MD5}"', "Range": "bytes=0-3"})[::2] == (206, BODY[:4])
    assert get(proxy, {"If-Match": '"0123456789abcdef0123456789abcdef"'})[0] == 412
    assert get(proxy, {"If-None-Match": f'"{MD5}"'})[0] == 304


def test_head_has_the_headers_and_no_body(proxy):
    status, headers, body = get(proxy, method="HEAD")
    assert (status, body) == (200, b"") and headers["content-length"] == str(len(BODY))


def test_requests_share_a_kept_alive_connection(proxy):
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        for spec, want in (("bytes=0-9", BODY[:10]), ("bytes=10-19", BODY[10:20])):
            connection.request("GET", f"/laion-fmri/{KEY}", headers={"Range": spec})
            assert connection.getresponse().read() == want
    finally:
        connection.close()
    assert proxy.stats()["connections"] == 1 and proxy.stats()["requests"] == 2


def test_listings_and_unknown_keys_go_upstream(proxy):
    objects = proxy.objects
    assert objects is not None
    assert objects.find("GET", "/laion-fmri/?list-type=2&prefix=sub-01/") is None
    assert objects.find("GET", "/laion-fmri/missing.json") is None
    assert objects.find("PUT", f"/laion-fmri/{KEY}") is None
    assert objects.find("GET", "/laion-fmri/../../etc/passwd") is None
    assert objects.find("GET", f"/laion-fmri/{KEY}?x-id=GetObject") is not None


MULTIPART = hashlib.md5(b"parts").hexdigest() + "-2"


class _Lister(http.server.BaseHTTPRequestHandler):
    """rclone's side of a listing: the MD5 as ETag, sent chunked."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = (f"<ListBucketResult><Contents><Key>{KEY}</Key><ETag>&#34;{MD5}&#34;</ETag>"
                f"<Size>{len(BODY)}</Size></Contents></ListBucketResult>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (body[:40], body[40:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args) -> None:
        pass


def test_aws_cli_etags_in_listings_and_answers(tmp_path):
    """With ``--etags aws-cli`` the listing (from upstream) and the object's answers agree
    on the multipart ETag, as they do on S3."""
    path = tmp_path / "laion-fmri" / KEY
    path.parent.mkdir(parents=True)
    path.write_bytes(BODY)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Lister)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    objects = LocalObjects(tmp_path, {KEY: MD5}, "laion-fmri", {KEY: MULTIPART})
    try:
        with ShapingProxy(f"http://127.0.0.1:{upstream.server_port}", ttfb=0, conn_rate=None,
                          objects=objects) as running:
            status, headers, listing = get(running, path="/laion-fmri/?list-type=2")
            assert status == 200 and f"<ETag>&#34;{MULTIPART}&#34;</ETag>".encode() in listing
            assert MD5.encode() not in listing and headers["content-length"] == str(len(listing))
            status, headers, _ = get(running, {"If-Match": f'"{MULTIPART}"'})
            assert status == 200 and headers["etag"] == f'"{MULTIPART}"'
    finally:
        upstream.shutdown()
