"""S3 throttling through ``--batch``: 503 SlowDown storms with and without
``Retry-After``, against :mod:`s3standin` on 127.0.0.1.

What is checked is the stand-in's request log (which GETs came, when, with
how many others in flight), never how fast a run went: the times compared
are lower bounds (a wait the client must not cut short), which a busy machine
only lengthens.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import pytest
from batchtools import batch_command, batch_env
from s3standin import StandIn

FS = "derivatives/freesurfer/sub-01/label"


def objects(count: int) -> dict[str, bytes]:
    return {"dataset_description.json": b'{"Name": "stand-in"}\n',
            **{f"{FS}/f{n:02d}.label": b"label %d\n" % n * 40 for n in range(count)}}


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn(objects(8)).start()
    try:
        yield server
    finally:
        server.stop()


def run(stand_in: StandIn, data_dir, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        batch_command("--subject", "01", "--only", "freesurfer", "--data-dir", str(data_dir),
                      "--endpoint-url", stand_in.url, *args),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=batch_env(), timeout=timeout)


def test_a_slowdown_burst_longer_than_the_old_retries_is_ridden_out(stand_in, licensed_data_dir):
    """A 9 s storm of 503 SlowDown with ``Retry-After: 2``: every file arrives,
    and no file asks again sooner than the server said (the old retries gave
    up after 5 attempts in about 7.5 s: "0 done, 9 failed")."""
    stand_in.script.burst_for, stand_in.script.retry_after = 9.0, "2"
    result = run(stand_in, licensed_data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    for key, data in stand_in.objects.items():
        assert (licensed_data_dir / key).read_bytes() == data
        gets = stand_in.gets(key)
        assert gets[0].status == 503 and gets[-1].status == 200
        for before, after in zip(gets, gets[1:]):
            assert after.arrived - before.answered >= 2.0 - 0.01, (key, before, after)  # Retry-After honoured


def said_retries(stderr: str) -> int:
    """Requests the summed-up retry lines account for."""
    return sum(int(m[1]) for m in re.finditer(r"^warning: retrying (\d+) requests? for \d+ files?", stderr, re.M))


def test_retry_for_ends_a_storm_that_outlasts_it(stand_in, licensed_data_dir):
    """A storm that never ends: each file retries for --retry-for, then fails
    with a line that names the flag; the others are reported, none lost.
    The log sums the retries up and names files retried for long (here a
    quarter of --retry-for: 1 s), with the reason and the time they have left."""
    stand_in.script.burst_for = 10_000.0
    result = run(stand_in, licensed_data_dir, "--retry-for", "4s")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "finished: 0 done, 0 skipped, 9 failed" in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 9 and all("HTTP 503" in line and "see --retry-for" in line for line in failed)
    assert all(len(stand_in.gets(key)) >= 2 for key in stand_in.objects)  # it did retry
    retried = sum(len(stand_in.gets(key)) - 1 for key in stand_in.objects)  # each file's last 503 is no retry
    assert said_retries(result.stderr) == retried, result.stderr
    stuck = re.findall(r"^warning: still retrying (\S+) after .+ \(attempt \d+\): throttled by the server "
                       r"\(HTTP 503\); it keeps trying for .+ more \(--retry-for\)$", result.stderr, re.M)
    assert stuck and set(stuck) <= set(stand_in.objects), result.stderr


def test_retries_are_summed_up_not_a_line_per_request(licensed_data_dir):
    """Forty files throttled once each: a few lines on stderr account for
    every retried request (a job log got a line per request, 327 in
    seconds); ``--json`` keeps an object per retry, with its key."""
    stand_in = StandIn(objects(39)).start()
    try:
        stand_in.script.burst_each = True
        human = run(stand_in, licensed_data_dir)
    finally:
        stand_in.stop()
    assert human.returncode == 0, human.stdout + human.stderr
    lines = re.findall(r"^warning: retrying .*$", human.stderr, re.M)
    assert said_retries(human.stderr) == 40 and len(lines) < 10, human.stderr
    assert all("throttled by the server (HTTP 503)" in line and "(--retry-for)" in line for line in lines)
    assert not re.search(r"retrying \S+ from byte", human.stderr)


def test_retries_of_a_throttled_burst_are_spread_not_in_lock_step(licensed_data_dir):
    """Twenty files throttled at once, no Retry-After: full jitter draws each
    file's wait from the whole backoff window (up to 1 s for a first retry),
    so they do not come back together (the old fixed backoff waited 0.5 s for
    every one). The waits are read from ``--json``'s retry notices: when the
    GETs really went also depends on the adaptive limit."""
    stand_in = StandIn(objects(19)).start()
    try:
        stand_in.script.burst_each = True
        result = run(stand_in, licensed_data_dir, "--json")
    finally:
        stand_in.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    waits = [e["delay"] for e in events if e["event"] == "notice" and e["message"].startswith("retrying ")]
    assert len(waits) == 20 and max(waits) <= 1.0, waits
    assert len({int(w * 10) for w in waits}) >= 6, waits
    assert all(len(stand_in.gets(key)) == 2 for key in stand_in.objects)


def test_fewer_requests_are_in_flight_after_the_server_throttles(licensed_data_dir):
    """32 files at once, each answered 503 after 1.5 s: the first retries go
    with at most half as many in flight (aws-cli's adaptive mode; each success
    then lets one more go), although ``Retry-After`` sends them all back close
    together, each taking 1.5 s to answer (the old fixed backoff sent all 32
    again at once). 1.5 s, not less: on a loaded machine the client may take
    longer than half a second to send its first 32, and the first wave must
    overlap for the check to mean anything."""
    stand_in = StandIn(objects(31)).start()
    try:
        stand_in.script.burst_first, stand_in.script.delay, stand_in.script.retry_after = 32, 1.5, "1"
        result = run(stand_in, licensed_data_dir)
    finally:
        stand_in.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    gets = sorted((r for r in stand_in.log if r.key), key=lambda r: r.arrived)
    first, again = gets[:32], gets[32:]
    assert all(r.status == 503 for r in first) and max(r.in_flight for r in first) > 16
    assert again and all(r.status == 200 for r in again)
    wave = [r for r in again if r.arrived < min(r.answered for r in again)]  # sent before any came back
    assert len(wave) <= 16 and max(r.in_flight for r in wave) <= 16, [r.in_flight for r in wave]


def test_listings_ride_out_a_slowdown_burst_too(stand_in, licensed_data_dir):
    """Listings follow the same rule: a 9 s storm of 503 on every listing,
    ``Retry-After: 2``, and the plan is still made (the old listing retries
    gave up after 6 attempts in about 6 s: exit 4)."""
    stand_in.script.list_burst_for, stand_in.script.retry_after = 9.0, "2"
    result = run(stand_in, licensed_data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    listings = stand_in.gets("")
    assert listings[0].status == 503 and listings[-1].status == 200
    assert all((licensed_data_dir / key).read_bytes() == data for key, data in stand_in.objects.items())
