"""Gated stimulus images through --batch, against the reference access service.

Every test's captured output is scanned for the request id it used: the id
and URL signatures must never be printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env

from laion_fmri_tui.core.disk import partfile, tempnames

STIMULI = ("task-images_stimuli.h5", "task-images_metadata.csv")
FORM = ("--name", "Ada Lovelace", "--email", "ada@uni-example.edu", "--institution", "Analytical Engines",
        "--purpose", "Encoding models of visual cortex with natural images.")


class Runner:
    """Runs the batch CLI against both local servers and keeps every output."""

    def __init__(self, s3, access) -> None:
        self.s3, self.access = s3, access
        self.outputs: list[str] = []
        self.ids: set[str] = set()

    def command(self, *args: str) -> list[str]:
        return batch_command(*args, "--endpoint-url", self.s3.url, "--access-url", self.access.url)

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        if env.get("LAION_FMRI_REQUEST_ID"):
            self.ids.add(env["LAION_FMRI_REQUEST_ID"])
        result = subprocess.run(self.command(*args), capture_output=True, text=True, env=batch_env(**env),
                                stdin=subprocess.DEVNULL, timeout=120)
        self.keep(result.stdout, result.stderr)
        return result

    def keep(self, *texts: str) -> None:
        self.outputs.extend(texts)
        self.ids.update(filter(None, [saved_id()]))

    def grant(self) -> str:
        result = self("--request-access", *FORM, "--accept-terms")
        assert result.returncode == 0, result.stderr
        return saved_id()


def auth_file() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "laion-fmri" / "auth.json"


def saved_id() -> str | None:
    try:
        return json.loads(auth_file().read_text())["request_id"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture
def stim(s3, access):
    runner = Runner(s3, access)
    yield runner
    secrets = {i for i in runner.ids if i}
    for text in runner.outputs:
        for secret in secrets:
            assert secret not in text, "a request id leaked into the output"
        assert "X-Amz-Signature=" not in text or "X-Amz-Signature=REDACTED" in text


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected(s3_objects, name: str) -> bytes:
    return s3_objects[f"stimuli/{name}"].data


def test_request_access_stores_the_id_privately(stim, access):
    request_id = stim.grant()
    assert request_id.startswith("lfm_")
    path = auth_file()
    record = json.loads(path.read_text())
    assert set(record) == {"server_url", "request_id", "email", "saved_at"}
    assert record["server_url"] == access.url and record["email"] == "ada@uni-example.edu"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert request_id not in access.stored_keys()


def test_request_access_refuses_without_accept_terms(stim, access):
    result = stim("--request-access", *FORM)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"{access.url}/terms" in result.stderr
    assert not auth_file().exists()
    assert not [r for r in access.requests if r.path == "/api/v1/access/request"]


def test_request_access_validates_each_field_before_sending(stim, access):
    result = stim("--request-access", "--name", "Ada", "--email", "ada-at-uni", "--institution", "X",
                  "--purpose", "too short", "--accept-terms")
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "--email:" in line and "--purpose:" in line and "--name" not in line
    assert not [r for r in access.requests if r.path == "/api/v1/access/request"]


def test_first_download_then_a_rerun_needs_no_auth(stim, access, data_dir, s3_objects):
    stim.grant()
    first = stim("--include-stimuli", "--data-dir", str(data_dir))
    assert first.returncode == 0, first.stderr
    for name in STIMULI:
        assert (data_dir / "stimuli" / name).read_bytes() == expected(s3_objects, name)
    assert first.stdout.count("sha256 ok") == 2

    auth_file().unlink()
    access.clear_log()
    again = stim("--include-stimuli", "--data-dir", str(data_dir))
    assert again.returncode == 0, again.stderr
    assert [r.path for r in access.requests] == ["/api/v1/manifest"]
    assert "skipped 2 files already complete" in again.stdout


def test_without_a_request_id_the_batch_says_what_to_do(stim, data_dir):
    result = stim("--include-stimuli", "--data-dir", str(data_dir))
    assert result.returncode == 3
    assert "--request-access" in result.stderr and result.stderr.count("\n") == 1


def test_an_interrupted_download_resumes_from_its_offset(stim, access, data_dir, s3_objects):
    stim.grant()
    access.throttle = 400_000
    dest = data_dir / "stimuli" / STIMULI[0]
    proc = subprocess.Popen(stim.command("--include-stimuli", "--part-size", "64M", "--data-dir", str(data_dir)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=batch_env(),
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    def part() -> Path:  # the run's own temp name (see tempnames), named by its lock even once killed
        return partfile.part_path(tempnames.current(dest))

    while not (part().exists() and part().stat().st_size > 500_000):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    stim.keep(out, err)
    offset = part().stat().st_size
    access.throttle = None
    access.clear_log()
    result = stim("--include-stimuli", "--part-size", "64M", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    ranges = [r.range for r in access.downloads(STIMULI[0])]
    assert ranges == [f"bytes={offset}-"]
    assert sha256(dest) == hashlib.sha256(expected(s3_objects, STIMULI[0])).hexdigest()
    assert "sha256 ok, resumed" in result.stdout


def test_a_link_that_expires_mid_transfer_is_renewed_and_the_file_completes(stim, access, data_dir, s3_objects):
    stim.grant()
    access.url_ttl = 1.0
    access.throttle = 1_000_000
    result = stim("--include-stimuli", "--part-size", "256K", "--n-jobs", "2", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    dest = data_dir / "stimuli" / STIMULI[0]
    assert dest.read_bytes() == expected(s3_objects, STIMULI[0])
    refreshes = [r for r in access.requests if r.path == "/api/v1/refresh"]
    expired = [r for r in access.downloads(STIMULI[0]) if r.status == 403]
    assert expired and len(refreshes) >= 2
    assert "expired; fetched a fresh one" in result.stderr


@pytest.mark.parametrize("part_size", ["64M", "512K"])
def test_a_server_that_ignores_range_does_not_corrupt_the_file(stim, access, data_dir, s3_objects, part_size):
    stim.grant()
    dest = data_dir / "stimuli" / STIMULI[0]
    dest.parent.mkdir(parents=True)
    data = expected(s3_objects, STIMULI[0])
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(data[:700_000])  # a sequential .part as the dataset package leaves it
    access.ignore_range = True
    result = stim("--include-stimuli", "--part-size", part_size, "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == data
    assert all(r.status == 200 for r in access.downloads(STIMULI[0]))


def test_a_sha256_mismatch_leaves_nothing_at_the_final_path(stim, access, data_dir):
    stim.grant()
    access.corrupt = True
    result = stim("--include-stimuli", "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stdout
    for name in STIMULI:
        assert not (data_dir / "stimuli" / name).exists()
        assert not (data_dir / "stimuli" / (name + ".part")).exists()


def test_terms_outdated_revoked_and_unknown_ids_exit_3_with_their_messages(stim, access, data_dir):
    request_id = stim.grant()
    access.bump_terms("2099-01-01")
    outdated = stim("--include-stimuli", "--data-dir", str(data_dir))
    assert outdated.returncode == 3
    assert f"{access.url}/terms/accept" in outdated.stderr and "2099-01-01" in outdated.stderr
    access.reset()
    access.revoke(request_id)
    revoked = stim("--include-stimuli", "--data-dir", str(data_dir))
    assert revoked.returncode == 3 and "revoked" in revoked.stderr
    unknown = stim("--include-stimuli", "--data-dir", str(data_dir),
                   LAION_FMRI_REQUEST_ID="lfm_" + "x" * 40)
    assert unknown.returncode == 3 and "does not know this request id" in unknown.stderr
    for result in (outdated, revoked, unknown):
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_the_environment_id_wins_over_auth_json(stim, access, data_dir):
    stim.grant()
    result = stim("--include-stimuli", "--data-dir", str(data_dir), LAION_FMRI_REQUEST_ID="lfm_" + "y" * 40)
    assert result.returncode == 3 and "does not know this request id" in result.stderr


def test_json_events_carry_no_secret(stim, data_dir):
    stim.grant()
    result = stim("--include-stimuli", "--json", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(e["event"] == "file_done" and e["verified"] == "sha256" for e in events)
    assert "X-Amz" not in result.stdout and "/files/" not in result.stdout
