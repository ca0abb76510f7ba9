"""Symbolic links planted in the data directory are never written through.

On group-writable scratch anyone can plant a link at a file's temp names or
final path; the tool refuses such a file with one clear line (or, for names
it does not use, ignores the link) and the file the link points to is left
exactly as it was. A link to a folder that the user made is followed. A
hard link planted at a ``.part`` is discarded (its name unlinked, the file
it shares left alone) and the file fetched into one of the run's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env

from laion_fmri_tui.devserver import synthetic

ARGS = ("--subject", "01", "--ses", "02", "--part-size", "1M")
MIB = 1024 * 1024
OUTSIDE = b"a file outside the data directory, not to be touched\n"


def run(s3, data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(batch_command(*ARGS, *extra, "--data-dir", str(data_dir), "--endpoint-url", s3.url),
                          capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)


@pytest.mark.parametrize("suffix, refused", [(".part", True), (".lock", True),
                                             (".part.json", False), (".part.json.tmp", False)])
def test_a_link_at_a_temp_name_is_never_written_through(s3, licensed_data_dir, tmp_path, s3_objects, suffix, refused):
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(OUTSIDE)
    link = big.with_name(big.name + suffix)
    link.symlink_to(outside)

    result = run(s3, licensed_data_dir)

    assert outside.read_bytes() == OUTSIDE, "the linked file is untouched"
    assert "Traceback" not in result.stderr
    if refused:
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"FAILED   {synthetic.MULTIPART_KEY}: refusing {link}: it is a symbolic link; remove it and rerun" \
            in result.stdout
        assert not big.exists() and link.is_symlink()
        assert "done     " in result.stdout, "the other files are fetched"
    else:  # a name the run does not use: its own temp names are per process
        assert result.returncode == 0, result.stdout + result.stderr
        assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data


def test_a_link_at_the_final_path_does_not_count_as_complete(s3, licensed_data_dir, tmp_path):
    """A link to an outside file of the right size: refused, by the run and by --verify."""
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    outside = tmp_path / "outside.bin"
    content = b"\0" * synthetic.MULTIPART_SIZE
    outside.write_bytes(content)
    big.symlink_to(outside)

    result = run(s3, licensed_data_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"FAILED   {synthetic.MULTIPART_KEY}: refusing {big}: the file's path is a symbolic link "
            "(links to folders are followed, links to files are not); replace it with the file or remove it"
            ) in result.stdout
    assert s3.gets(synthetic.MULTIPART_KEY) == []
    assert outside.read_bytes() == content and big.is_symlink()

    verify = run(s3, licensed_data_dir, "--verify")
    assert verify.returncode == 1
    assert f"BAD      {synthetic.MULTIPART_KEY}: refusing {big}: the file's path is a symbolic link" in verify.stdout


def test_a_folder_the_user_linked_is_followed(s3, licensed_data_dir, tmp_path, s3_objects):
    elsewhere = tmp_path / "other-disk"
    elsewhere.mkdir()
    (licensed_data_dir / "derivatives").symlink_to(elsewhere)
    result = run(s3, licensed_data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    landed = elsewhere / synthetic.MULTIPART_KEY.removeprefix("derivatives/")
    assert landed.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    assert not [p for p in elsewhere.rglob("*") if p.name.endswith((".part", ".part.json", ".lock"))]
    assert os.path.islink(licensed_data_dir / "derivatives")


def hard_link_planted(data_dir: Path, tmp_path: Path, data: bytes, token: str | None) -> tuple[Path, bytes]:
    """An outside file holding the object's first MiB, hard-linked at the
    ``.part`` of its final path (the shared name, or the name of ``token``'s
    run), with a record that claims that MiB: the file to be left alone, and
    its bytes."""
    big = data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(data[:MIB])
    base = big.with_name(f"{big.name}.{token}") if token else big
    os.link(outside, base.with_name(base.name + ".part"))
    parts = -(-len(data) // MIB)
    base.with_name(base.name + ".part.json").write_text(json.dumps(
        {"size": len(data), "etag": multipart_etag(data), "chunk_size": MIB,
         "extents": [MIB] + [0] * (parts - 1)}))
    return outside, data[:MIB]


def multipart_etag(data: bytes) -> str:
    part = synthetic.MULTIPART_PART_SIZE
    digests = b"".join(hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part))
    return f"{hashlib.md5(digests).hexdigest()}-{-(-len(data) // part)}"


@pytest.mark.parametrize("token", [None, "0badc0de"], ids=["parked", "taken-over"])
def test_a_hard_link_at_a_part_is_never_written_through(s3, licensed_data_dir, tmp_path, s3_objects, token):
    """A hard link planted at a ``.part`` (the parked name, or the name of a
    killed run whose lock is taken over) with a record that claims its bytes:
    the run discards it with one line and fetches the file into a file of its
    own; the linked file is left as it was, and the final file is not it."""
    data = s3_objects[synthetic.MULTIPART_KEY].data
    outside, before = hard_link_planted(licensed_data_dir, tmp_path, data, token)
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    if token:  # a lock of a run of this host's previous boot: stale, its temp files adopted
        big.with_name(big.name + ".lock").write_text(json.dumps({
            "host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "token": token,
            "boot": "00000000-0000-0000-0000-000000000000", "start": 1}))

    result = run(s3, licensed_data_dir)

    assert result.returncode == 0, result.stdout + result.stderr
    assert outside.read_bytes() == before and os.stat(outside).st_nlink == 1, "the linked file is untouched"
    said = [line for line in result.stderr.splitlines() if "kept bytes discarded" in line]
    assert len(said) == 1 and "2 hard links" in said[0] and synthetic.MULTIPART_KEY in said[0], result.stderr
    assert big.read_bytes() == data
    assert os.stat(big).st_nlink == 1 and os.stat(big).st_ino != os.stat(outside).st_ino
    assert s3.bytes_sent(synthetic.MULTIPART_KEY) == len(data), "fetched from its first byte"


def test_a_folder_at_a_final_path_is_refused_before_fetching(s3, licensed_data_dir, s3_objects):
    """A folder where a file goes: one line at the plan, no byte fetched for
    it (the whole file used to be downloaded, then fail "Is a directory")."""
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.mkdir(parents=True)
    result = run(s3, licensed_data_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"FAILED   {synthetic.MULTIPART_KEY}: refusing {big}: the file's path is a folder; move it away and " \
           "rerun" in result.stdout, result.stdout
    assert s3.gets(synthetic.MULTIPART_KEY) == [], "nothing fetched for it"
    assert big.is_dir() and "done     " in result.stdout, "the other files are fetched"


def start_ticks(pid: int) -> int:
    line = Path(f"/proc/{pid}/stat").read_bytes()
    return int(line[line.rindex(b")") + 2:].split()[19])


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_a_link_at_the_runs_record_tmp_is_never_written_through(s3, licensed_data_dir, tmp_path, s3_objects, link):
    """The run's token is in its lock files, so anyone can plant a link at
    ``X.<token>.part.json.tmp`` before the run updates a kept record there:
    the name is removed, never opened (the symbolic one used to fail the
    file with a line naming its ``.part``), and the linked file stays as it was. The run is held at the file by a lock of this (live) test
    process while its token is read from the lock of another file it fetches."""
    data = s3_objects[synthetic.MULTIPART_KEY].data
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    part = big.with_name(big.name + ".part")
    part.write_bytes(data[:MIB])
    parts = -(-len(data) // MIB)
    big.with_name(big.name + ".part.json").write_text(json.dumps(
        {"size": len(data), "etag": multipart_etag(data), "chunk_size": MIB, "extents": [MIB] + [0] * (parts - 1)}))
    lock = big.with_name(big.name + ".lock")
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(),
                                "token": "0badc0de", "boot": Path("/proc/sys/kernel/random/boot_id").read_text()
                                .strip(), "start": start_ticks(os.getpid())}))
    outside = tmp_path / "outside.bin"
    outside.write_bytes(OUTSIDE)
    s3.throttle(synthetic.LARGE_KEY, 128 * 1024)
    other_lock = licensed_data_dir / (synthetic.LARGE_KEY + ".lock")
    proc = subprocess.Popen(batch_command("--subject", "01", "--part-size", "1M", "--data-dir", str(licensed_data_dir),
                                          "--endpoint-url", s3.url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=batch_env(),
                            stdin=subprocess.DEVNULL)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        token = None
        while token is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                token = json.loads(other_lock.read_text())["token"]
            except (OSError, ValueError):
                time.sleep(0.01)
        assert token, "the run's lock of the other file (its fetch is slowed)"
        waiting = next((line for line in proc.stderr if "waiting for" in line), "")
        assert synthetic.MULTIPART_KEY in waiting, waiting
        planted = big.with_name(f"{big.name}.{token}.part.json.tmp")
        if link == "hard":
            os.link(outside, planted)
        else:
            planted.symlink_to(outside)
        lock.unlink()  # the "other run" ends without the file: this one resumes it
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert outside.read_bytes() == OUTSIDE and os.stat(outside).st_nlink == 1, "the linked file is untouched"
    assert big.read_bytes() == data
    assert os.stat(big).st_ino != os.stat(outside).st_ino
    assert s3.bytes_sent(synthetic.MULTIPART_KEY) == len(data) - MIB, "the kept MiB was resumed"
    assert not os.path.lexists(planted)
