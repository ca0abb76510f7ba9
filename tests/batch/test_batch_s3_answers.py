"""Answers real S3 (or the network on the way) gives that moto does not: keys
form-encoded in listings, pages that are not XML, redirects naming a region,
every object refused, chunked bodies. The batch CLI runs as a subprocess
against :mod:`s3standin` on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import subprocess
from collections.abc import Iterator

import pytest
from batchtools import batch_command, batch_env
from s3standin import StandIn

FS = "derivatives/freesurfer/sub-01"
SPACE = f"{FS}/label/lh.BA1 exvivo.label"
PLUS = f"{FS}/mri/aparc+aseg.mgz"
OBJECTS = {
    "dataset_description.json": b'{"Name": "stand-in"}\n',
    SPACE: b"label with a space in its name\n" * 50,
    PLUS: b"a literal plus\n" * 70,
    f"{FS}/surf/lh.white": bytes(range(256)) * 4096,  # 1 MiB: four ranged parts of 256K
}


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn(dict(OBJECTS)).start()
    try:
        yield server
    finally:
        server.stop()


def run(stand_in: StandIn, data_dir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        batch_command("--subject", "01", "--only", "freesurfer", "--data-dir", str(data_dir),
                      "--endpoint-url", stand_in.url, *args),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=batch_env(), timeout=120)


def one_line(result) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_keys_with_a_space_or_a_plus_land_under_their_own_names(stand_in, licensed_data_dir):
    result = run(stand_in, licensed_data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    for key in (SPACE, PLUS):
        assert (licensed_data_dir / key).read_bytes() == OBJECTS[key]
    assert not (licensed_data_dir / f"{FS}/label/lh.BA1+exvivo.label").exists()
    assert stand_in.gets(SPACE)[-1].status == 200 and stand_in.gets(PLUS)[-1].status == 200


@pytest.mark.parametrize("listing", ["html", "truncated"])
def test_a_listing_that_is_not_s3s_xml_is_one_line_and_exit_4(stand_in, licensed_data_dir, listing):
    stand_in.script.listing = listing
    result = run(stand_in, licensed_data_dir)
    assert result.returncode == 4, result.stderr
    line = one_line(result)
    assert "did not answer like S3" in line and f"({stand_in.url} answered " in line


def test_a_listing_redirected_to_another_region_names_it(stand_in, licensed_data_dir):
    stand_in.script.listing = "redirect"
    result = run(stand_in, licensed_data_dir)
    assert result.returncode == 4, result.stderr
    line = one_line(result)
    assert "region eu-central-1" in line and "--endpoint-url https://s3.eu-central-1.amazonaws.com" in line


def test_a_get_redirected_to_another_region_fails_at_once_and_names_it(stand_in, licensed_data_dir):
    stand_in.script.objects = "redirect"
    result = run(stand_in, licensed_data_dir)
    assert result.returncode == 1, result.stderr
    assert "region eu-central-1" in result.stdout
    assert all(len(stand_in.gets(key)) == 1 for key in OBJECTS)  # no retries on a 301


def test_a_run_whose_every_file_is_refused_exits_5(stand_in, licensed_data_dir):
    stand_in.script.objects = "denied"
    result = run(stand_in, licensed_data_dir)
    assert result.returncode == 5, result.stdout + result.stderr
    assert "4 key(s) refused by the bucket (HTTP 403)" in result.stderr


def test_chunked_listings_and_objects_are_read(stand_in, licensed_data_dir):
    stand_in.script.objects, stand_in.script.chunked_listing = "chunked", True
    result = run(stand_in, licensed_data_dir, "--part-size", "256K")  # lh.white: ranged parts, chunked
    assert result.returncode == 0, result.stdout + result.stderr
    for key, data in OBJECTS.items():
        assert (licensed_data_dir / key).read_bytes() == data


def test_every_request_asks_for_the_identity_encoding(stand_in, licensed_data_dir):
    result = run(stand_in, licensed_data_dir)
    assert result.returncode == 0, result.stderr
    assert stand_in.log and all(r.headers.get("accept-encoding") == "identity" for r in stand_in.log)
    assert {r.key for r in stand_in.log} >= set(OBJECTS) | {""}


def test_an_unreachable_bucket_is_named_by_the_host_contacted(licensed_data_dir):
    """Without --endpoint-url the bucket is reached at its virtual-hosted name,
    and that is the name the error gives. A proxy on 127.0.0.1 opens every
    tunnel and closes it at once, so no request leaves the machine and the
    failure is the endpoint's (a proxy that is not there is named itself)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def tunnels() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head and (data := conn.recv(4096)):
                    head += data
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

    threading.Thread(target=tunnels, daemon=True).start()
    port = listener.getsockname()[1]
    env = {k: v for k, v in batch_env().items() if k != "LAION_FMRI_S3_ENDPOINT_URL"}
    try:
        result = subprocess.run(
            batch_command("--subject", "01", "--data-dir", str(licensed_data_dir), "--proxy",
                          f"http://127.0.0.1:{port}", "--dry-run"),
            capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=120)
    finally:
        listener.close()
    assert result.returncode == 4, result.stderr
    assert "could not reach the S3 endpoint https://laion-fmri.s3.us-west-2.amazonaws.com (" in one_line(result)
