"""The installed ``laion-fmri-tui`` in a real terminal: a private tmux server, keys in, screen out.

Journeys drive the console script a user runs, in a tmux pane of a given
size (80x23 is an 80x24 terminal under tmux's status line), under the
terminal settings users have on a login node: ``TERM=xterm-256color``
without ``COLORTERM`` (ssh does not forward it), or ``NO_COLOR=1``.

Each :class:`Terminal` has its own tmux server (``-S socket -f /dev/null``:
no user config, no other sessions). The pane runs the app and, once the app
returns, a shell line that prints :data:`SHELL_BACK` and writes the exit code
to a file, so a test sees both the code and that the terminal came back (the
marker is only visible once the app has left the alternate screen).

Waiting is by polling the screen for markers; the timeouts are failure bounds
only, never what a test measures.

Usage::

    with Terminal.start(tmp_path, demo_args(), size=(80, 23), profile=NO_COLOR) as term:
        term.wait_for("CC0", "Accept")
        term.keys("a")
        ...
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SHELL_BACK = "SHELL-IS-BACK"
"""Printed by the pane's shell once the app has exited and restored the terminal."""
SIZES = [(80, 23), (120, 40)]
"""The pane sizes every journey runs at: tmux's 80x24 minus its status line, and a roomy one."""


@dataclass(frozen=True)
class Profile:
    """The terminal environment a user's shell gives the app."""

    name: str
    env: dict[str, str] = field(default_factory=dict)


XTERM_256 = Profile("xterm-256color", {"TERM": "xterm-256color"})
"""256 colours, no COLORTERM (what an ssh session into tmux usually has)."""
NO_COLOR = Profile("no-color", {"TERM": "xterm-256color", "NO_COLOR": "1"})
"""The user asked for no colour."""
PROFILES = [XTERM_256, NO_COLOR]


def require_tmux() -> None:
    """Skip without tmux, unless CI is set: there its absence is a failure."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is not installed (CI is set, so this is a failure, not a skip)")
        pytest.skip("tmux is not installed")


def entry_point() -> str:
    """The installed console script of this environment."""
    script = Path(sys.executable).with_name("laion-fmri-tui")
    if not script.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{script} is not installed")
        pytest.skip("laion-fmri-tui is not installed in this environment")
    return str(script)


def demo_args(*extra: str) -> list[str]:
    """``--demo``: the app starts its own servers and a temporary data directory."""
    return ["--demo", *extra]


def server_args(s3, access, data_dir: Path | None = None, *extra: str) -> list[str]:
    """The app against the suite's own S3 and access servers (the ``s3`` and
    ``access`` fixtures); without ``data_dir`` it asks for one (first run)."""
    args = ["--endpoint-url", s3.url, "--access-url", access.url]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    return [*args, *extra]


class Terminal:
    """A private tmux server whose one pane runs a shell line (usually the app: :meth:`start`)."""

    def __init__(self, workdir: Path, line: str, *, size: tuple[int, int] = (80, 23)) -> None:
        """Run ``line`` under ``sh -c`` in a ``size`` pane; then print :data:`SHELL_BACK`
        and keep the pane (the line's exit code goes to :attr:`exit_file`)."""
        require_tmux()
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.size = size
        self.exit_file = workdir / "exit-code"
        self.exit_file.unlink(missing_ok=True)
        self.base = ["tmux", "-S", str(workdir / "tmux.sock"), "-f", os.devnull]
        server_env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        full = (f"{line}; echo $? > {shlex.quote(str(self.exit_file))}; echo {SHELL_BACK}; exec sleep 600")
        width, height = size
        subprocess.run([*self.base, "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                        "sh", "-c", full], check=True, env=server_env)

    @classmethod
    def start(cls, workdir: Path, args: Sequence[str], *, size: tuple[int, int] = (80, 23),
              profile: Profile = XTERM_256, env: dict[str, str] | None = None) -> Terminal:
        """The installed ``laion-fmri-tui ARGS`` with the profile's TERM / NO_COLOR and no
        COLORTERM (inside tmux the app would otherwise see tmux's own TERM)."""
        app_env = {**profile.env, **(env or {})}
        assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in app_env.items())
        command = " ".join(shlex.quote(a) for a in (entry_point(), *args))
        return cls(workdir, f"env -u COLORTERM {assigns} {command}", size=size)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    # reading -------------------------------------------------------------------
    def screen(self) -> str:
        """The pane's text as shown now."""
        return subprocess.run([*self.base, "capture-pane", "-p", "-t", "t"], capture_output=True,
                              text=True).stdout

    def rich_screen(self) -> str:
        """The pane with its SGR escapes (colours, bold, reverse), as tmux stores them."""
        return subprocess.run([*self.base, "capture-pane", "-e", "-p", "-t", "t"], capture_output=True,
                              text=True).stdout

    def pane_size(self) -> tuple[int, int]:
        out = self.display("#{pane_width} #{pane_height}").split()
        return int(out[0]), int(out[1])

    def display(self, fmt: str) -> str:
        """tmux's value of a format (``#{alternate_on}``, ``#{pane_tty}``) for the pane."""
        return subprocess.run([*self.base, "display", "-p", "-t", "t", fmt], capture_output=True,
                              text=True, check=True).stdout.strip()

    def wait_for(self, *markers: str, timeout: float = 30.0) -> str:
        """The screen once every marker is on it (polled; ``timeout`` only bounds a failure)."""
        return self.wait_until(lambda screen: all(m in screen for m in markers), timeout=timeout,
                               what=f"{markers} on screen")

    def wait_gone(self, *markers: str, timeout: float = 30.0) -> str:
        """The screen once none of the markers is on it."""
        return self.wait_until(lambda screen: not any(m in screen for m in markers), timeout=timeout,
                               what=f"{markers} gone from the screen")

    def wait_until(self, check: Callable[[str], bool], *, timeout: float = 30.0, what: str = "condition") -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; the screen:\n{screen}")
            time.sleep(0.05)

    # writing -------------------------------------------------------------------
    def keys(self, *keys: str, gap: float = 0.15) -> None:
        """Press tmux key names one after the other (``a``, ``Space``, ``Down``, ``C-s``, ``Escape``).

        A bare escape waits longer before the next key: an escape byte followed at
        once by ``q`` is what a terminal sends for alt+q."""
        for key in keys:
            subprocess.run([*self.base, "send-keys", "-t", "t", key], check=True)
            time.sleep(gap + (0.35 if key == "Escape" else 0.0))

    def type(self, text: str) -> None:
        """Type literal text (no key-name lookup)."""
        subprocess.run([*self.base, "send-keys", "-t", "t", "-l", text], check=True)

    def resize(self, width: int, height: int) -> None:
        subprocess.run([*self.base, "resize-window", "-t", "t", "-x", str(width), "-y", str(height)], check=True)
        self.size = (width, height)

    # the end -------------------------------------------------------------------
    def exit_code(self) -> int | None:
        """The app's exit code once it has returned, else None."""
        try:
            text = self.exit_file.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait until the app returned and the shell took the terminal back; the exit code."""
        self.wait_for(SHELL_BACK, timeout=timeout)
        code = self.exit_code()
        assert code is not None, self.screen()
        return code

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


def app_pid(term: Terminal) -> int:
    """The pid of the program the pane's shell runs (``env`` execs the app, so it is the
    shell's one child)."""
    shell = int(subprocess.run([*term.base, "display", "-p", "-t", "t", "#{pane_pid}"], capture_output=True,
                               text=True, check=True).stdout)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == shell:
            return int(stat.parent.name)
    raise AssertionError(f"no child of the pane's shell {shell}; the screen:\n{term.screen()}")


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    """Wait until process ``pid`` has ended (polled; the timeout only bounds a failure)."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        status = Path(f"/proc/{pid}/status")
        try:
            if "State:\tZ" in status.read_text():
                return
        except OSError:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} still runs after {timeout} s")
        time.sleep(0.05)
