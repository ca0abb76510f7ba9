"""A real one-node SLURM cluster (munged + slurmctld + slurmd) for the suite.

Follows the measured recipe in CLUSTER-LAB.md: everything lives in a fresh
temp dir (a stale state dir can keep the node drained), daemons run in the
foreground as our children so teardown can ``wait()`` on them, ports are
free ones on 127.0.0.1, and the node's hardware line comes from ``slurmd -C``
so the node never reports less than configured. Skips when the Debian
packages (slurmctld slurmd slurm-client munge) are not installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# batchtools (how the CLI is run as a subprocess) lives beside the batch tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "batch"))

BINARIES = ("munged", "mungekey", "munge", "unmunge", "slurmctld", "slurmd",
            "sbatch", "sinfo", "squeue", "scontrol", "scancel")


@dataclass(frozen=True)
class SlurmCluster:
    """Where the lab cluster's config is and the environment that reaches it."""

    conf: Path
    env: dict[str, str]
    base: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _hardware() -> str:
    """``slurmd -C``'s first line without NodeName= and UpTime=."""
    line = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    return " ".join(f for f in line.split() if not f.startswith(("NodeName=", "UpTime=")))


def _slurm_conf(base: Path, ctld_port: int, slurmd_port: int) -> str:
    return f"""\
ClusterName=lab
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={base}/munge/munge.socket,cred_expire=10
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MailProg=/bin/true
NodeName=labnode NodeHostname=localhost NodeAddr=127.0.0.1 {_hardware()} State=UNKNOWN
PartitionName=debug Nodes=labnode Default=YES MaxTime=INFINITE State=UP
"""


def _poll(check, children: list[subprocess.Popen], what: str, timeout: float = 30.0) -> None:
    """Wait for *check*; fail at once if a daemon died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p.args[0] for p in children if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def _stop(children: list[subprocess.Popen]) -> None:
    for proc in children:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _missing(what: str) -> None:
    """A lab tool is missing: skip on a developer's machine, fail under CI (.ci/run installs them)."""
    if os.environ.get("CI"):
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """munged, slurmctld and slurmd on 127.0.0.1; yields conf and env (SLURM_CONF set)."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        _missing(f"SLURM lab needs {', '.join(missing)} (apt-get install slurmctld slurmd slurm-client munge)")
    # Short path: the munge socket must stay well under the 108-byte limit.
    base = Path(tempfile.mkdtemp(prefix="slurmlab-"))
    for sub in ("munge", "state", "spool", "log", "job"):
        (base / sub).mkdir()
    (base / "munge").chmod(0o755)
    sock = base / "munge" / "munge.socket"
    subprocess.run(["mungekey", "--create", f"--keyfile={base}/munge/munge.key"], check=True,
                   capture_output=True)
    children: list[subprocess.Popen] = []
    logs = open(base / "log" / "daemons.out", "wb")  # noqa: SIM115 - closed in teardown
    try:
        children.append(subprocess.Popen(
            ["munged", "--foreground", "--force", f"--key-file={base}/munge/munge.key",
             f"--socket={sock}", f"--pid-file={base}/munge/munged.pid",
             f"--log-file={base}/munge/munged.log", f"--seed-file={base}/munge/munged.seed"],
            stdout=logs, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

        def munge_ok() -> bool:
            cred = subprocess.run(["munge", "-n", "-S", str(sock)], capture_output=True)
            return cred.returncode == 0 and subprocess.run(
                ["unmunge", "-S", str(sock)], input=cred.stdout, capture_output=True).returncode == 0

        _poll(munge_ok, children, "munged")
        conf = base / "slurm.conf"
        conf.write_text(_slurm_conf(base, _free_port(), _free_port()))
        env = {**os.environ, "SLURM_CONF": str(conf)}
        for argv in (["slurmctld", "-D", "-f", str(conf)],
                     ["slurmd", "-D", "-N", "labnode", "-f", str(conf)]):
            children.append(subprocess.Popen(argv, env=env, stdout=logs, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL))

        def idle() -> bool:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
            return out.stdout.strip() == "idle"

        _poll(idle, children, "the node to be idle")
        yield SlurmCluster(conf=conf, env=env, base=base)
        subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True)
        _poll(lambda: not subprocess.run(["squeue", "-h"], env=env, capture_output=True,
                                         text=True).stdout.strip(), children, "an empty queue")
    finally:
        _stop(list(reversed(children)))  # slurmd, slurmctld, munged
        logs.close()
        shutil.rmtree(base, ignore_errors=True)


# ---- a second sshd on 127.0.0.1 ---------------------------------------------

@dataclass(frozen=True)
class LabSshd:
    """A private sshd and the client config that logs into it as ``ssh -F ssh_config lab``."""

    ssh_config: Path
    port: int
    base: Path


def _sshd_config(base: Path, port: int) -> str:
    return f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {base}/ssh_host_ed25519_key
PidFile {base}/sshd.pid
AuthorizedKeysFile {base}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AcceptEnv TERM COLORTERM LANG LC_* NO_COLOR
PrintMotd no
PrintLastLog no
"""


def _ssh_config(base: Path, port: int) -> str:
    return f"""\
Host lab
  HostName 127.0.0.1
  Port {port}
  User root
  IdentityFile {base}/client_key
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile {base}/known_hosts
  SendEnv COLORTERM LANG NO_COLOR
  LogLevel ERROR
"""


@pytest.fixture(scope="session")
def lab_sshd() -> Iterator[LabSshd]:
    """sshd on a free 127.0.0.1 port with its own keys; /run/sshd comes from a private tmpfs if missing."""
    missing = [b for b in ("ssh", "ssh-keygen", "tmux", "unshare") if shutil.which(b) is None]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("/usr/sbin/sshd")
    if missing:
        _missing(f"the sshd lab needs {', '.join(missing)} (apt-get install openssh-server tmux)")
    base = Path(tempfile.mkdtemp(prefix="sshlab-"))
    for key in ("ssh_host_ed25519_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / key)], check=True)
    shutil.copy(base / "client_key.pub", base / "authorized_keys")
    port = _free_port()
    conf = base / "sshd_config"
    conf.write_text(_sshd_config(base, port))
    client = base / "ssh_config"
    client.write_text(_ssh_config(base, port))
    sshd = f"/usr/sbin/sshd -D -e -f {conf}"  # absolute: sshd re-execs itself
    if Path("/run/sshd").is_dir():
        argv = sshd.split()
    else:  # no privilege separation dir: give sshd one without touching the host
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                f"mount -t tmpfs -o mode=755 lab-run /run && mkdir -m 755 /run/sshd && exec {sshd}"]
    log = open(base / "sshd.log", "wb")  # noqa: SIM115 - closed in teardown
    children = [subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)]
    try:
        _poll(lambda: subprocess.run(["ssh", "-F", str(client), "lab", "true"], capture_output=True,
                                     stdin=subprocess.DEVNULL, timeout=10).returncode == 0,
              children, "the first ssh login")
        yield LabSshd(ssh_config=client, port=port, base=base)
    finally:
        _stop(children)
        log.close()
        shutil.rmtree(base, ignore_errors=True)
