"""Opening a connection: addresses, failover, the proxy's tunnel, TLS.

The one place sockets are opened, for the lane's non-blocking connections
(:class:`Connection`, driven from its ``epoll``) and the listings' blocking
ones (:func:`open_blocking`, which drives the same class to the end).

Addresses: a host's A and AAAA records are resolved once per
:data:`REFRESH` seconds and shared by every connection of the process
(:class:`Resolver`). New connections take them in turn, so connections
spread over them; IPv6 and IPv4 alternate (RFC 8305's interleaving). An
address that refused or did not answer within :data:`ATTEMPT` seconds (while
others remain) is set aside for :data:`SHUNNED` seconds and the connection
goes on to the next: one dead address among several costs each connection
at most one attempt, and then none. The attempts are made one after another,
not raced as RFC 8305 does.
"""

from __future__ import annotations

import enum
import errno
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from laion_fmri_tui.core.http.network import Proxy, proxy_for, tls_context
from laion_fmri_tui.core.settings import NetworkSettings

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
REFRESH = 60.0
"""Seconds a host's resolved addresses are used before they are resolved again."""
ATTEMPT = 2.0
"""Seconds a connect may take on one address while the host has others to try."""
SHUNNED = 30.0
"""Seconds an address that failed a connect is tried only after the others."""
MAX_HEAD = 64 * 1024
"""An answer's head larger than this is not an HTTP answer we can use."""
UNTRUSTED = "the server's certificate is not trusted; see --ca-bundle"
"""The one line for a certificate no trusted CA signed (a site's inspecting proxy)."""
_NAME_MISMATCH = (62, 64)
"""OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH."""


def certificate_problem(error: ssl.SSLCertVerificationError, host: str) -> str:
    """The one line for a failed certificate check: a CA nobody trusts (see
    --ca-bundle), or a trusted certificate issued for another name, which no
    bundle mends (the URL names the wrong host)."""
    if getattr(error, "verify_code", None) in _NAME_MISMATCH:
        shown = f"[{host}]" if ":" in host else host
        return f"the server's certificate is not for {shown} (its name does not match); check the URL's host"
    return UNTRUSTED


@dataclass(frozen=True)
class Origin:
    """Where requests go: connections are kept open and reused per origin."""

    tls: bool
    host: str
    port: int


@dataclass(frozen=True)
class Route:
    """How a connection reaches its origin: straight, or through a proxy."""

    origin: Origin
    proxy: Proxy | None

    @property
    def dial(self) -> tuple[str, int]:
        """The host and port the socket connects to."""
        if self.proxy is not None:
            return self.proxy.host, self.proxy.port
        return self.origin.host, self.origin.port

    @property
    def tunnel(self) -> bool:
        """https through a proxy: a ``CONNECT`` tunnel first, then TLS inside it."""
        return self.proxy is not None and self.origin.tls

    @property
    def forward(self) -> bool:
        """http through a proxy: requests name the absolute URI."""
        return self.proxy is not None and not self.origin.tls

    def connect_request(self) -> bytes:
        host = f"[{self.origin.host}]" if ":" in self.origin.host else self.origin.host
        where = f"{host}:{self.origin.port}"
        assert self.proxy is not None
        lines = [f"CONNECT {where} HTTP/1.1", f"Host: {where}", *self.proxy.headers()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def route_to(network: NetworkSettings, url: str, origin: Origin) -> Route:
    return Route(origin, proxy_for(network, url))


class ProxyRefused(ConnectionError):
    """The proxy answered the tunnel's ``CONNECT`` (or a request) with a refusal.

    Its text names the proxy without credentials, and says what to check."""

    def __init__(self, proxy: Proxy, status: int | None, reason: str = "") -> None:
        self.proxy, self.status = proxy, status
        if status in (401, 407) and proxy.authorization:
            what = f"refused the credentials (HTTP {status})"
        elif status in (401, 407):
            what = f"asks for credentials (HTTP {status}); put them in the proxy URL as http://user:pass@host:port"
        elif status is None:
            what = "closed the connection instead of opening a tunnel"
        else:
            what = f"refused the connection (HTTP {status}{' ' + reason if reason else ''})"
        super().__init__(f"the proxy {proxy.shown} {what}; check {proxy.source}")


class ProxyUnreachable(ConnectionError):
    """No connection to the proxy itself (refused, no such host, no answer):
    the proxy is named, not the endpoint behind it, which was never contacted."""

    def __init__(self, proxy: Proxy, reason: str) -> None:
        self.proxy = proxy
        super().__init__(f"could not reach the proxy {proxy.shown} ({reason}); check {proxy.source}")


class WouldBlock(Exception):
    """The socket is not ready: wait for ``events``."""

    def __init__(self, events: int) -> None:
        super().__init__(events)
        self.events = events


class Resolver:
    """Resolved addresses per host, shared by every connection of the process."""

    def __init__(self, refresh: float = REFRESH) -> None:
        self._refresh = refresh
        self._lock = threading.Lock()
        self._hosts: dict[tuple[str, int], tuple[float, list[tuple[int, tuple]]]] = {}
        self._turn: dict[tuple[str, int], int] = {}
        self._shunned: dict[tuple, float] = {}

    def addresses(self, host: str, port: int) -> list[tuple[int, tuple]]:
        """(family, sockaddr) to try in order for a new connection to ``host``."""
        now = time.monotonic()
        with self._lock:
            known = self._hosts.get((host, port))
        if known is None or now - known[0] >= self._refresh:
            try:
                found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                if known is None:
                    raise socket.gaierror("host not found") from None
                found = None  # a resolver that failed for a moment: the addresses known still serve
            if found:
                known = (now, _interleave([(family, where) for family, _, _, _, where in found]))
                with self._lock:
                    self._hosts[(host, port)] = known
        assert known is not None
        listed = known[1]
        with self._lock:
            turn = self._turn.get((host, port), 0)
            self._turn[(host, port)] = turn + 1
            shunned = {where for where in (w for _, w in listed) if self._shunned.get(where, 0.0) > now}
        start = turn % len(listed)
        rotated = listed[start:] + listed[:start]
        return [a for a in rotated if a[1] not in shunned] + [a for a in rotated if a[1] in shunned]

    def failed(self, where: tuple) -> None:
        with self._lock:
            self._shunned[where] = time.monotonic() + SHUNNED

    def worked(self, where: tuple) -> None:
        with self._lock:
            self._shunned.pop(where, None)


RESOLVER = Resolver()
"""The process's one: listings and lanes share what they learn of dead addresses."""


def _interleave(addresses: list[tuple[int, tuple]]) -> list[tuple[int, tuple]]:
    """IPv6 and IPv4 alternating, each family in the resolver's order (RFC 8305 4)."""
    six = [a for a in addresses if a[0] == socket.AF_INET6]
    four = [a for a in addresses if a[0] != socket.AF_INET6]
    first, second = (six, four) if addresses and addresses[0][0] == socket.AF_INET6 else (four, six)
    merged: list[tuple[int, tuple]] = []
    for n in range(max(len(first), len(second))):
        merged.extend(x[n] for x in (first, second) if n < len(x))
    return merged


class Stage(enum.Enum):
    """How far a :class:`Connection` has got; it only moves forward."""

    CONNECT = enum.auto()
    """TCP connect in progress (a failure here moves to the next address)."""
    TUNNEL = enum.auto()
    """A proxy's ``CONNECT`` sent; waiting for its answer."""
    HANDSHAKE = enum.auto()
    """TLS handshake in progress."""
    READY = enum.auto()
    """Requests can be sent."""


class Connection:
    """A non-blocking socket to one origin: connect, tunnel, TLS, then requests in turn.

    It starts on the first of ``addresses`` and moves to the next one itself
    when a connect fails or takes too long (:meth:`next_address`); the caller
    watches :attr:`sock`, which changes then."""

    __slots__ = ("route", "sock", "stage", "uses", "since", "_context", "_addresses", "_tried",
                 "_tunnel_out", "_tunnel_in", "_resolver")

    def __init__(self, route: Route, addresses: list[tuple[int, tuple]], context: ssl.SSLContext | None,
                 resolver: Resolver = RESOLVER) -> None:
        self.route = route
        self._context = context
        self._addresses = addresses
        self._resolver = resolver
        self._tried = 0
        self.uses = 0
        """Requests sent on it; a reused connection the server closed while idle is no failure."""
        self._tunnel_out = b""
        self._tunnel_in = bytearray()
        self.sock: socket.socket = None  # type: ignore[assignment]
        self.since = 0.0
        self.stage = Stage.CONNECT
        while True:
            try:
                self._dial()
                return
            except OSError:
                if not self.next_address(closed=True):
                    raise

    @property
    def origin(self) -> Origin:
        return self.route.origin

    @property
    def where(self) -> tuple:
        return self._addresses[self._tried][1]

    def _dial(self) -> None:
        family, where = self._addresses[self._tried]
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.since = time.monotonic()
        code = self.sock.connect_ex(where)
        if code not in (0, errno.EINPROGRESS):
            self.sock.close()
            raise OSError(code, "connection failed")

    def attempt_limit(self, connect_timeout: float) -> float:
        """Seconds this connect may take on its address: short while others remain."""
        return min(ATTEMPT, connect_timeout) if self._tried + 1 < len(self._addresses) else connect_timeout

    def next_address(self, closed: bool = False) -> bool:
        """The connect on this address failed: set it aside and start on the
        next; False when none is left (the socket is then closed)."""
        if self.stage is not Stage.CONNECT:
            return False
        self._resolver.failed(self.where)
        if not closed:
            self.close()
        while self._tried + 1 < len(self._addresses):
            self._tried += 1
            try:
                self._dial()
                return True
            except OSError:
                self._resolver.failed(self.where)
        return False

    def open(self) -> None:
        """Advance the connect, the tunnel and the TLS handshake; raises
        WouldBlock until ready, OSError (or :class:`ProxyRefused`) on failure."""
        if self.stage is Stage.CONNECT:
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == errno.EINPROGRESS or (code == 0 and not self._connected()):
                raise WouldBlock(WRITE)
            if code:
                raise OSError(code, "connection failed")
            self._resolver.worked(self.where)
            if self.route.tunnel:
                self._tunnel_out = self.route.connect_request()
                self.stage = Stage.TUNNEL
            else:
                self._start_tls()
        if self.stage is Stage.TUNNEL:
            self._tunnel()
            self._start_tls()
        if self.stage is Stage.HANDSHAKE:
            try:
                self.sock.do_handshake()  # type: ignore[attr-defined]
            except ssl.SSLWantReadError:
                raise WouldBlock(READ) from None
            except ssl.SSLWantWriteError:
                raise WouldBlock(WRITE) from None
            self.stage = Stage.READY

    def _start_tls(self) -> None:
        if self._context is None or not self.origin.tls:
            self.stage = Stage.READY
            return
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.origin.host,
                                              do_handshake_on_connect=False)
        self.stage = Stage.HANDSHAKE

    def _tunnel(self) -> None:
        """Send ``CONNECT`` and read the proxy's answer; only a 2xx opens the tunnel."""
        assert self.route.proxy is not None
        while self._tunnel_out:
            try:
                sent = self.sock.send(self._tunnel_out)
            except BlockingIOError:
                raise WouldBlock(WRITE) from None
            self._tunnel_out = self._tunnel_out[sent:]
        while b"\r\n\r\n" not in self._tunnel_in:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                raise WouldBlock(READ) from None
            if not data:
                raise ProxyRefused(self.route.proxy, None)
            self._tunnel_in += data
            if len(self._tunnel_in) > MAX_HEAD:
                raise ProxyRefused(self.route.proxy, None)
        status_line = bytes(self._tunnel_in).split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        if status is None or not 200 <= status < 300:
            raise ProxyRefused(self.route.proxy, status, parts[2] if len(parts) > 2 else "")
        self._tunnel_in = bytearray()

    def _connected(self) -> bool:
        try:
            self.sock.getpeername()
        except OSError:
            return False
        return True

    def send(self, data: memoryview) -> int:
        try:
            return self.sock.send(data)
        except (BlockingIOError, ssl.SSLWantWriteError):
            raise WouldBlock(WRITE) from None
        except ssl.SSLWantReadError:
            raise WouldBlock(READ) from None

    def recv_into(self, view: memoryview) -> int:
        """Bytes read into ``view``; 0 at the end of the stream."""
        try:
            return self.sock.recv_into(view)
        except (BlockingIOError, ssl.SSLWantReadError):
            raise WouldBlock(READ) from None
        except ssl.SSLWantWriteError:
            raise WouldBlock(WRITE) from None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return 0

    def pending(self) -> bool:
        """Bytes already decrypted and waiting (``epoll`` cannot see them)."""
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def alive(self) -> bool:
        """Whether a kept connection may carry a request: the server has not
        closed it while it was idle (a peek that reads no byte says so)."""
        try:
            data = socket.socket.recv(self.sock, 1, socket.MSG_PEEK)  # the raw socket, under any TLS
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        return bool(data) and isinstance(self.sock, ssl.SSLSocket)  # plain HTTP: no byte is due

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def dial(network: NetworkSettings, url: str, origin: Origin, resolver: Resolver = RESOLVER) -> Connection:
    """A new connection for a request to ``url`` (raises ``socket.gaierror``
    when the host, or the proxy's, has no address; OSError when every address
    refused at once)."""
    route = route_to(network, url, origin)
    context = tls_context(network) if origin.tls else None
    try:
        return Connection(route, resolver.addresses(*route.dial), context, resolver)
    except OSError as error:
        if route.proxy is None:
            raise
        raise ProxyUnreachable(route.proxy, _why(error)) from None


def _why(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return "host not found"
    if isinstance(error, TimeoutError):
        return "timed out"
    return "connection refused" if error.errno == errno.ECONNREFUSED else "connection failed"


def open_blocking(network: NetworkSettings, url: str, origin: Origin, connect_timeout: float,
                  read_timeout: float) -> tuple[socket.socket, Route]:
    """A connected, tunnelled and TLS-wrapped blocking socket for ``url``."""
    conn = dial(network, url, origin)
    selector = selectors.DefaultSelector()
    try:
        while True:
            deadline = time.monotonic() + (conn.attempt_limit(connect_timeout) if conn.stage is Stage.CONNECT
                                           else connect_timeout)
            try:
                conn.open()
                break
            except WouldBlock as wait:
                left = deadline - time.monotonic()
                selector.register(conn.sock, wait.events)
                ready = selector.select(max(0.0, left)) if left > 0 else []
                selector.unregister(conn.sock)
                if not ready and not conn.next_address():
                    conn.close()
                    if conn.stage is Stage.CONNECT and conn.route.proxy is not None:
                        raise ProxyUnreachable(conn.route.proxy, "timed out") from None
                    raise TimeoutError("timed out") from None
            except ProxyRefused:
                conn.close()
                raise
            except ssl.SSLError:
                conn.close()
                raise
            except OSError as error:
                if not conn.next_address():
                    conn.close()
                    if conn.stage is Stage.CONNECT and conn.route.proxy is not None:
                        raise ProxyUnreachable(conn.route.proxy, _why(error)) from None
                    raise
    finally:
        selector.close()
    conn.sock.settimeout(read_timeout)
    return conn.sock, conn.route
