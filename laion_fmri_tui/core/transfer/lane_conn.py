"""One non-blocking keep-alive connection of the lane, plain TCP or TLS.

Every call returns at once: what the socket cannot do yet raises
:class:`WouldBlock` with the readiness the lane should wait for, so one
thread drives hundreds of connections from one ``epoll``.
"""

from __future__ import annotations

import errno
import selectors
import socket
import ssl
import time

from laion_fmri_tui.core.transfer.http_wire import Origin

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class WouldBlock(Exception):
    """The socket is not ready: wait for ``events``."""

    def __init__(self, events: int) -> None:
        super().__init__(events)
        self.events = events


class Connection:
    """A socket to one origin: connect, TLS handshake, then requests in turn."""

    __slots__ = ("origin", "sock", "stage", "uses", "since", "_context")

    def __init__(self, origin: Origin, address: tuple, family: int, context: ssl.SSLContext | None) -> None:
        self.origin = origin
        self._context = context
        self.sock: socket.socket = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.uses = 0
        """Requests sent on it; a reused connection the server closed while idle is no failure."""
        self.since = time.monotonic()
        """When it was opened (for the connect timeout)."""
        code = self.sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            self.sock.close()
            raise OSError(code, "connection failed")
        self.stage = "connect"

    def open(self) -> None:
        """Advance the connect and the TLS handshake; raises WouldBlock until ready."""
        if self.stage == "connect":
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == errno.EINPROGRESS or (code == 0 and not self._connected()):
                raise WouldBlock(WRITE)
            if code:
                raise OSError(code, "connection failed")
            if self._context is None:
                self.stage = "ready"
                return
            self.sock = self._context.wrap_socket(self.sock, server_hostname=self.origin.host,
                                                  do_handshake_on_connect=False)
            self.stage = "handshake"
        if self.stage == "handshake":
            try:
                self.sock.do_handshake()  # type: ignore[attr-defined]
            except ssl.SSLWantReadError:
                raise WouldBlock(READ) from None
            except ssl.SSLWantWriteError:
                raise WouldBlock(WRITE) from None
            self.stage = "ready"

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
