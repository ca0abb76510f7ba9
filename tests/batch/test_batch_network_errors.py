"""What a failing proxy or certificate says, through the batch CLI.

Each case runs ``laion-fmri-tui --batch`` as a subprocess against real
components on loopback: the local S3 server, the reference access service,
Debian's tinyproxy, a TLS front with a trustme certificate, and a stand-in
proxy that refuses every request with its own HTML page (as a site's proxy
refuses a domain). The line must name what failed (the proxy, without its
credentials, and the setting it came from) and never the endpoint behind it.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path

import pytest
import trustme
from batchtools import batch_command, batch_env, files_under
from network_stands import Front, free_port, need, site_ca, tinyproxy, tls_for

SELECTION = ("--subject", "03", "--ses", "01")
PROG = "laion-fmri-tui"
SECRET = "S3cr3t-pw"


def _run(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(batch_command(*args), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env=batch_env(**env), timeout=timeout)


def _one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A proxy that refuses every request (CONNECT too) with its own HTML page."""

    def _refuse(self) -> None:
        page = b"<html><body><h1>Access denied by the site proxy</h1></body></html>"
        self.send_response(403)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    do_GET = do_HEAD = do_POST = do_CONNECT = _refuse

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def refusing_proxy():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


# ---- a proxy that cannot be reached, or is malformed (finding 1, 8) -------------

def test_a_dead_proxy_is_named_not_the_endpoint(s3, licensed_data_dir):
    dead = free_port()
    result = _run(*SELECTION, "--endpoint-url", s3.url, "--data-dir", str(licensed_data_dir),
                  http_proxy=f"http://ada:{SECRET}@127.0.0.1:{dead}")
    assert result.returncode == 4
    line = _one_line(result)
    assert f"{PROG}: could not reach the proxy http://127.0.0.1:{dead} (connection refused); check http_proxy" in line
    assert "S3 endpoint" not in line and SECRET not in result.stderr + result.stdout


def test_an_unresolvable_ipv6_or_named_proxy_is_named(s3, licensed_data_dir):
    named = _run(*SELECTION, "--endpoint-url", s3.url, "--data-dir", str(licensed_data_dir),
                 "--proxy", "http://proxy.invalid:3128")
    assert named.returncode == 4
    assert "could not reach the proxy http://proxy.invalid:3128 (host not found); check --proxy" in _one_line(named)
    dead = free_port("::1")
    six = _run(*SELECTION, "--endpoint-url", s3.url, "--data-dir", str(licensed_data_dir),
               HTTP_PROXY=f"http://[::1]:{dead}")
    assert six.returncode == 4
    assert f"could not reach the proxy http://[::1]:{dead} (connection refused); check HTTP_PROXY" in _one_line(six)


@pytest.mark.parametrize(("given", "named"), [
    (f"http://u:{SECRET}@[::1", "the proxy URL (from --proxy)"),
    ("https://[::1]:3128", "the proxy https://[::1] (from --proxy)"),
])
def test_a_malformed_proxy_is_a_usage_error_naming_the_proxy(s3, licensed_data_dir, given, named):
    result = _run(*SELECTION, "--endpoint-url", s3.url, "--data-dir", str(licensed_data_dir), "--proxy", given)
    assert result.returncode == 2
    line = _one_line(result)
    assert f"{PROG}: {named} is not an http://host:port URL" in line
    assert "endpoint" not in line and SECRET not in result.stderr


def test_an_empty_proxy_flag_means_no_proxy_whatever_the_environment(s3, licensed_data_dir):
    dead = f"http://127.0.0.1:{free_port()}"
    result = _run(*SELECTION, "--endpoint-url", s3.url, "--data-dir", str(licensed_data_dir), "--proxy", "",
                  HTTP_PROXY=dead, http_proxy=dead, ALL_PROXY=dead)
    assert result.returncode == 0, result.stderr
    assert files_under(licensed_data_dir)


# ---- usage errors never echo a password (finding 5) -----------------------------

@pytest.mark.parametrize("argv", [
    ("--batch", "--proxyy", f"http://alice:{SECRET}@127.0.0.1:3128"),
    ("--proxyy", f"http://alice:{SECRET}@127.0.0.1:3128"),  # the app's own parser
    ("config", "--data-dir", "/tmp", "--proxy", f"http://alice:{SECRET}@127.0.0.1:3128"),
])
def test_a_usage_error_does_not_echo_the_proxy_password(argv):
    command = batch_command()
    command = command[:command.index("--batch")] + list(argv)
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env=batch_env(), timeout=60)
    assert result.returncode == 2
    line = _one_line(result)
    assert "http://alice:REDACTED@127.0.0.1:3128" in line
    assert SECRET not in result.stderr + result.stdout


# ---- a plain-http endpoint through a refusing proxy (finding 7) -----------------

def test_a_proxy_asking_credentials_for_plain_http_is_named(tmp_path, s3, licensed_data_dir):
    with tinyproxy(tmp_path, "ada:s3cr3t-pass") as (port, _):
        result = _run(*SELECTION, "--endpoint-url", s3.url, "--data-dir", str(licensed_data_dir),
                      HTTP_PROXY=f"http://127.0.0.1:{port}")
    assert result.returncode == 4
    assert (f"{PROG}: the proxy http://127.0.0.1:{port} asks for credentials (HTTP 407); put them in the proxy "
            "URL as http://user:pass@host:port; check HTTP_PROXY") in _one_line(result)


def test_a_proxy_refusing_plain_http_with_its_own_page_is_named(refusing_proxy, s3, licensed_data_dir):
    result = _run(*SELECTION, "--endpoint-url", s3.url, "--data-dir", str(licensed_data_dir),
                  "--proxy", f"http://127.0.0.1:{refusing_proxy}")
    assert result.returncode == 4
    line = _one_line(result)
    assert f"the proxy http://127.0.0.1:{refusing_proxy} refused the connection (HTTP 403 Forbidden)" in line
    assert "check --endpoint-url" not in line


# ---- certificates (finding 8) ---------------------------------------------------

def _behind_tls(s3, authority: trustme.CA, name: str, bundle: Path, data_dir: Path) -> subprocess.CompletedProcess:
    """A run against the local S3 behind TLS with a certificate for ``name``, trusting ``bundle``."""
    front = Front(("127.0.0.1", s3.port), tls_for(authority, name), allow=None)
    try:
        return _run(*SELECTION, "--endpoint-url", f"https://127.0.0.1:{front.port}", "--data-dir", str(data_dir),
                    "--ca-bundle", str(bundle))
    finally:
        front.close()


def test_a_trusted_certificate_for_another_name_says_the_name_does_not_match(s3, licensed_data_dir, tmp_path):
    authority, pem = site_ca(tmp_path, "ca.pem")
    result = _behind_tls(s3, authority, "other.example", pem, licensed_data_dir)
    assert result.returncode == 4
    line = _one_line(result)
    assert "the server's certificate is not for 127.0.0.1 (its name does not match)" in line
    assert "--ca-bundle" not in line


def test_a_ca_bundle_directory_without_hashed_certificates_is_a_usage_error(s3, licensed_data_dir, tmp_path):
    empty = tmp_path / "cas"
    empty.mkdir()
    result = _run(*SELECTION, "--endpoint-url", s3.url.replace("http:", "https:"), "--data-dir",
                  str(licensed_data_dir), "--ca-bundle", str(empty))
    assert result.returncode == 2
    assert f"the CA bundle {empty} (from --ca-bundle) cannot be used: a directory without hashed" in \
        _one_line(result)


def test_a_hashed_ca_directory_is_trusted_like_ssl_cert_dir(s3, licensed_data_dir, tmp_path):
    authority = trustme.CA()
    cas = tmp_path / "cas"
    cas.mkdir()
    authority.cert_pem.write_to_path(str(cas / "site.pem"))
    subprocess.run([need("openssl"), "rehash", str(cas)], check=True, capture_output=True)
    result = _behind_tls(s3, authority, "127.0.0.1", cas, licensed_data_dir)
    assert result.returncode == 0, result.stderr
    assert files_under(licensed_data_dir)


# ---- the access service through a proxy, and its certificate (finding 6) --------

ASK = ("--request-access", "--name", "Ada Lovelace", "--email", "ada@uni-example.edu", "--institution",
       "Analytical Engines", "--purpose", "Encoding models of visual cortex with natural images.", "--accept-terms")


def test_a_proxy_refusing_the_plain_http_access_service_is_named_exit_4(tmp_path, s3, access):
    with tinyproxy(tmp_path, "ada:s3cr3t-pass") as (port, _):
        result = _run(*ASK, "--endpoint-url", s3.url, "--access-url", access.url,
                      HTTP_PROXY=f"http://127.0.0.1:{port}")
    assert result.returncode == 4
    line = _one_line(result)
    assert f"{PROG}: the proxy http://127.0.0.1:{port} asks for credentials (HTTP 407)" in line
    assert line.endswith("check HTTP_PROXY") and "<" not in line


def test_a_proxy_refusing_the_access_service_tunnel_is_named(tmp_path, s3, access):
    authority, pem = site_ca(tmp_path, "ca.pem")
    port = int(access.url.rsplit(":", 1)[1].strip("/"))
    front = Front(("127.0.0.1", port), tls_for(authority, "127.0.0.1"), allow=None)
    url = f"https://127.0.0.1:{front.port}"
    try:
        untrusted = _run(*ASK, "--endpoint-url", s3.url, "--access-url", url)
        with tinyproxy(tmp_path, "ada:s3cr3t-pass") as (proxy_port, _):
            refused = _run(*ASK, "--endpoint-url", s3.url, "--access-url", url, "--ca-bundle", str(pem),
                           "--proxy", f"http://ada:wrong-pass@127.0.0.1:{proxy_port}")
        dead = free_port()
        unreachable = _run(*ASK, "--endpoint-url", s3.url, "--access-url", url, "--ca-bundle", str(pem),
                           HTTPS_PROXY=f"http://127.0.0.1:{dead}")
    finally:
        front.close()
    assert untrusted.returncode == 4
    assert _one_line(untrusted) == f"{PROG}: the server's certificate is not trusted; see --ca-bundle"
    assert refused.returncode == 4
    assert (f"{PROG}: the proxy http://127.0.0.1:{proxy_port} refused the credentials (HTTP 401); check --proxy"
            == _one_line(refused))
    assert "wrong-pass" not in refused.stderr
    assert unreachable.returncode == 4
    line = _one_line(unreachable)
    assert f"through the proxy http://127.0.0.1:{dead}" in line and line.endswith("check HTTPS_PROXY")


def test_a_malformed_proxy_in_the_environment_names_its_variable(s3, licensed_data_dir):
    result = _run(*SELECTION, "--endpoint-url", s3.url.replace("http:", "https:"), "--data-dir",
                  str(licensed_data_dir), HTTPS_PROXY="socks5://[::1]:1080", ALL_PROXY="socks5://127.0.0.1:1")
    assert result.returncode == 2
    assert (f"{PROG}: the proxy socks5://[::1] (from HTTPS_PROXY) is not an http://host:port URL (only http:// "
            "proxies are supported); check HTTPS_PROXY") == _one_line(result)
