"""From ``d`` to bytes on disk: access asked once, the engine only in its child process."""

from __future__ import annotations

import json
import subprocess
import sys

from laion_fmri_tui.core.access import auth
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.transfers import TransfersScreen
from pilot_helpers import settle
from test_journeys import download_stimulus_images, wait_finished

REFRESH = "/api/v1/refresh"


def refreshes(access) -> int:
    return sum(1 for r in access.requests if r.method == "POST" and r.path == REFRESH)


async def test_access_is_checked_once_per_download(context, access, s3_objects) -> None:
    """The stored request id is refreshed once between ``d`` and the files on
    disk: the signed URLs of that one answer reach the engine (in its child
    process), which does not ask again."""
    request_id, _ = access.store.issue("ada@uni-example.de", access.terms_version)
    auth.save_request_id(request_id, email="ada@uni-example.de", server_url=access.url)
    access.clear_log()
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await download_stimulus_images(pilot)
        screen = await wait_finished(pilot)
        assert isinstance(screen, TransfersScreen) and screen.phase == "finished", screen.phase
    for name in ("task-images_stimuli.h5", "task-images_metadata.csv"):
        assert (context.data_dir / "stimuli" / name).read_bytes() == s3_objects[f"stimuli/{name}"].data
    assert access.downloads("task-images_stimuli.h5"), "the file came through the access service"
    assert refreshes(access) == 1


APP_PROCESS_PROBE = """
import asyncio, json, sys
from pathlib import Path
from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.core.settings import EngineSettings, S3Settings
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.context import AppContext
from laion_fmri_tui.tui.screens.transfers import TransfersScreen

# The app shows and passes the engine's settings (core/settings.py, not the engine's); its
# listings speak the same HTTP/1.1 wire as the engine's GETs, in the one HTTP layer (core/http/).
ENGINE = ("laion_fmri_tui.core.transfer", "laion_fmri_tui.core.run.factory", "laion_fmri_tui.core.s3.get")

async def main():
    context = AppContext(data_dir=Path(sys.argv[1]), s3=S3Settings(endpoint_url=sys.argv[2]),
                         engine=EngineSettings(jobs=4, part_size=1024 * 1024))
    plan = context.service().plan(Selection(subjects=("sub-01",), filters=Filters.build(ses=["02"]),
                                            components=frozenset({"glmsingle"})))
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = TransfersScreen(plan)
        await app.push_screen(screen)
        for _ in range(1200):
            await pilot.pause(0.05)
            if screen.phase not in ("starting", "running"):
                break
        phase, files = screen.phase, plan.files
    loaded = sorted(m for m in sys.modules if m.startswith(ENGINE))
    print(json.dumps({"phase": phase, "files": files, "loaded": loaded}))

asyncio.run(main())
"""


def test_the_app_process_does_not_import_the_engine(s3, licensed_data_dir, tmp_path) -> None:
    """A whole download in the app loads none of the engine's modules in the
    app's own process: the child builds and runs the engine (their imports
    cost the app's event loop tens of milliseconds and its memory for nothing)."""
    done = subprocess.run([sys.executable, "-c", APP_PROCESS_PROBE, str(licensed_data_dir), s3.url],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["phase"] == "finished" and seen["files"] > 0, seen
    assert seen["loaded"] == [], f"the app's process loaded engine modules: {seen['loaded']}"
    assert any((licensed_data_dir / "derivatives").rglob("*ses-02*")), "the files are on disk"
