"""Where --batch reads its settings from, and what it never reads."""

from __future__ import annotations

import json
import os
import pty
import time

from batchtools import batch_command, batch_env


def test_aws_credentials_in_the_environment_are_never_sent(run_batch, s3, licensed_data_dir):
    result = run_batch("--subject", "03", "--ses", "03", "--data-dir", str(licensed_data_dir),
                       AWS_ACCESS_KEY_ID="AKIAUSERSOWNKEY", AWS_SECRET_ACCESS_KEY="user-secret",
                       AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_DEFAULT_REGION="eu-central-1")
    assert result.returncode == 0, result.stderr
    assert s3.requests and not any(r.signed for r in s3.requests)
    assert "AKIAUSERSOWNKEY" not in result.stdout + result.stderr


def test_endpoint_from_the_environment(run_batch, s3, licensed_data_dir):
    result = run_batch("--subject", "03", "--ses", "03", "--data-dir", str(licensed_data_dir),
                       endpoint=False, LAION_FMRI_S3_ENDPOINT_URL=s3.url)
    assert result.returncode == 0, result.stderr
    assert s3.gets("dataset_description.json")


def test_xdg_config_home_is_honoured_and_data_dir_flag_wins(run_batch, licensed_data_dir, tmp_path):
    xdg = tmp_path / "elsewhere"
    (xdg / "laion_fmri").mkdir(parents=True)
    other = tmp_path / "configured"
    other.mkdir()
    (xdg / "laion_fmri" / "config.json").write_text(json.dumps({"data_dir": str(other)}))
    via_config = run_batch("--subject", "03", "--ses", "03", "--dry-run", "--json", XDG_CONFIG_HOME=str(xdg))
    assert via_config.returncode == 0, via_config.stderr
    assert json.loads(via_config.stdout)["data_dir"] == str(other.resolve())
    wins = run_batch("--subject", "03", "--ses", "03", "--data-dir", str(licensed_data_dir),
                     XDG_CONFIG_HOME=str(xdg))
    assert wins.returncode == 0, wins.stderr
    assert f"into {licensed_data_dir}" in wins.stdout
    assert list(other.iterdir()) == []


def test_bare_include_embeddings_means_all_four_models(run_batch, licensed_data_dir):
    result = run_batch("--include-embeddings", "--dry-run", "--json", "--data-dir", str(licensed_data_dir))
    assert result.returncode == 0, result.stderr
    keys = {i["key"] for i in json.loads(result.stdout)["items"]}
    assert keys == {f"stimuli/task-images_desc-{m}_embeddings.h5" for m in ("CLIP", "DINOv2", "PEcore", "SigLIP2")}


def test_progress_lines_in_a_job_log_are_plain_and_throttled(run_batch, s3, licensed_data_dir):
    from laion_fmri_tui.devserver import synthetic

    s3.throttle(synthetic.LARGE_KEY, 2 * 1024 * 1024)
    result = run_batch("--subject", "01", "--ses", "01", "--progress-every", "0.5",
                       "--data-dir", str(licensed_data_dir))
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert 2 <= len(progress) <= 8, progress
    assert all("/s" in line and "ETA" in line and "files" in line for line in progress)
    assert "\r" not in result.stdout and "\x1b" not in result.stdout


def test_on_a_terminal_the_licence_is_asked_once(s3, data_dir):
    """With a real terminal on stdin/stdout, typing I AGREE accepts the licence."""
    pid, fd = pty.fork()
    if pid == 0:  # child: run the CLI on the pty
        env = batch_env()
        os.execvpe(env.get("PYTHON", batch_command()[0]),
                   batch_command("--subject", "03", "--ses", "03", "--data-dir", str(data_dir),
                                 "--endpoint-url", s3.url), env)
    output = b""
    deadline = time.monotonic() + 30
    answered = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"Type I AGREE" in output:
            os.write(fd, b"I AGREE\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert answered, output.decode(errors="replace")
    assert b"CC0" in output
    assert os.waitstatus_to_exitcode(status) == 0, output.decode(errors="replace")
    assert (data_dir / ".laion_fmri" / "license_accepted").is_file()


def test_a_job_log_shows_finished_files_while_the_run_goes_on(s3, licensed_data_dir):
    """Lines of finished files are written in batches, a few times a second
    (output.WRITE_EVERY), not at the end; the end writes every one."""
    import subprocess

    from laion_fmri_tui.devserver import synthetic

    s3.throttle(synthetic.LARGE_KEY, 1024 * 1024)
    log = licensed_data_dir.parent / "job.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(batch_command("--subject", "01", "--ses", "01", "--data-dir", str(licensed_data_dir),
                                              "--endpoint-url", s3.url),
                                stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                env=batch_env())
        try:
            deadline = time.monotonic() + 30
            while "done " not in log.read_text():
                assert proc.poll() is None, "the run ended before any done line was written"
                assert time.monotonic() < deadline, "no done line while the large file was still coming"
                time.sleep(0.05)
            assert s3.bytes_sent(synthetic.LARGE_KEY) < synthetic.LARGE_SIZE, "written before the end"
        finally:
            s3.throttle(synthetic.LARGE_KEY, None)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    text = log.read_text()
    done = [line for line in text.splitlines() if line.startswith("done ")]
    finished = next(line for line in text.splitlines() if line.startswith("finished: "))
    assert f"finished: {len(done)} done," in finished, "every finished file has its line"
