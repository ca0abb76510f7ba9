"""Interrupted runs resume: killed (SIGKILL) or stopped (SIGINT), nothing restarts from zero."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env, files_under

from laion_fmri_tui.core.plan.bids import bidsify_local_key
from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.devserver import synthetic

MIB = 1024 * 1024


def start(s3, data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        batch_command(*args, "--data-dir", str(data_dir), "--endpoint-url", s3.url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, env=batch_env(),
    )


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def live_part(dest: Path) -> Path:
    """The ``.part`` a run is writing (its own name, see tempnames)."""
    return partfile.part_path(tempnames.current(dest))


def record(dest: Path) -> dict:
    try:
        return json.loads(partfile.record_path(tempnames.current(dest)).read_text())
    except (OSError, ValueError):
        return {}


def extents(dest: Path) -> list[int]:
    """Bytes of each ranged part the record says are in the ``.part``."""
    return list(record(dest).get("extents", []))


def part_length(index: int, part: int) -> int:
    return min(part, synthetic.MULTIPART_SIZE - index * part)


def in_flight(gets: list, part: int) -> int:
    """Ranged GETs of a killed run that had not sent all of their part."""
    return sum(1 for g in gets if g.bytes_sent < part_length(int(g.range.split("=")[1].split("-")[0]) // part, part))


SLACK = 384 * 1024
"""Bytes of a part in flight a kill may cost: those since its extent was last
recorded (a share of what the run wrote, partfile.RECORD_SHARE), and those the server sent
that were still in the sockets."""


def test_sigkill_then_rerun_fetches_only_the_bytes_not_on_disk(s3, licensed_data_dir, s3_objects):
    """Issue 21: parts in flight keep their bytes; the rerun asks for the rest of each part."""
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    part = 5 * MIB
    s3.throttle(synthetic.MULTIPART_KEY, 1 * MIB)
    args = ("--subject", "01", "--ses", "02", "--part-size", "5M", "--n-jobs", "2")
    proc = start(s3, licensed_data_dir, *args)
    wait_for(lambda: sum(extents(big)) >= 2 * MIB)  # no 5 MiB part is finished yet
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert not big.exists(), "a killed run must not leave the final path"
    kept = extents(big)
    assert sum(kept) >= 2 * MIB and any(0 < k < part_length(i, part) for i, k in enumerate(kept))
    first = s3.gets(synthetic.MULTIPART_KEY)
    flying = in_flight(first, part)
    finished_before = files_under(licensed_data_dir) - {
        p for p in files_under(licensed_data_dir) if p.endswith((".part", ".part.json", ".lock"))}
    assert finished_before, "small files finished before the kill"
    s3.reset()

    rerun = subprocess.run(batch_command(*args, "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
                           capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    assert f"done     {synthetic.MULTIPART_KEY}" in rerun.stdout and "resumed" in rerun.stdout

    starts = sorted(int(r.range.split("=")[1].split("-")[0]) for r in s3.gets(synthetic.MULTIPART_KEY))
    assert starts == [i * part + k for i, k in enumerate(kept) if k < part_length(i, part)], \
        "each part is asked for from its extent on"
    assert s3.bytes_sent(synthetic.MULTIPART_KEY) == synthetic.MULTIPART_SIZE - sum(kept)
    refetched = sum(g.bytes_sent for g in first) - sum(kept)
    assert refetched <= flying * SLACK, (refetched, flying)
    keys_by_path = {bidsify_local_key(k): k for k in s3_objects}
    for path in finished_before:
        assert s3.gets(keys_by_path[path]) == [], f"{path} was complete and must not be fetched again"
    assert not [p for p in files_under(licensed_data_dir) if ".part" in p or p.endswith(".lock")], \
        "no .part, record or lock left behind (the killed run's stale lock was taken over)"


def test_sigkill_at_random_moments_refetches_at_most_the_parts_in_flight(s3, licensed_data_dir, s3_objects):
    """A soak of kills at random points of the transfer (chosen by the bytes the
    server has sent, not by time): over all the runs, the bytes the server sent
    beyond the file's size are at most what each kill's parts in flight may cost."""
    key = synthetic.MULTIPART_KEY
    big = licensed_data_dir / key
    part = 5 * MIB
    args = ("--subject", "01", "--ses", "02", "--part-size", "5M", "--n-jobs", "3")
    rng = random.Random(21)
    allowance, sent = 0, 0
    for _ in range(KILLS):
        s3.reset()
        s3.throttle(key, 2 * MIB)
        proc = start(s3, licensed_data_dir, *args)
        stop_at = rng.randint(MIB, 4 * MIB)
        wait_for(lambda proc=proc, stop_at=stop_at: s3.bytes_sent(key) >= stop_at or proc.poll() is not None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        gets = s3.gets(key)
        allowance += in_flight(gets, part) * SLACK
        sent += sum(g.bytes_sent for g in gets)
        if big.exists():
            break
    s3.reset()
    last = subprocess.run(batch_command(*args, "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
                          capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert last.returncode == 0, last.stderr
    sent += s3.bytes_sent(key)
    assert big.read_bytes() == s3_objects[key].data
    assert sent - synthetic.MULTIPART_SIZE <= allowance, (sent - synthetic.MULTIPART_SIZE, allowance)
    assert not [p for p in files_under(licensed_data_dir) if ".part" in p or p.endswith(".lock")]


KILLS = 6
"""Kills in the soak (a longer one, with figures, is in bench/)."""


def test_sigkill_then_rerun_resumes_a_sequential_file_from_its_offset(s3, licensed_data_dir, s3_objects):
    large = licensed_data_dir / synthetic.LARGE_KEY
    s3.throttle(synthetic.LARGE_KEY, 1 * MIB)
    args = ("--subject", "01", "--ses", "01", "--part-size", "64M")
    proc = start(s3, licensed_data_dir, *args)
    wait_for(lambda: live_part(large).exists() and live_part(large).stat().st_size >= MIB)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    offset = live_part(large).stat().st_size  # the killed run's own name, named by its lock
    assert 0 < offset < synthetic.LARGE_SIZE and not large.exists()
    s3.reset()

    rerun = subprocess.run(batch_command(*args, "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
                           capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    gets = s3.gets(synthetic.LARGE_KEY)
    assert [g.range for g in gets] == [f"bytes={offset}-"]
    assert s3.bytes_sent(synthetic.LARGE_KEY) == synthetic.LARGE_SIZE - offset
    assert large.read_bytes() == s3_objects[synthetic.LARGE_KEY].data
    assert "md5 ok, resumed" in rerun.stdout


def test_ctrl_c_exits_130_keeps_partial_files_and_says_how_to_resume(s3, licensed_data_dir):
    large = licensed_data_dir / synthetic.LARGE_KEY
    part = large.with_name(large.name + ".part")
    s3.throttle(synthetic.LARGE_KEY, 1 * MIB)
    proc = start(s3, licensed_data_dir, "--subject", "01", "--ses", "01", "--part-size", "64M")
    wait_for(lambda: live_part(large).exists() and live_part(large).stat().st_size > 0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert part.exists() and not large.exists()
    assert "interrupted" in out and "rerun the same command to resume" in out


def test_an_object_changed_since_the_part_was_written_starts_over(s3, licensed_data_dir, s3_objects):
    """A .part whose record names another ETag is discarded, not appended to."""
    large = licensed_data_dir / synthetic.LARGE_KEY
    large.parent.mkdir(parents=True)
    part = large.with_name(large.name + ".part")
    part.write_bytes(b"\0" * MIB)
    large.with_name(large.name + ".part.json").write_text(json.dumps(
        {"size": synthetic.LARGE_SIZE, "etag": "0" * 32, "chunk_size": 0, "chunks_done": []}))
    result = subprocess.run(
        batch_command("--subject", "01", "--ses", "01", "--part-size", "64M",
                      "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
        capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [g.range for g in s3.gets(synthetic.LARGE_KEY)] == [None]
    assert large.read_bytes() == s3_objects[synthetic.LARGE_KEY].data
    notices = [line for line in result.stderr.splitlines() if DISCARDED in line]
    assert len(notices) == 1 and synthetic.LARGE_KEY in notices[0], result.stderr
    assert "the object changed in the bucket (ETag" in notices[0], "it says why"


DISCARDED = "kept bytes discarded"
"""In the one line a run prints for a file whose kept bytes it does not use."""


def test_a_parked_part_without_a_record_is_gone_once_its_file_is_fetched(s3, licensed_data_dir, s3_objects):
    """A run stopped (SIGTERM) before a small file's first record write parks a
    bare ``X.part``, here holding every byte; the next run fetches X whole
    (no record ties those bytes to the object) and must not leave that
    ``X.part`` beside the finished file (seen after a SIGTERM soak)."""
    small = licensed_data_dir / "participants.tsv"
    small.parent.mkdir(parents=True, exist_ok=True)
    partfile.part_path(small).write_bytes(s3_objects["participants.tsv"].data)  # all its bytes, as seen
    result = subprocess.run(
        batch_command("--subject", "01", "--ses", "01", "--data-dir", str(licensed_data_dir),
                      "--endpoint-url", s3.url),
        capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stderr
    assert small.read_bytes() == s3_objects["participants.tsv"].data
    assert not [p for p in files_under(licensed_data_dir) if ".part" in p], "a stale .part was left"


def multipart_etag(data: bytes, part: int) -> str:
    digests = b"".join(hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part))
    return f"{hashlib.md5(digests).hexdigest()}-{-(-len(data) // part)}"


@pytest.mark.parametrize("claims", [{"chunks_done": [-1, 999999]}, {"extents": [5 * MIB, 6 * MIB, 0]},
                                    {"extents": [0, 0]}, {"extents": ["5242880", 0, 0]},
                                    {"chunk_size": 0, "extents": []}, {"chunk_size": -5 * MIB, "extents": []},
                                    {"chunk_size": 64 * MIB, "extents": []}, {"chunk_size": 1}],
                         ids=["parts-out-of-range", "extent-past-its-part", "too-few-extents", "not-a-number",
                              "chunk-size-0", "negative-chunk-size", "parts-beyond-size", "one-byte-parts"])
def test_a_bad_resume_record_is_discarded_with_a_notice(s3, licensed_data_dir, s3_objects, claims):
    """Issue 21 item 7: a record that cannot be right is never trusted: the run
    says so in one line, fetches the file from its first byte and exits 0.
    ``chunk-size-0`` is a sequential record that claims every byte of a
    ``.part`` whose bytes are all wrong: checked before use, not at the end."""
    key = synthetic.MULTIPART_KEY
    data = s3_objects[key].data
    big = licensed_data_dir / key
    big.parent.mkdir(parents=True)
    big.with_name(big.name + ".part").write_bytes(b"\xff" * len(data))  # every byte wrong
    big.with_name(big.name + ".part.json").write_text(json.dumps(
        {"size": len(data), "etag": multipart_etag(data, 5 * MIB), "chunk_size": 5 * MIB, **claims}))
    result = subprocess.run(
        batch_command("--subject", "01", "--ses", "02", "--part-size", "5M",
                      "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
        capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    notices = [line for line in result.stderr.splitlines() if DISCARDED in line]
    assert len(notices) == 1 and key in notices[0], result.stderr
    assert s3.bytes_sent(key) == len(data), "fetched from its first byte"
    assert big.read_bytes() == data
    assert not [p for p in files_under(licensed_data_dir) if ".part" in p]


def test_an_object_replaced_by_one_of_the_same_size_is_fetched_again(s3, licensed_data_dir, s3_objects):
    """Issue 21 item 2: a finished file carries the ETag it was checked against;
    a rerun whose listing gives another ETag fetches it again (the size alone
    could not tell), and only that file."""
    key = synthetic.LARGE_KEY
    original = s3_objects[key].data
    replaced = bytes(b ^ 0xFF for b in original[:4096]) + original[4096:]
    args = ("--subject", "01", "--ses", "01", "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url)

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(batch_command(*args), capture_output=True, text=True, env=batch_env(),
                              stdin=subprocess.DEVNULL, timeout=120)

    assert run().returncode == 0
    client = s3.admin()
    client.put_object(Bucket=synthetic.BUCKET, Key=key, Body=replaced, ACL="public-read")
    try:
        s3.clear_log()
        rerun = run()
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert [r.key for r in s3.requests if r.method == "GET" and r.key] == [key], "only the replaced file"
        assert (licensed_data_dir / key).read_bytes() == replaced
        s3.clear_log()
        assert run().returncode == 0
        assert not [r for r in s3.requests if r.method == "GET" and r.key], "now it is the listed object"
    finally:
        client.put_object(Bucket=synthetic.BUCKET, Key=key, Body=original, ACL="public-read")


@pytest.mark.parametrize("again", ["2M", "64M"], ids=["smaller-parts", "one-piece"])
def test_a_rerun_with_another_part_size_keeps_the_killed_runs_parts(s3, licensed_data_dir, s3_objects, again):
    """Issue 21: a record's extents are per part, so the rerun fetches that
    file in the killed run's parts (5 MiB), whatever ``--part-size`` now says
    (64M would fetch it in one piece): it asks only for the rest of each part."""
    key = synthetic.MULTIPART_KEY
    big = licensed_data_dir / key
    part = 5 * MIB
    s3.throttle(key, 1 * MIB)
    proc = start(s3, licensed_data_dir, "--subject", "01", "--ses", "02", "--part-size", "5M", "--n-jobs", "2")
    wait_for(lambda: sum(extents(big)) >= 2 * MIB)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = extents(big)
    assert sum(kept) >= 2 * MIB and not big.exists()
    first = s3.gets(key)
    flying = in_flight(first, part)
    s3.reset()

    rerun = subprocess.run(batch_command("--subject", "01", "--ses", "02", "--part-size", again,
                                         "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
                           capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert big.read_bytes() == s3_objects[key].data
    assert DISCARDED not in rerun.stderr
    starts = sorted(int(r.range.split("=")[1].split("-")[0]) for r in s3.gets(key))
    assert starts == [i * part + k for i, k in enumerate(kept) if k < part_length(i, part)], \
        "each of the killed run's parts is asked for from its extent on"
    assert s3.bytes_sent(key) == synthetic.MULTIPART_SIZE - sum(kept)
    refetched = sum(g.bytes_sent for g in first) - sum(kept)
    assert refetched <= flying * SLACK, (refetched, flying)


def test_a_file_killed_in_one_piece_is_resumed_in_parts(s3, licensed_data_dir, s3_objects):
    """The other way: a file fetched front to back (64M parts: one piece) and
    killed is resumed in a run's 1 MiB parts; its bytes on disk are the
    parts' extents, and only the rest of each part is asked for."""
    key = synthetic.LARGE_KEY
    large = licensed_data_dir / key
    s3.throttle(key, 1 * MIB)
    proc = start(s3, licensed_data_dir, "--subject", "01", "--ses", "01", "--part-size", "64M")
    wait_for(lambda: live_part(large).exists() and live_part(large).stat().st_size >= MIB)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    offset = live_part(large).stat().st_size
    assert 0 < offset < synthetic.LARGE_SIZE and not large.exists()
    s3.reset()

    rerun = subprocess.run(batch_command("--subject", "01", "--ses", "01", "--part-size", "1M",
                                         "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
                           capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert large.read_bytes() == s3_objects[key].data
    assert DISCARDED not in rerun.stderr
    kept = [max(0, min(offset - i * MIB, MIB)) for i in range(synthetic.LARGE_SIZE // MIB)]
    starts = sorted(int(r.range.split("=")[1].split("-")[0]) for r in s3.gets(key))
    assert starts == [i * MIB + k for i, k in enumerate(kept) if k < MIB]
    assert s3.bytes_sent(key) == synthetic.LARGE_SIZE - offset


@pytest.mark.parametrize("shape", ["truncated", "sparse"])
def test_a_part_that_lacks_claimed_bytes_is_discarded_before_use(s3, licensed_data_dir, s3_objects, shape):
    """A record that claims two whole parts over a ``.part`` that holds only
    the first (cut short after the record was written, or cut and extended,
    which leaves a hole) is found out when the run opens the file: one line
    says so, and the same run fetches the file whole and exits 0."""
    key = synthetic.MULTIPART_KEY
    data = s3_objects[key].data
    big = licensed_data_dir / key
    big.parent.mkdir(parents=True)
    part_file = big.with_name(big.name + ".part")
    part_file.write_bytes(data[:5 * MIB])
    if shape == "sparse":
        with part_file.open("r+b") as handle:
            handle.truncate(len(data))
    big.with_name(big.name + ".part.json").write_text(json.dumps(
        {"size": len(data), "etag": multipart_etag(data, 5 * MIB), "chunk_size": 5 * MIB,
         "extents": [5 * MIB, 5 * MIB, 0]}))
    result = subprocess.run(
        batch_command("--subject", "01", "--ses", "02", "--part-size", "5M",
                      "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url),
        capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    notices = [line for line in result.stderr.splitlines() if DISCARDED in line]
    assert len(notices) == 1 and key in notices[0] and "part 1 claims" in notices[0], result.stderr
    assert s3.bytes_sent(key) == len(data), "fetched from its first byte"
    assert big.read_bytes() == data
    assert not [p for p in files_under(licensed_data_dir) if ".part" in p]


def test_bad_bytes_kept_in_part_fail_the_file_and_the_next_run_fetches_it(s3, licensed_data_dir, s3_objects):
    """Bytes a record claims in part of a part cannot be checked before the
    rest of their span arrives: wrong ones fail the file (exit 1, never a
    success), its ``.part`` is removed, and the next run fetches it whole."""
    key = synthetic.MULTIPART_KEY
    data = s3_objects[key].data
    big = licensed_data_dir / key
    big.parent.mkdir(parents=True)
    part_file = big.with_name(big.name + ".part")
    part_file.write_bytes(data[:5 * MIB] + b"\xff" * MIB)
    with part_file.open("r+b") as handle:
        handle.truncate(len(data))
    big.with_name(big.name + ".part.json").write_text(json.dumps(
        {"size": len(data), "etag": multipart_etag(data, 5 * MIB), "chunk_size": 5 * MIB,
         "extents": [5 * MIB, MIB, 0]}))
    args = ("--subject", "01", "--ses", "02", "--part-size", "5M",
            "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url)
    first = subprocess.run(batch_command(*args), capture_output=True, text=True, env=batch_env(),
                           stdin=subprocess.DEVNULL, timeout=120)
    assert first.returncode == 1, first.stdout + first.stderr
    assert f"FAILED   {key}: checksum mismatch" in first.stdout
    assert s3.bytes_sent(key) == len(data) - 6 * MIB, "the kept bytes were used"
    assert not big.exists() and not [p for p in files_under(licensed_data_dir) if ".part" in p]
    s3.reset()
    again = subprocess.run(batch_command(*args), capture_output=True, text=True, env=batch_env(),
                           stdin=subprocess.DEVNULL, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert s3.bytes_sent(key) == len(data) and big.read_bytes() == data


def test_temp_files_dead_runs_left_are_gone_once_the_file_is_fetched(s3, licensed_data_dir, s3_objects):
    """Temp files of runs killed outright, each without its fellows: a
    ``.part`` with no record (no run resumes a multipart file from it), a
    record with no ``.part``, a record's ``.tmp``. The run that finishes the
    file removes them: no lock protects them, and the README says the
    others are removed."""
    big = licensed_data_dir / synthetic.MULTIPART_KEY
    big.parent.mkdir(parents=True)
    left = [big.with_name(big.name + ".0badc0de.part"), big.with_name(big.name + ".0123abcd.part.json"),
            big.with_name(big.name + ".0fedcba9.part.json.tmp")]
    for path in left:
        path.write_bytes(b"left by a run killed outright\n")
    result = subprocess.run(
        batch_command("--subject", "01", "--ses", "02", "--part-size", "1M", "--data-dir", str(licensed_data_dir),
                      "--endpoint-url", s3.url),
        capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert big.read_bytes() == s3_objects[synthetic.MULTIPART_KEY].data
    assert [path.name for path in left if os.path.lexists(path)] == [], "leftovers of dead runs were removed"
    assert not [p for p in files_under(licensed_data_dir) if ".part" in p or p.endswith(".lock")]
