"""Start/stop of a loopback server on a daemon thread, shared by both dev servers,
and their quiet handling of clients that go away."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

log = logging.getLogger("laion_fmri_tui.devserver")

EXPECTED_DISCONNECTS = (ConnectionError, TimeoutError)
"""A client that went away mid-answer (reset, broken pipe, abort, timeout): what a
download that is paused, cancelled or quit does to its connections. Not an error."""


class QuietErrors:
    """socketserver's ``handle_error`` without its traceback.

    The stdlib prints a traceback to stderr for every failed request; in
    ``--demo`` that landed on the user's terminal after ``q`` mid-transfer
    (connection resets). Expected disconnects are dropped; anything else is
    one log line, never a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, EXPECTED_DISCONNECTS):
            return
        log.error("a request from %s failed: %s: %s", client_address, type(error).__name__, error)


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
