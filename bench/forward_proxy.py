"""Debian's tinyproxy as the site's forward proxy, for the bench's proxy scenario.

Users on a cluster often reach S3 only through an HTTP proxy. The bench puts
tinyproxy between every client and the shaping proxy (``http_proxy`` /
``HTTP_PROXY`` in the client's environment, so every tool is told the same
way): plain-HTTP requests go through it by absolute URI, each client
connection being one proxy connection. It is started by the bench process,
so it runs on the rig's core like the server and the shaper.

    with Tinyproxy(folder) as proxy:
        env = proxy.client_env()
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from servers import free_port, process_cpu_seconds, stop_process


class Tinyproxy:
    """tinyproxy on 127.0.0.1 with room for a download's connections (``MaxClients``)."""

    def __init__(self, folder: Path, max_clients: int = 1024) -> None:
        self.folder = Path(folder)
        self.max_clients = max_clients
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_env(self) -> dict[str, str]:
        """The environment that sends a client's plain-HTTP requests through the proxy."""
        return {"http_proxy": self.url, "HTTP_PROXY": self.url, "no_proxy": "", "NO_PROXY": ""}

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc)

    @staticmethod
    def binary() -> str | None:
        found = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
        return found if os.access(found, os.X_OK) else None

    @classmethod
    def available(cls) -> bool:
        return cls.binary() is not None

    def start(self) -> Tinyproxy:
        binary = self.binary()
        if binary is None:
            raise FileNotFoundError("tinyproxy not found: apt-get install tinyproxy")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        lines = [f"Port {self.port}", "Listen 127.0.0.1", "Allow 127.0.0.1", "Timeout 120",
                 f'LogFile "{self.folder / "tinyproxy.log"}"', "LogLevel Warning",
                 f"MaxClients {self.max_clients}", f'PidFile "{self.folder / "tinyproxy.pid"}"',
                 "DisableViaHeader Yes"]
        if os.geteuid() == 0:
            lines += ["User root", "Group root"]
        conf = self.folder / "tinyproxy.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([binary, "-d", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tinyproxy exited early with code {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError("tinyproxy did not listen")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, grace=10)

    def __enter__(self) -> Tinyproxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
