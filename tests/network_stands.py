"""Real network components for the network tests, all on loopback.

- :class:`Front`: a gate in front of the local S3 server, optionally speaking
  TLS with a trustme certificate, that lets in only connections from one
  source address (a site where the bucket is reachable only through its
  proxy); it relays bytes untouched and counts the connections it let in.
- :func:`tinyproxy` and :func:`mitmproxy`: Debian's forward proxy and
  mitmproxy's regular mode (it re-signs TLS with its own CA like a site's
  inspecting proxy), both connecting upstream from :data:`PROXY_SOURCE`.
- :func:`blackhole`: a listener whose accept queue is full, so the kernel
  drops further SYNs: a connect to it hangs, like an address a firewall drops.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PROXY_SOURCE = "127.0.0.9"
"""The address the proxies connect upstream from; the fronts let only it in."""


def need(tool: str) -> str:
    """The path of ``tool``; a missing tool skips, except under CI where it fails."""
    path = shutil.which(tool) or (shutil.which(tool, path=str(Path(sys.executable).parent)))
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is needed (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def site_ca(directory: Path, name: str = "site-ca.pem"):
    """A site's private CA (trustme) and the PEM file a user would pass as --ca-bundle."""
    import trustme

    authority = trustme.CA()
    pem = directory / name
    authority.cert_pem.write_to_path(str(pem))
    return authority, pem


def tls_for(authority, *names: str) -> ssl.SSLContext:
    """A server-side TLS context with a certificate for ``names`` signed by ``authority``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*names).configure_cert(context)
    return context


class Front:
    """TLS (or plain TCP) on ``host:port``, relayed to ``target``; only ``allow`` gets in."""

    def __init__(self, target: tuple[str, int], context: ssl.SSLContext | None, host: str = "127.0.0.1",
                 allow: str | None = PROXY_SOURCE, port: int = 0) -> None:
        self._target, self._context, self._allow = target, context, allow
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.admitted = 0
        self.turned_away = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, peer = self._sock.accept()
            except OSError:
                return
            if self._allow is not None and peer[0] != self._allow:
                self.turned_away += 1
                client.close()
                continue
            self.admitted += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            if self._context is not None:
                client = self._context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self._target)
        except OSError:
            client.close()
            return
        _relay(client, upstream)

    def close(self) -> None:
        self._closed = True
        self._sock.close()


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Both directions on one thread: an ``SSLSocket`` read on one thread while
    another writes to it garbled bytes now and then (a test saw a file's
    checksum fail through this stand and nowhere else)."""
    other = {client: upstream, upstream: client}
    try:
        with selectors.DefaultSelector() as selector:
            for sock in other:
                selector.register(sock, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    source = key.fileobj
                    while True:
                        data = source.recv(65536)
                        if not data:
                            return
                        other[source].sendall(data)
                        if not (isinstance(source, ssl.SSLSocket) and source.pending()):
                            break
    except OSError:
        pass
    finally:
        for sock in other:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@contextlib.contextmanager
def tinyproxy(tmp: Path, credentials: str | None = None) -> Iterator[tuple[int, Path]]:
    """Debian's tinyproxy on 127.0.0.1: (port, its log file)."""
    binary = need("tinyproxy")
    port = free_port()
    log = tmp / "tinyproxy.log"
    lines = [f"Port {port}", "Listen 127.0.0.1", f"Bind {PROXY_SOURCE}", "Allow 127.0.0.1",
             "Timeout 60", f"LogFile \"{log}\"", "LogLevel Info", "MaxClients 200",
             f"PidFile \"{tmp / 'tinyproxy.pid'}\"", "DisableViaHeader Yes"]
    if os.geteuid() == 0:
        lines += ["User root", "Group root"]
    if credentials:
        user, password = credentials.split(":", 1)
        lines.append(f"BasicAuth {user} {password}")
    conf = tmp / "tinyproxy.conf"
    conf.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen([binary, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_port("127.0.0.1", port, process)
        yield port, log
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def mitmproxy(tmp: Path, upstream_ca: Path) -> Iterator[tuple[int, Path, Path]]:
    """mitmproxy's regular mode on 127.0.0.1: (port, its CA certificate, its log)."""
    binary = need("mitmdump")
    port = free_port()
    confdir = tmp / "mitmproxy"
    log = tmp / "mitmproxy.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [binary, "--listen-host", "127.0.0.1", "--listen-port", str(port), "--set", f"confdir={confdir}",
             "--set", f"connect_addr={PROXY_SOURCE}", "--set", f"ssl_verify_upstream_trusted_ca={upstream_ca}",
             "--set", "flow_detail=1"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port("127.0.0.1", port, process, timeout=60)
        yield port, confdir / "mitmproxy-ca-cert.pem", log
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def blackhole(host: str, port: int) -> Iterator[None]:
    """``host:port`` takes no connection: its one-place accept queue is filled,
    so the kernel drops every further SYN (the connect hangs)."""
    listener = socket.socket()
    listener.bind((host, port))
    listener.listen(0)
    fillers = []
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex((host, port))
        fillers.append(filler)
    time.sleep(0.2)  # the handshakes of the fillers complete (no timing is measured)
    try:
        yield
    finally:
        for s in (*fillers, listener):
            s.close()


def with_hosts(command: list[str], hosts: dict[str, list[str]], tmp: Path) -> list[str]:
    """``command`` in a private mount namespace whose /etc/hosts maps ``hosts``:
    the system resolver then answers for these names as DNS would, for this
    process only. Needs unshare (util-linux) and the right to mount."""
    need("unshare")
    file = tmp / "hosts"
    lines = ["127.0.0.1 localhost"] + [f"{address} {name}" for name, addresses in hosts.items()
                                       for address in addresses]
    file.write_text("\n".join(lines) + "\n")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {file} /etc/hosts"],
                           capture_output=True)
    if probe.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("unshare -m cannot bind-mount /etc/hosts here")
        pytest.skip("no private mount namespace here (unshare -m)")
    script = f'mount --bind "{file}" /etc/hosts && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", *command]
