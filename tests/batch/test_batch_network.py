"""Proxies, CA bundles, several addresses and dual stack, through the batch CLI.

Each case runs ``laion-fmri-tui --batch`` as a subprocess against real
components on loopback (see :mod:`network_stands`): the bucket sits behind a
:class:`~network_stands.Front` that lets in only the proxy's source address,
so a request that ignores the proxy setting fails, as it would on a site
where the bucket is reachable only through the proxy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import trustme
from batchtools import batch_command, batch_env, files_under
from network_stands import Front, blackhole, free_port, mitmproxy, site_ca, tinyproxy, tls_for, with_hosts

SELECTION = ("--subject", "03", "--ses", "01")
PROG = "laion-fmri-tui"
UNTRUSTED = "the server's certificate is not trusted; see --ca-bundle"
DUALSTACK = "s3.dualstack.us-west-2.amazonaws.com"
REGIONAL = "s3.us-west-2.amazonaws.com"


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    return site_ca(tmp_path)


def _tls(authority: trustme.CA, *names: str):
    return tls_for(authority, *names)


def _run(*args: str, command: list[str] | None = None, timeout: float = 120, **env: str):
    return subprocess.run(command or batch_command(*args), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=batch_env(**env), timeout=timeout)


def _one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def https_bucket(s3, ca):
    """The local S3 server behind TLS (a trustme certificate), reachable only from the proxies."""
    front = Front(("127.0.0.1", s3.port), _tls(ca[0], "127.0.0.1"))
    yield f"https://127.0.0.1:{front.port}", front
    front.close()


# ---- proxies -----------------------------------------------------------------

def test_https_bucket_through_an_authenticating_tinyproxy(tmp_path, https_bucket, ca, licensed_data_dir):
    url, front = https_bucket
    with tinyproxy(tmp_path, "ada:s3cr3t-pass") as (port, log):
        proxy = f"http://ada:s3cr3t-pass@127.0.0.1:{port}"
        result = _run(*SELECTION, "--endpoint-url", url, "--data-dir", str(licensed_data_dir),
                      HTTPS_PROXY=proxy, AWS_CA_BUNDLE=str(ca[1]))
        logged = log.read_text()
    assert result.returncode == 0, result.stderr
    assert files_under(licensed_data_dir)
    assert f"CONNECT 127.0.0.1:{front.port}" in logged  # listings and GETs went through the tunnel
    assert front.turned_away == 0 and front.admitted >= 1
    assert "s3cr3t" not in result.stdout + result.stderr


def test_without_the_proxy_setting_the_bucket_is_not_reached(https_bucket, ca, licensed_data_dir):
    url, front = https_bucket
    result = _run(*SELECTION, "--endpoint-url", url, "--data-dir", str(licensed_data_dir),
                  AWS_CA_BUNDLE=str(ca[1]))
    assert result.returncode == 4
    assert "could not reach the S3 endpoint" in _one_line(result)
    assert front.turned_away >= 1


@pytest.mark.parametrize("given", [None, "ada:wrong-pass"])
def test_a_proxy_that_asks_for_credentials_is_one_line_and_exit_4(tmp_path, https_bucket, ca, licensed_data_dir,
                                                                  given):
    url, _ = https_bucket
    with tinyproxy(tmp_path, "ada:s3cr3t-pass") as (port, _):
        proxy = f"http://{given + '@' if given else ''}127.0.0.1:{port}"
        result = _run(*SELECTION, "--endpoint-url", url, "--data-dir", str(licensed_data_dir),
                      HTTPS_PROXY=proxy, AWS_CA_BUNDLE=str(ca[1]))
    assert result.returncode == 4
    line = _one_line(result)
    if given:  # tinyproxy answers wrong credentials with 401
        assert f"{PROG}: the proxy http://127.0.0.1:{port} refused the credentials (HTTP 401)" in line
    else:
        assert f"{PROG}: the proxy http://127.0.0.1:{port} asks for credentials (HTTP 407)" in line
    assert "wrong-pass" not in result.stdout + result.stderr


def test_the_proxy_flag_overrides_the_environment(tmp_path, https_bucket, ca, licensed_data_dir):
    url, _ = https_bucket
    dead = free_port()
    with tinyproxy(tmp_path) as (port, log):
        result = _run(*SELECTION, "--endpoint-url", url, "--data-dir", str(licensed_data_dir),
                      "--proxy", f"http://127.0.0.1:{port}", "--ca-bundle", str(ca[1]),
                      HTTPS_PROXY=f"http://127.0.0.1:{dead}", https_proxy=f"http://127.0.0.1:{dead}")
        logged = log.read_text()
    assert result.returncode == 0, result.stderr
    assert "CONNECT 127.0.0.1:" in logged


def test_plain_http_goes_through_the_proxy_by_absolute_uri_and_no_proxy_exempts(
        tmp_path, s3, licensed_data_dir, data_dir):
    front = Front(("127.0.0.1", s3.port), None)
    try:
        with tinyproxy(tmp_path) as (port, log):
            through = _run(*SELECTION, "--endpoint-url", f"http://127.0.0.1:{front.port}",
                           "--data-dir", str(licensed_data_dir), http_proxy=f"http://127.0.0.1:{port}")
            logged = log.read_text()
    finally:
        front.close()
    assert through.returncode == 0, through.stderr
    assert f"GET http://127.0.0.1:{front.port}/laion-fmri/" in logged
    # NO_PROXY exempts the host: straight to it, though the proxy named does not exist
    direct = _run(*SELECTION, "--endpoint-url", s3.url, "--data-dir", str(licensed_data_dir), "--accept-license",
                  HTTP_PROXY=f"http://127.0.0.1:{free_port()}", NO_PROXY="localhost,127.0.0.1")
    assert direct.returncode == 0, direct.stderr


def _grant(common: tuple[str, ...], env: dict[str, str]) -> None:
    """Ask the access service for access (the form filled in, the terms accepted)."""
    granted = _run("--request-access", "--name", "Ada Lovelace", "--email", "ada@uni-example.edu",
                   "--institution", "Analytical Engines", "--purpose",
                   "Encoding models of visual cortex with natural images.", "--accept-terms", *common, **env)
    assert granted.returncode == 0, granted.stderr


def test_stimuli_and_the_access_service_go_through_the_proxy(tmp_path, s3, access, data_dir):
    with tinyproxy(tmp_path) as (port, log):
        proxy = {"HTTP_PROXY": f"http://127.0.0.1:{port}"}
        common = ("--endpoint-url", s3.url, "--access-url", access.url)
        _grant(common, proxy)
        result = _run("--include-stimuli", "--data-dir", str(data_dir), *common, **proxy)
        logged = log.read_text()
    assert result.returncode == 0, result.stderr
    assert (data_dir / "stimuli").exists() or any("stimuli" in p for p in files_under(data_dir))
    assert f"GET {access.url}/api/v1/manifest" in logged
    assert f"POST {access.url}/api/v1/refresh" in logged
    assert logged.count(f"{access.url}/") >= 4  # the two stimulus files' GETs too (signed links, same host)


def test_renewed_signed_links_through_the_proxy_are_fetched_and_their_signatures_never_shown(
        tmp_path, s3, access, data_dir, s3_objects):
    """Stimulus GETs on the lane through a proxy, links expiring mid-transfer:
    the files complete (sha256-checked), and no signature the proxy saw
    appears in the run's output, plain or JSON."""
    with tinyproxy(tmp_path) as (port, log):
        proxy = {"HTTP_PROXY": f"http://127.0.0.1:{port}"}
        common = ("--endpoint-url", s3.url, "--access-url", access.url)
        _grant(common, proxy)
        access.url_ttl, access.throttle = 1.0, 1_000_000
        outputs = []
        for extra in ((), ("--json",)):
            stimuli = data_dir / "stimuli"
            if stimuli.exists():
                shutil.rmtree(stimuli)
            result = _run("--include-stimuli", "--part-size", "256K", "--n-jobs", "2", "--data-dir", str(data_dir),
                          *extra, *common, **proxy)
            assert result.returncode == 0, result.stderr
            assert (stimuli / "task-images_stimuli.h5").read_bytes() == s3_objects[
                "stimuli/task-images_stimuli.h5"].data
            outputs.append(result.stdout + result.stderr)
        logged = log.read_text()
    signatures = set(re.findall(r"X-Amz-Signature=([0-9a-f]{16,})", logged))
    assert len(signatures) > 2, "the proxy carried the signed GETs, renewed links among them"
    assert [r for r in access.downloads("task-images_stimuli.h5") if r.status == 403], "a link expired"
    for text in outputs:
        assert not [sig for sig in signatures if sig in text], "a URL signature leaked into the output"


# ---- certificates --------------------------------------------------------------

def test_an_untrusted_bucket_certificate_is_one_line_and_a_bundle_fixes_it(s3, ca, licensed_data_dir):
    front = Front(("127.0.0.1", s3.port), _tls(ca[0], "127.0.0.1"), allow=None)
    url = f"https://127.0.0.1:{front.port}"
    try:
        refused = _run(*SELECTION, "--endpoint-url", url, "--data-dir", str(licensed_data_dir))
        flag = _run(*SELECTION, "--endpoint-url", url, "--data-dir", str(licensed_data_dir),
                    "--ca-bundle", str(ca[1]))
        requests_env = _run(*SELECTION, "--endpoint-url", url, "--data-dir", str(licensed_data_dir),
                            REQUESTS_CA_BUNDLE=str(ca[1]))
    finally:
        front.close()
    assert refused.returncode == 4
    assert UNTRUSTED in _one_line(refused)
    assert flag.returncode == 0, flag.stderr
    assert requests_env.returncode == 0, requests_env.stderr


def test_a_ca_bundle_that_cannot_be_read_is_a_usage_error(s3, licensed_data_dir, tmp_path):
    result = _run(*SELECTION, "--endpoint-url", s3.url.replace("http:", "https:"), "--data-dir",
                  str(licensed_data_dir), AWS_CA_BUNDLE=str(tmp_path / "missing.pem"))
    assert result.returncode == 2
    assert f"the CA bundle {tmp_path / 'missing.pem'} (from AWS_CA_BUNDLE) cannot be used" in _one_line(result)


def test_an_inspecting_mitmproxy_needs_its_ca_bundle(tmp_path, https_bucket, ca, licensed_data_dir):
    url, front = https_bucket
    with mitmproxy(tmp_path, ca[1]) as (port, mitm_ca, _):
        proxy = f"http://127.0.0.1:{port}"
        refused = _run(*SELECTION, "--endpoint-url", url, "--data-dir", str(licensed_data_dir), HTTPS_PROXY=proxy)
        trusted = _run(*SELECTION, "--endpoint-url", url, "--data-dir", str(licensed_data_dir), HTTPS_PROXY=proxy,
                       AWS_CA_BUNDLE=str(mitm_ca))
    assert refused.returncode == 4
    assert UNTRUSTED in _one_line(refused)
    assert trusted.returncode == 0, trusted.stderr
    assert files_under(licensed_data_dir)
    assert front.turned_away == 0 and front.admitted >= 1


# ---- several addresses, dual stack -----------------------------------------------

def test_a_dead_address_among_several_is_failed_over_and_connections_spread(tmp_path, s3, licensed_data_dir):
    """S3's regional name resolves (here) to the server (127.0.0.1), to a
    blackholed address and to a relay to the server (127.0.0.3): every file
    arrives, and connections went to both live addresses."""
    relay = Front(("127.0.0.1", s3.port), None, host="127.0.0.3", allow=None, port=s3.port)
    try:
        with blackhole("127.0.0.2", s3.port):
            command = with_hosts(
                batch_command(*SELECTION, "--endpoint-url", f"http://{REGIONAL}:{s3.port}",
                              "--data-dir", str(licensed_data_dir), "--jobs", "4"),
                {REGIONAL: ["127.0.0.2", "127.0.0.1", "127.0.0.3"]}, tmp_path)
            result = _run(command=command, timeout=180)
    finally:
        relay.close()
    assert result.returncode == 0, result.stderr
    assert " 0 failed" in result.stdout
    assert relay.admitted >= 1


def test_a_dualstack_endpoint_on_an_ipv6_only_name(tmp_path, s3, ca, licensed_data_dir):
    """The dual-stack endpoint, path-style, where its name resolves to IPv6 only (here ::1)."""
    front = Front(("127.0.0.1", s3.port), _tls(ca[0], DUALSTACK), host="::1", allow=None)
    try:
        command = with_hosts(
            batch_command(*SELECTION, "--endpoint-url", f"https://{DUALSTACK}:{front.port}",
                          "--data-dir", str(licensed_data_dir), "--ca-bundle", str(ca[1])),
            {DUALSTACK: ["::1"]}, tmp_path)
        result = _run(command=command)
    finally:
        front.close()
    assert result.returncode == 0, result.stderr
    assert files_under(licensed_data_dir)
    assert front.admitted >= 1
