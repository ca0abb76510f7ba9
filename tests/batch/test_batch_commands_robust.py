"""``config`` and ``info`` under the conditions a tester found them failing:
broken stdout, a wrong endpoint, hostile keys, bad data directories and
config files, networks with a proxy. Every case runs the CLI as a subprocess
against the suite's S3, a moto child of its own or a stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env
from own_bucket import own_bucket

PROG = "laion-fmri-tui"
NOT_S3 = "the endpoint did not answer like S3"
EVIL_STIMULUS = "stimuli/notes\x1b]0;PWNED\x07.txt"
UNSAFE_ROI = "derivatives/rois/sub-03/face/a\\b.txt"
LONE = "sub-09/ses-01/anat/sub-09_ses-01_T1w.json"
EXTRA = {EVIL_STIMULUS: "evil", UNSAFE_ROI: "unsafe", LONE: "{}"}


def tool(*args: str, stdout=subprocess.PIPE, **env: str) -> subprocess.CompletedProcess:
    """``laion-fmri-tui ARGS`` (no --batch added)."""
    return subprocess.run([sys.executable, "-m", "laion_fmri_tui", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                          env=batch_env(**env), timeout=120)


def one_line(result) -> str:
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def config_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "laion_fmri" / "config.json"


def closed_pipe(command: list[str]) -> subprocess.CompletedProcess:
    """Run ``command`` with stdout a pipe nobody reads any more (``| head -1`` once head has gone)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, env=batch_env(), timeout=120)
    finally:
        os.close(write_end)


# The module's own bucket server is started once per xdist worker: keep its tests on one
# worker so it starts once (tests/conftest.py says what else runs on one worker).
pytestmark = pytest.mark.xdist_group("batch_commands_robust")


@pytest.fixture(scope="module")
def bucket() -> Iterator[str]:
    with own_bucket(EXTRA) as url:
        yield url


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with ``status`` and ``body``; keeps the request lines."""

    status = 200
    body = b'{"message": "this is a JSON API, not S3"}'
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.seen.append(self.requestline)
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[tuple[str, list[str], type[_Recorder]]]:
    """A loopback HTTP server: (its URL, the request lines it saw, its handler class)."""
    handler = type("Handler", (_Recorder,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen, handler
    finally:
        server.shutdown()
        server.server_close()


# ---- 1. stdout that fails ------------------------------------------------------

def test_info_into_a_closed_pipe_is_one_line_and_exit_1(s3):
    result = closed_pipe([sys.executable, "-m", "laion_fmri_tui", "info", "--endpoint-url", s3.url])
    assert result.returncode == 1
    assert one_line(result) == (f"{PROG} info: standard output failed (Broken pipe); "
                                "the listing was not all written (exit 1)")


def test_info_to_a_full_disk_is_one_line_and_exit_1(s3):
    with open("/dev/full", "w") as full:
        result = tool("info", "--json", "--endpoint-url", s3.url, stdout=full)
    assert result.returncode == 1
    assert "standard output failed (No space left on device)" in one_line(result)


def test_config_to_a_full_disk_still_saves_and_says_so(data_dir):
    with open("/dev/full", "w") as full:
        result = tool("config", "--data-dir", str(data_dir), stdout=full)
    assert result.returncode == 0
    assert one_line(result) == (f"{PROG} config: standard output failed (No space left on device); "
                                "the data directory was saved all the same")
    assert json.loads(config_file().read_text()) == {"data_dir": str(data_dir.resolve())}


def test_dry_run_into_a_closed_pipe_does_not_speak_of_a_download(s3, data_dir):
    result = closed_pipe(batch_command("--subject", "03", "--ses", "01", "--dry-run", "--data-dir",
                                       str(data_dir), "--endpoint-url", s3.url))
    assert result.returncode == 1
    line = one_line(result)
    assert "standard output failed (Broken pipe); the plan was not all written (exit 1)" in line
    assert "download" not in line


# ---- 2. a 200 that is not an S3 listing ------------------------------------------

@pytest.mark.parametrize("command", [["info"], ["--batch", "--subject", "03", "--dry-run"]])
def test_an_endpoint_answering_json_is_one_line_and_exit_4(stand_in, data_dir, command):
    url, seen, _ = stand_in
    result = tool(*command, "--endpoint-url", url, "--data-dir", str(data_dir))
    assert seen, "the stand-in was asked"
    assert result.returncode == 4
    assert f"{NOT_S3} (its reply to a listing is not a ListBucketResult); check --endpoint-url" in one_line(result)


# ---- 3. the stimulus files are complete by their sha256, as in a plan --------------------

def test_info_calls_a_stimulus_file_of_the_right_size_but_wrong_content_absent(s3, access, data_dir, s3_objects):
    name = "stimuli/task-images_metadata.csv"
    right = s3_objects[name].data
    (data_dir / "stimuli").mkdir()
    (data_dir / name).write_bytes(b"x" * len(right))
    args = ("info", "--json", "--data-dir", str(data_dir), "--endpoint-url", s3.url, "--access-url", access.url)
    states = {f["key"]: f["state"] for f in json.loads(tool(*args).stdout)["stimuli"]}
    assert states[name] == "absent"
    dry = tool("--batch", "--include-stimuli", "--dry-run", "--json", "--data-dir", str(data_dir),
               "--endpoint-url", s3.url, "--access-url", access.url)
    planned = {i["key"]: i["state"] for i in json.loads(dry.stdout.splitlines()[0])["items"]}
    assert planned[name] == "absent", "the same rule as --dry-run"
    (data_dir / name).write_bytes(right)
    states = {f["key"]: f["state"] for f in json.loads(tool(*args).stdout)["stimuli"]}
    assert states[name] == "complete"


def test_info_without_the_access_service_leaves_stimulus_files_unchecked(s3, data_dir, s3_objects, stand_in):
    url, _, handler = stand_in
    handler.status = 503
    name = "stimuli/task-images_metadata.csv"
    (data_dir / "stimuli").mkdir()
    (data_dir / name).write_bytes(s3_objects[name].data)
    result = tool("info", "--data-dir", str(data_dir), "--endpoint-url", s3.url, "--access-url", url)
    assert result.returncode == 0, result.stderr
    assert "warning: the stimulus files were not checked on disk" in one_line(result)
    line = next(x for x in result.stdout.splitlines() if name in x)
    assert "not checked (its sha256 is unknown)" in line and "complete" not in line


# ---- 4, 14. hostile keys, keys the planner refuses, one file ----------------------------

def test_info_escapes_control_characters_of_keys(bucket):
    result = tool("info", "--endpoint-url", bucket)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "stimuli/notes\\x1b]0;PWNED\\x07.txt" in result.stdout


def test_info_does_not_count_a_key_the_planner_refuses(bucket, data_dir):
    info = json.loads(tool("info", "--subject", "03", "--json", "--endpoint-url", bucket).stdout)
    (detail,) = info["details"]
    rois = next(p for p in detail["parts"] if p["part"] == "rois")
    dry = tool("--batch", "--subject", "03", "--only", "rois", "--dry-run", "--json", "--data-dir", str(data_dir),
               "--endpoint-url", bucket)
    plan = json.loads(dry.stdout.splitlines()[0])
    planned_rois = [i for i in plan["items"] if i["key"].startswith("derivatives/rois/")]
    assert UNSAFE_ROI not in [i["key"] for i in plan["items"]], "the planner refuses it"
    assert rois["files"] == len(planned_rois)


def test_one_file_is_one_file(bucket):
    result = tool("info", "--subject", "09", "--endpoint-url", bucket)
    assert result.returncode == 0, result.stderr
    assert "\nsub-09: 1 file, " in result.stdout


# ---- 5, 6, 14. config: check first, write last --------------------------------------------

def test_config_refuses_a_data_dir_whose_marker_is_a_file_and_keeps_the_old_setting(tmp_path, data_dir):
    assert tool("config", "--data-dir", str(data_dir)).returncode == 0
    before = config_file().read_text()
    other = tmp_path / "d2"
    other.mkdir()
    (other / ".laion_fmri").write_text("not a folder")
    result = tool("config", "--data-dir", str(other))
    assert result.returncode == 2
    assert f"{other.resolve() / '.laion_fmri'} is a file" in one_line(result)
    assert config_file().read_text() == before


@pytest.mark.parametrize("command", [["config"], ["info"], ["--batch", "--subject", "01", "--dry-run"]])
def test_a_file_given_as_data_dir_is_not_a_directory(tmp_path, s3, command):
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    endpoint = ["--endpoint-url", s3.url] if command != ["config"] else []
    result = tool(*command, "--data-dir", str(a_file), *endpoint)
    assert result.returncode == 2
    line = one_line(result)
    assert f"'{a_file}' is not a directory" in line and "mkdir" not in line


def test_config_refuses_an_empty_data_dir(data_dir):
    assert tool("config", "--data-dir", str(data_dir)).returncode == 0
    before = config_file().read_text()
    result = tool("config", "--data-dir", "")
    assert result.returncode == 2
    assert "--data-dir is empty" in one_line(result)
    assert config_file().read_text() == before


def test_config_warns_when_it_replaces_a_corrupt_config_file(data_dir):
    config_file().parent.mkdir(parents=True)
    config_file().write_text("{not json")
    result = tool("config", "--data-dir", str(data_dir))
    assert result.returncode == 0
    assert f"warning: {config_file()} is not valid JSON; it was replaced" in one_line(result)
    assert json.loads(config_file().read_text()) == {"data_dir": str(data_dir.resolve())}


def test_config_writes_through_a_symlinked_config_file(tmp_path, data_dir):
    dotfiles = tmp_path / "dotfiles" / "laion.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text(json.dumps({"data_dir": "/old", "other": 1}))
    config_file().parent.mkdir(parents=True)
    config_file().symlink_to(dotfiles)
    result = tool("config", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert config_file().is_symlink()
    assert json.loads(dotfiles.read_text()) == {"data_dir": str(data_dir.resolve()), "other": 1}
    assert f"saved in {dotfiles} (through the link {config_file()})" in result.stdout


# ---- 7, 9. a configured data directory that cannot be used --------------------------------

def test_info_names_a_configured_data_dir_that_is_gone(s3, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    assert tool("config", "--data-dir", str(gone)).returncode == 0
    (gone / ".laion_fmri").rmdir()
    gone.rmdir()
    result = tool("info", "--endpoint-url", s3.url)
    assert result.returncode == 2
    line = one_line(result)
    assert f"the data directory in {config_file()} '{gone}' does not exist" in line


def test_info_names_a_corrupt_config_file(s3):
    config_file().parent.mkdir(parents=True)
    config_file().write_text("{not json")
    result = tool("info", "--endpoint-url", s3.url)
    assert result.returncode == 2
    assert f"{config_file()} is not valid JSON" in one_line(result)


def test_batch_without_a_data_dir_points_at_the_config_command(s3):
    result = tool("--batch", "--subject", "01", "--dry-run", "--endpoint-url", s3.url)
    assert result.returncode == 2
    assert "save one with: laion-fmri-tui config --data-dir DIR" in one_line(result)


# ---- 13. info takes --proxy and --ca-bundle -----------------------------------------------------

def test_info_goes_through_the_proxy_given(s3, stand_in):
    proxy, seen, handler = stand_in
    handler.status = 403  # a proxy that forbids: exit 4, and it was asked, with the absolute URI
    result = tool("info", "--proxy", proxy, "--endpoint-url", s3.url)
    assert result.returncode == 4, result.stderr
    assert seen and all(line.startswith(f"GET {s3.url}/laion-fmri/?") for line in seen), seen


def test_info_takes_a_ca_bundle_as_batch_does(s3, tmp_path):
    """The same flag and meaning (an http endpoint needs no CA: both go on)."""
    bundle = tmp_path / "site-ca.pem"
    bundle.write_text("")
    info = tool("info", "--ca-bundle", str(bundle), "--endpoint-url", s3.url)
    batch = tool("--batch", "--subject", "01", "--dry-run", "--data-dir", str(tmp_path), "--ca-bundle", str(bundle),
                 "--endpoint-url", s3.url)
    assert info.returncode == batch.returncode == 0, info.stderr + batch.stderr


# ---- 14. --subject all takes no other id ---------------------------------------------

@pytest.mark.parametrize("command", [["info"], ["--batch", "--dry-run"]])
def test_subject_all_with_another_id_is_refused(s3, data_dir, command):
    result = tool(*command, "--subject", "all", "99", "--data-dir", str(data_dir), "--endpoint-url", s3.url)
    assert result.returncode == 2
    assert "--subject all already means every subject; drop sub-99" in one_line(result)


# ---- 8. info only reads: a read-only data directory is fine --------------------------------------

def test_info_reads_a_read_only_data_dir(s3, access, run_batch, licensed_data_dir):
    """The directory is bind-mounted read-only in a private mount namespace
    (root ignores mode bits, a read-only mount it does not)."""
    import shutil

    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("needs unshare(1) and root to mount the data directory read-only")
        pytest.skip("needs unshare(1) and root to mount the data directory read-only")
    assert run_batch("--subject", "03", "--ses", "01", "--data-dir", str(licensed_data_dir)).returncode == 0
    ro = str(licensed_data_dir)
    script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && '
              'if touch "$1/probe" 2>/dev/null; then echo writable >&2; exit 99; fi; shift; exec "$@"')
    result = subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-c", script, "sh", ro,
         sys.executable, "-m", "laion_fmri_tui", "info", "--subject", "03", "--json", "--data-dir", ro,
         "--endpoint-url", s3.url, "--access-url", access.url],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=batch_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["data_dir"] == str(licensed_data_dir.resolve())
    assert info["details"][0]["local_files"] > 0
