"""One lock file per file being fetched, so runs sharing a data directory
(the same SLURM script started twice, the app and a batch job) do not fetch
one file twice at once.

``flock``/``fcntl`` locks are not trusted: on NFS and Lustre they are
per-mount options, may be silently local, or may be lost with a client.
Instead ``<name>.lock`` is made beside the file with ``O_CREAT | O_EXCL``
(atomic on NFSv3+ and Lustre) and holds the holder's host, pid, time and
token, and, where ``/proc`` tells, the host's boot id and the process's
start time. A lock is *stale*, and is taken over, when:

* its holder is on this host and is provably gone: its pid is not alive, the
  host has booted since (another boot id), or the pid now belongs to another
  process (another start time; for a lock without one, a process started
  after the lock was written). A pid alone is no proof: pids are reused;
* it is empty or unreadable and older than :data:`GRACE` (a writer fills it
  within microseconds of making it, so it was torn by a crash);
* it was not refreshed (the holder touches it every :data:`REFRESH_EVERY`
  seconds) for :data:`STALE_AFTER` seconds, which is the only rule that works
  for a holder on another node (clocks of the nodes must agree within
  minutes; the limit is far above NFS attribute caching). A lock whose
  content is dated more than :data:`STALE_AFTER` in the future (whatever its
  file time, which the file server's clock may set) was written by no clock
  that agrees with this one, and is stale too, unless it names a live
  process of this host by its start time.

The lock is an economy, not what keeps files correct: every process writes
its own temp names (:func:`token` is in them), checks every byte and renames
atomically, so two processes that both believe they hold a lock (a takeover
of a holder that was only suspended) still leave a correct file.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from laion_fmri_tui.core.errors import LaionFmriError

STALE_AFTER = 600.0
"""Seconds without a refresh after which a lock of another host is stale."""

REFRESH_EVERY = 60.0
"""Seconds between the holder's refreshes of its locks."""

GRACE = 5.0
"""Seconds an empty or unreadable lock may be one being written right now."""

_REUSE_SLACK = 2.0
"""Seconds by which a process may seem to have started after the lock it
wrote (the start time is worked out from the uptime, to 1/100 s)."""

_token: tuple[int, str] | None = None


def token() -> str:
    """This process's token: in its lock files and its temp file names.

    Eight hex digits of randomness (short: file names of the dataset are
    long already), made again in a forked child."""
    global _token
    if _token is None or _token[0] != os.getpid():
        _token = (os.getpid(), secrets.token_hex(4))
    return _token[1]


def host() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:64] or "unknown"


def lock_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".lock")


class UnsafePathError(LaionFmriError):
    """A path the tool must write is a symbolic link (or not a regular file):
    that one file is refused (the run fails it and goes on)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its file says."""

    host: str
    pid: int
    time: float
    token: str
    boot: str = ""
    """The holder host's boot id ("": not recorded)."""
    start: int = 0
    """The holder's start time in clock ticks since boot (0: not recorded)."""

    def describe(self) -> str:
        if not self.pid:
            return "a process that has not written its lock yet"
        return f"process {self.pid} on {self.host}"

    def remedy(self, dest: Path) -> str:
        """How to proceed while this holder keeps ``dest`` (one clause, for the
        waiting line). ``kill`` is suggested only for a process of this host
        that runs this program (by its ``/proc`` command line): a lock can be
        planted naming any process, such as the user's shell; never init or
        this run."""
        if not self.pid:
            return "it is taken over if it stays empty"
        local = self.host == host()
        if local and self.pid not in (1, os.getpid()) and runs_this_program(self.pid):
            return f"this run waits until it ends (or stop it: kill {self.pid})"
        lock = lock_path(dest)
        if local and self.time > time.time() + STALE_AFTER:  # respected as a live process's (see _stale)
            return (f"this run waits until it ends; if no run of laion-fmri-tui is fetching it, delete {lock} "
                    "(dated in the future, it is not taken over by itself)")
        if local:
            return (f"this run waits until it ends; if no run of laion-fmri-tui is fetching it (process "
                    f"{self.pid} runs another program), delete {lock} (taken over by itself "
                    f"{STALE_AFTER / 60:.0f} minutes after its last refresh)")
        return (f"this run waits until it ends; if it no longer runs there, delete {lock} "
                f"(taken over by itself {STALE_AFTER / 60:.0f} minutes after its last refresh)")

    @property
    def mine(self) -> bool:
        return self.token == token() and self.host == host() and self.pid == os.getpid()


UNKNOWN = Holder("?", 0, 0.0, "")
"""The holder of a lock that is still empty (being written, within :data:`GRACE`)."""


@dataclass(frozen=True)
class Claim:
    """The outcome of :func:`acquire`: ``busy`` names a live holder (the lock
    is not ours); otherwise the lock is ours and ``previous`` is the stale
    holder it was taken from (its temp files may be adopted), if any."""

    busy: Holder | None = None
    previous: Holder | None = None


def acquire(dest: Path) -> Claim:
    """Take ``dest``'s lock, taking over a stale one; raises UnsafePathError
    when the lock's path is a symbolic link."""
    path = lock_path(dest)
    previous: Holder | None = None
    for _ in range(8):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            holder, age = _read(path)
            if holder is not None and holder.mine:
                return Claim(previous=holder)  # left by this process's earlier run (the app's retry)
            if not _stale(holder, age):
                return Claim(busy=holder or UNKNOWN)
            if _take_over(path, holder):
                previous = holder
            continue
        try:
            os.write(fd, json.dumps(_mine()).encode())
        finally:
            os.close(fd)
        return Claim(previous=previous)
    holder, _ = _read(path)
    return Claim(busy=holder or UNKNOWN)


def release(dest: Path) -> None:
    """Remove ``dest``'s lock if it is still this process's."""
    path = lock_path(dest)
    holder, _ = _read(path, strict=False)
    if holder is not None and holder.mine:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def refresh(dests: list[Path]) -> None:
    """Touch the locks of the files this process is fetching (see :data:`STALE_AFTER`)."""
    for dest in dests:
        try:
            os.utime(lock_path(dest), follow_symlinks=False)
        except OSError:
            pass  # gone (taken over): the temp names keep the two runs apart


def holder_of(dest: Path) -> tuple[Holder | None, bool]:
    """The holder named in ``dest``'s lock, if any, and whether it is alive."""
    holder, age = _read(lock_path(dest), strict=False)
    if holder is None:
        return (UNKNOWN, True) if not _stale(None, age) else (None, False)
    return holder, holder.mine or not _stale(holder, age)


def _mine() -> dict[str, object]:
    """What this process writes into its locks."""
    own: dict[str, object] = {"host": host(), "pid": os.getpid(), "time": time.time(), "token": token()}
    boot, start = _boot_id(), _start_ticks(os.getpid())
    if boot and start:
        own.update(boot=boot, start=start)
    return own


def _read(path: Path, strict: bool = True) -> tuple[Holder | None, float]:
    """The lock's holder (None: gone, empty or torn) and the age of its file time
    in seconds (negative: dated in the future; infinite: no lock there).

    Opened without blocking and read only when a regular file, at most
    :data:`READ_AT_MOST` bytes: a FIFO planted there would block the open (and
    every ``--dry-run``, ``info`` and run with it), a device would be read
    without end. ``strict`` (the lock is to be taken): a symbolic link or
    anything but a regular file refuses the file; otherwise such a lock is
    no lock."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, math.inf
    except OSError as error:
        if error.errno == errno.ELOOP:
            if strict:
                raise UnsafePathError(f"refusing {path}: it is a symbolic link; remove it and rerun") from None
            return None, math.inf
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            if strict:
                raise UnsafePathError(f"refusing {path}: it is not a regular file; remove it and rerun")
            return None, math.inf
        data = os.read(fd, READ_AT_MOST)
    finally:
        os.close(fd)
    age = time.time() - info.st_mtime
    try:
        holder = _parse(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError):
        return None, age  # being written right now, or torn by a crash: judged by its age
    return holder, age


READ_AT_MOST = 64 * 1024
"""Bytes of a lock read at most: what this module writes is about 200; a
longer one is torn JSON, so unreadable."""

_HOST = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""What :func:`host` writes."""
_TOKEN = re.compile(r"[0-9a-f]{4,32}")
"""What :func:`token` writes (eight hex digits), with room for a longer one."""
_BOOT = re.compile(r"[0-9a-f-]{0,64}")
"""What ``/proc/sys/kernel/random/boot_id`` holds (a UUID), or nothing."""
_MAX_PID = 1 << 22
"""Linux's largest ``pid_max``."""


def _parse(raw: object) -> Holder:
    """The holder a lock's JSON names; ValueError unless every field is one
    this module writes: a token goes into file names (one with ``/`` or of
    300 characters would make a path outside the folder, or no path), a pid
    into ``kill`` (one of 20 digits overflows). Such a lock counts as
    unreadable: taken over once older than :data:`GRACE`, as a torn one."""
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    host_, pid, written, token_ = raw["host"], raw["pid"], raw["time"], raw["token"]
    boot, start = raw.get("boot", ""), raw.get("start", 0)
    if not (isinstance(host_, str) and _HOST.fullmatch(host_) and isinstance(token_, str)
            and _TOKEN.fullmatch(token_) and isinstance(boot, str) and _BOOT.fullmatch(boot)):
        raise ValueError("a field that is not what a lock holds")
    if not (_whole(pid) and 0 < pid <= _MAX_PID and _whole(start) and 0 <= start < 1 << 63):
        raise ValueError("a process id or start time out of range")
    if isinstance(written, bool) or not isinstance(written, (int, float)) or not math.isfinite(written):
        raise ValueError("a time that is not a number")
    return Holder(host_, pid, float(written), token_, boot, start)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _stale(holder: Holder | None, age: float) -> bool:
    """Whether a lock (its holder as read, its file's age) may be taken over."""
    if holder is None:
        return abs(age) > GRACE  # empty or torn: only a lock being written right now is young
    alive = _local_verdict(holder) if holder.host == host() else None
    if alive is False:
        return True
    now = time.time()
    if holder.time > now + STALE_AFTER:  # written in the future: no clock that agrees with ours wrote it
        return alive is None  # (its file time may be current: a file server's clock sets it)
    signs = [t for t in (now - age, holder.time) if t <= now + STALE_AFTER]
    return now - max(signs) > STALE_AFTER  # not refreshed: stuck, or gone from another node


def _local_verdict(holder: Holder) -> bool | None:
    """Whether the holder, a process of this host by its lock, is alive: True
    (its pid and start time), False (provably ended) or None (cannot tell)."""
    boot = _boot_id()
    if holder.boot and boot and holder.boot != boot:
        return False  # this host has booted since: every process of that boot has ended
    if holder.pid == os.getpid():
        return holder.token == token()  # this very pid: another process's lock, unless it is ours
    if not _alive(holder.pid):
        return False
    started = _start_ticks(holder.pid)
    if started is None:
        return None  # no /proc (or not ours to see): the refreshes decide
    if holder.start:
        return started == holder.start
    begun = _started_at(started)
    return False if begun is not None and begun > holder.time + _REUSE_SLACK else None


PROGRAM_NAMES = (b"laion-fmri-tui", b"laion_fmri_tui")
"""An argument of this program's command line: the installed script's path,
or the module of ``python -m laion_fmri_tui``."""


def runs_this_program(pid: int) -> bool:
    """Whether process ``pid`` of this host runs laion-fmri-tui, by an
    argument of its ``/proc`` command line (False: another program, or unknown)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            args = file.read(64 * 1024).split(b"\0")
    except OSError:
        return False
    return any(os.path.basename(arg) in PROGRAM_NAMES for arg in args)


def _boot_id() -> str:
    """This host's boot id ("" where there is none to read)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as file:
            return file.read().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int | None:
    """Process ``pid``'s start time in clock ticks since boot (None: unknown)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat_line = file.read()
        return int(stat_line[stat_line.rindex(b")") + 2:].split()[19])  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return None


def _started_at(ticks: int) -> float | None:
    """The wall-clock time of a start at ``ticks`` since boot (None: unknown)."""
    try:
        with open("/proc/uptime", encoding="ascii") as file:
            uptime = float(file.read().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take_over(path: Path, judged: Holder | None) -> bool:
    """Move a stale lock aside (atomic: one taker wins) and check it was the
    one judged stale; a fresh lock moved by mistake is put back. True when
    the stale lock was removed by this call."""
    aside = path.with_name(f"{path.name}.{token()}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False  # another process took it over first
    moved, _ = _read(aside, strict=False)
    if moved != judged:
        try:
            os.link(aside, path)  # put it back, unless a newer one took its place
        except OSError:
            pass
        os.unlink(aside)
        return False
    os.unlink(aside)
    return True
