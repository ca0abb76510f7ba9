"""Ctrl-C while the bucket does not answer: the process ends at once with 130.

A stand-in on 127.0.0.1 accepts connections and never answers, so listings
wait out their read timeouts and ``--retry-for``. The test sends SIGINT once
the tool has connected (a counter on the stand-in, not a sleep) and bounds the
exit generously: before the fix the interpreter's exit joined the listing
threads for minutes, and a traceback could follow the "interrupted" line.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env

from laion_fmri_tui.batch.exit_codes import ExitCode

EXIT_BOUND = 60  # a failure bound only: the old behaviour took 380 s


class Silent:
    """Accepts every connection and never writes a byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.connected.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def silent():
    server = Silent()
    yield server
    server.close()


def _interrupt(command: list[str], silent: Silent) -> subprocess.CompletedProcess:
    env = {**batch_env(), "PYTHONFAULTHANDLER": "1"}  # SIGABRT on a hang dumps every thread
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, stdin=subprocess.DEVNULL)
    try:
        assert silent.connected.wait(60), "the tool never connected"
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=EXIT_BOUND)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            _, stack = proc.communicate(timeout=30)
            raise AssertionError(f"still running {EXIT_BOUND} s after Ctrl-C; its threads:\n{stack}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.mark.parametrize("how", ["--batch --dry-run", "info"])
def test_ctrl_c_while_the_bucket_does_not_answer_ends_at_once(silent, tmp_path: Path, how: str) -> None:
    endpoint = f"http://127.0.0.1:{silent.port}"
    if how == "info":
        command = batch_command()[:3] + ["info", "--subject", "01", "--endpoint-url", endpoint]
    else:
        command = batch_command("--dry-run", "--subject", "01", "--data-dir", str(tmp_path),
                                "--endpoint-url", endpoint)
    result = _interrupt(command, silent)
    assert result.returncode == ExitCode.INTERRUPTED, result.stderr
    [line] = result.stderr.splitlines()  # one line, no traceback after it
    assert line.startswith("laion-fmri-tui") and line.endswith(": interrupted"), line
