"""Start/stop of a loopback server on a daemon thread, shared by both dev servers."""

from __future__ import annotations

import threading
from typing import Any


class BackgroundServer:
    """Binds on ``start()`` (port 0 = any free port) and serves from a daemon thread.

    Subclasses build the concrete server in :meth:`_make_server` (werkzeug for
    moto, the stdlib for the access service); both expose ``serve_forever``,
    ``shutdown``, ``server_close`` and ``server_port``.
    """

    label = "server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _make_server(self) -> Any:
        raise NotImplementedError

    def start(self):
        if self._server is None:
            self._server = self._make_server()
            self.port = self._server.server_port
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                            name=f"{self.label}-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self.host}:{self.port}"
