"""A slow link on loopback: a TCP relay whose downstream bytes (server to
client) share one rate, as a site's uplink or a far path does, and which
counts them, so a test can act when a number of bytes has passed (an event,
not a time). Upstream bytes (requests) pass at once."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time

PIECE = 16 * 1024
"""Most bytes one connection sends per turn of the shared pace."""


class ShapedLink:
    """``127.0.0.1:port`` relayed to ``target`` at ``rate`` bytes per second over all connections."""

    def __init__(self, target: tuple[str, int], rate: float) -> None:
        self._target = target
        self._rate = rate
        self._lock = threading.Lock()
        self._free_at = time.monotonic()
        self.delivered = 0
        """Downstream bytes handed to the clients so far."""
        self.connections = 0
        self._open = 0
        self.most_open = 0
        """The most connections open at once."""
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _pace(self, nbytes: int) -> None:
        """Wait for the link's turn to carry ``nbytes``."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._free_at)
            self._free_at = start + nbytes / self._rate
        if start > now:
            time.sleep(start - now)

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._target)
        except OSError:
            client.close()
            return
        with self._lock:
            self.connections += 1
            self._open += 1
            self.most_open = max(self.most_open, self._open)
        try:
            self._relay(client, upstream)
        finally:
            with self._lock:
                self._open -= 1

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(client, selectors.EVENT_READ)
                selector.register(upstream, selectors.EVENT_READ)
                while True:
                    for key, _ in selector.select():
                        source = key.fileobj
                        data = source.recv(PIECE)
                        if not data:
                            return
                        if source is upstream:
                            self._pace(len(data))
                            client.sendall(data)
                            with self._lock:
                                self.delivered += len(data)
                        else:
                            upstream.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._closed = True
        self._sock.close()
