"""`b` shows a command that plans exactly what the app planned (real keys, real subprocess).

Each selection is made by pressing keys in the browser; `b` then `^s` writes
the command line to a file; every line of it runs as ``--batch --dry-run
--json`` in a subprocess against the suite's S3 and access servers, and the
files it plans must be the app's plan, file for file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import trustme
from keys import open_by_keys, tick_by_keys
from network_stands import Front, site_ca, tinyproxy, tls_for
from pilot_helpers import settle

from laion_fmri_tui.core.settings import NetworkSettings, S3Settings
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.batch_command import BatchCommandScreen
from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree


def planned_by(lines: list[str]) -> set[tuple[str, int]]:
    """The union of what each shown line plans, run as written plus --dry-run --json."""
    out: set[tuple[str, int]] = set()
    for line in lines:
        argv = shlex.split(line)
        assert os.path.isabs(argv[0]), "the command calls the running program by its absolute path"
        run = subprocess.run([*argv, "--dry-run", "--json"], capture_output=True, text=True,
                             timeout=120, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stderr
        [plan] = [json.loads(x) for x in run.stdout.splitlines() if '"event": "plan"' in x]
        out |= {(i["key"], i["size"]) for i in plan["items"]}
    return out


async def shown_command(pilot, app) -> list[str]:
    """`b`, then `^s` writes the command tab; the file's lines."""
    await pilot.press("b")
    await settle(pilot)
    assert isinstance(app.screen, BatchCommandScreen)
    await pilot.press("ctrl+s")
    await settle(pilot)
    written = Path(app.context.data_dir) / "laion-fmri-download.txt"
    lines = [x for x in written.read_text().splitlines() if x.strip()]
    assert lines and not any(x.startswith("#") for x in lines), lines
    await pilot.press("escape")
    await settle(pilot)
    written.unlink()
    return lines


SESSIONS_AND_CLIP = [("open", "sub-01"), ("open", "sub-01/glmsingle"),
                     ("tick", "sub-01/glmsingle/ses-01"), ("tick", "sub-01/glmsingle/ses-02"),
                     ("open", "stimuli"), ("open", "stimuli/embeddings"),
                     ("tick", "stimuli/embeddings/CLIP")]
SUBJECTS_AND_STIMULI = [("tick", "sub-03"), ("open", "sub-01"), ("tick", "sub-01/rois"),
                        ("tick", "sub-01/anatomical"), ("open", "sub-01/glmsingle"),
                        ("tick", "sub-01/glmsingle/averages"),
                        ("open", "stimuli"), ("tick", "stimuli/images"), ("tick", "stimuli/captions"),
                        ("tick", "stimuli/segmentations")]
SUBJECT_WITHOUT_STIMULI = [("tick", "sub-05"), ("tick", "sub-07")]


@pytest.mark.parametrize("moves, bar", [
    (SESSIONS_AND_CLIP, ""),
    (SUBJECTS_AND_STIMULI, ""),
    (SUBJECT_WITHOUT_STIMULI, ""),
    (SESSIONS_AND_CLIP + [("tick", "sub-03")], "suffix=statmap,json extension=nii.gz,json"),
], ids=["sessions+CLIP", "subjects+stimuli", "one-subject", "filtered"])
async def test_the_shown_command_plans_the_apps_files(context, moves, bar):
    app = LaionFmriApp(context)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        for move, node_id in moves:
            await (open_by_keys if move == "open" else tick_by_keys)(pilot, tree, node_id)
        if bar:
            await pilot.press("slash", *bar, "enter")
            await settle(pilot)
        plan = app.screen.plan
        assert plan is not None and plan.items
        lines = await shown_command(pilot, app)
        assert planned_by(lines) == {(i.key, i.size) for i in plan.items}


async def test_the_shown_command_goes_through_the_apps_proxy_and_ca_bundle(context, s3, tmp_path):
    """The bucket answers only through tinyproxy, over TLS signed by a site CA;
    the app was given both as --proxy and --ca-bundle (not the environment):
    the shown command carries them, so run as written it plans the app's files."""
    authority, pem = site_ca(tmp_path)
    front = Front(("127.0.0.1", s3.port), tls_for(authority, "127.0.0.1"))
    try:
        with tinyproxy(tmp_path) as (port, log):
            network = NetworkSettings(proxy=f"http://127.0.0.1:{port}", ca_bundle=str(pem))
            s3_settings = S3Settings(endpoint_url=f"https://127.0.0.1:{front.port}", network=network)
            app = LaionFmriApp(dataclasses.replace(context, s3=s3_settings))
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(pilot)
                tree = app.screen.query_one(BucketTree)
                await tick_by_keys(pilot, tree, "sub-05")
                plan = app.screen.plan
                assert plan is not None and plan.items
                lines = await shown_command(pilot, app)
            assert planned_by(lines) == {(i.key, i.size) for i in plan.items}
            assert log.read_text().count(f"CONNECT 127.0.0.1:{front.port}") >= 2, "the app's and the command's"
    finally:
        front.close()
    assert front.turned_away == 0


async def test_a_proxy_password_is_never_shown_and_the_script_says_what_to_export(context, tmp_path,
                                                                                monkeypatch):
    """The app reaches the bucket through a proxy that wants a password; the
    shown command and script leave that proxy out (the password is a secret)
    and say what to export instead; a relative --ca-bundle is made absolute."""
    monkeypatch.chdir(tmp_path)
    trustme.CA().cert_pem.write_to_path("site-ca.pem")
    with tinyproxy(tmp_path, credentials="ada:pr0xy-s3cret") as (port, log):
        network = NetworkSettings(proxy=f"http://ada:pr0xy-s3cret@127.0.0.1:{port}", ca_bundle="site-ca.pem")
        app = LaionFmriApp(dataclasses.replace(context, s3=dataclasses.replace(context.s3, network=network)))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            tree = app.screen.query_one(BucketTree)
            await tick_by_keys(pilot, tree, "sub-07")
            await pilot.press("b")
            await settle(pilot)
            assert "HTTPS_PROXY" in str(app.screen.query_one("#batch-note").render())
            await pilot.press("ctrl+s", "ctrl+t", "ctrl+s")
            await settle(pilot)
        assert "GET http://" in log.read_text(), "the app listed through the proxy"
    command = (context.data_dir / "laion-fmri-download.txt").read_text()
    script = (context.data_dir / "laion-fmri-download.sh").read_text()
    for text in (command, script):
        assert "s3cret" not in text and "--proxy" not in text
        assert f"--ca-bundle {tmp_path / 'site-ca.pem'}" in text
    assert "export HTTPS_PROXY=http://USER:PASS@HOST:PORT" in script
