"""Listings and object GETs over kept connections (``core/s3/client.py``), against
servers on 127.0.0.1: answers S3 sends (chunked listing bodies), kept
connections the server dropped, an untrusted certificate, and object GETs
on the lane."""

from __future__ import annotations

import contextlib
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from laion_fmri_tui.core.errors import BucketUnreachableError
from laion_fmri_tui.core.s3.catalog import Catalog
from laion_fmri_tui.core.models import LocalState, Plan, PlanItem
from laion_fmri_tui.core.settings import EngineSettings, S3Settings
from laion_fmri_tui.core.s3.client import ListingError, S3Http
from laion_fmri_tui.core.disk import partfile
from laion_fmri_tui.devserver import synthetic
from engines import engine_at

LISTING = (b'<?xml version="1.0" encoding="UTF-8"?>'
           b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
           + b"".join(b"<Contents><Key>k%04d</Key><Size>%d</Size><ETag>&quot;e%d&quot;</ETag></Contents>" % (n, n, n)
                      for n in range(300))
           + b"<IsTruncated>false</IsTruncated></ListBucketResult>")


class _Listings(http.server.BaseHTTPRequestHandler):
    """Every GET is LISTING; ``mode`` says how it is sent."""

    protocol_version = "HTTP/1.1"
    mode = "length"
    connections: set[int] = set()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        type(self).connections.add(self.client_address[1])
        if self.mode == "bad-chunk" and len(type(self).connections) == 1:
            # a chunk-size line that is no number, then what looks like the
            # next answer's start: the connection must not be used again
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGARBAGE\r\n")
            self.wfile.flush()
            return
        self.send_response(200)
        if self.mode == "chunked":  # as Go's net/http sends a body it did not measure
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(LISTING), 4000):
                piece = LISTING[start:start + 4000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(LISTING)))
            self.end_headers()
            self.wfile.write(LISTING)
        if self.mode == "drops-idle":  # said keep-alive, then closed: the client finds out on reuse
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def _serving(mode: str, ca: trustme.CA | None = None) -> Iterator[str]:
    _Listings.mode, _Listings.connections = mode, set()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Listings)
    scheme = "http"
    if ca is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _list(url: str, **settings) -> dict:
    return S3Http(S3Settings(endpoint_url=url, **settings)).list_objects_v2(Bucket="b", Prefix="")


@pytest.mark.parametrize("mode", ["length", "chunked"])
def test_a_listing_is_read_whether_its_length_is_sent_or_its_body_chunked(mode):
    with _serving(mode) as url:
        page = _list(url)
    assert [c["Key"] for c in page["Contents"]] == [f"k{n:04d}" for n in range(300)]
    assert page["Contents"][7] == {"Key": "k0007", "Size": 7, "ETag": '"e7"'}


def test_listings_reuse_one_kept_connection():
    with _serving("length") as url:
        http_ = S3Http(S3Settings(endpoint_url=url))
        pages = [http_.list_objects_v2(Bucket="b", Prefix=str(n)) for n in range(5)]
        assert all(len(p["Contents"]) == 300 for p in pages)
        assert len(_Listings.connections) == 1


def test_a_kept_connection_the_server_dropped_is_replaced_without_costing_an_attempt():
    """One attempt allowed: each listing after the first finds its kept connection
    closed, and opens a new one instead of failing."""
    with _serving("drops-idle") as url:
        http_ = S3Http(S3Settings(endpoint_url=url, max_attempts=1))
        for n in range(4):
            assert len(http_.list_objects_v2(Bucket="b", Prefix=str(n))["Contents"]) == 300
        assert len(_Listings.connections) == 4


def test_a_certificate_nobody_vouches_for_fails_the_listing_with_a_reason():
    with _serving("length", trustme.CA()) as url:
        with pytest.raises(ListingError) as info:
            _list(url, max_attempts=1)
    assert info.value.status is None
    assert str(info.value) == "the server's certificate is not trusted; see --ca-bundle"


def test_a_silent_server_times_out_with_a_clear_error():
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does), never answers
    try:
        catalog = Catalog(S3Http(S3Settings(endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
                                            max_attempts=1, read_timeout=0.3)), "b")
        with pytest.raises(BucketUnreachableError, match=r"\(timed out\); check your network"):
            catalog.level("")
    finally:
        listener.close()


def test_the_lane_fetches_parts_and_whole_files_and_resumes_one(s3, s3_objects, data_dir: Path):
    """Ranged parts and whole files on the lane (the one fetch path), one of
    them resumed from its ``.part``; bytes match."""
    http_ = S3Http(S3Settings(endpoint_url=s3.url))
    listed = {o.key: o for o in Catalog(http_, synthetic.BUCKET).objects(f"{synthetic.GLM}/sub-01/")}
    small = sorted(k for k, o in listed.items() if o.size < 4096 and s3_objects[k].public)[:4]
    objects = [listed[synthetic.LARGE_KEY], listed[synthetic.MULTIPART_KEY]] + [listed[k] for k in small]
    items = [PlanItem(o.key, data_dir / o.key, o.size, o.etag, "glmsingle") for o in objects]
    resumed = items[-1]
    resumed.dest.parent.mkdir(parents=True, exist_ok=True)
    partfile.part_path(resumed.dest).write_bytes(s3_objects[resumed.key].data[:100])
    partfile.write_record(resumed.dest, partfile.PartRecord(resumed.size, resumed.etag, 0), fresh=True)
    items[-1] = PlanItem(resumed.key, resumed.dest, resumed.size, resumed.etag, "glmsingle",
                         state=LocalState.PARTIAL, present=100)
    s3.clear_log()
    engine = engine_at(s3.url, data_dir, lambda event: None,
                       EngineSettings(jobs=3, part_size=1024 * 1024, progress_interval=0.05), bucket=synthetic.BUCKET)
    finished = engine.run(Plan(data_dir, tuple(items)))
    assert (finished.done, finished.failed) == (len(items), 0), finished.failures
    for item in items:
        assert item.dest.read_bytes() == s3_objects[item.key].data, item.key
    assert [r.range for r in s3.gets(resumed.key)] == ["bytes=100-"]
    assert len(s3.gets(synthetic.LARGE_KEY)) > 1, "a large object comes in ranged parts"


def test_a_connection_left_mid_answer_is_not_used_again():
    """A chunked body that breaks off fails that listing (one attempt allowed);
    the next listing gets a new connection, not the rest of the broken answer."""
    with _serving("bad-chunk") as url:
        http_ = S3Http(S3Settings(endpoint_url=url, max_attempts=1))
        with pytest.raises(ListingError) as info:
            http_.list_objects_v2(Bucket="b", Prefix="")
        assert info.value.status is None and url not in str(info.value)
        assert len(http_.list_objects_v2(Bucket="b", Prefix="")["Contents"]) == 300
        assert len(_Listings.connections) == 2
