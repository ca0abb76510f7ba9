"""Write screenshots/*.svg: every screen of the app, driven by Pilot over the offline demo.

Run from the repository: ``python scripts/make_screenshots.py``. It starts the
demo's local S3 and access service, walks the app through its screens at
80x23 (an 80x24 login-node terminal under tmux's status line) and saves what each looks like.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "tui"))

from laion_fmri_tui.core.settings import S3Settings  # noqa: E402
from laion_fmri_tui.core.settings import EngineSettings  # noqa: E402
from laion_fmri_tui.demo import demo_environment  # noqa: E402
from laion_fmri_tui.tui.app import LaionFmriApp  # noqa: E402
from laion_fmri_tui.tui.context import AppContext  # noqa: E402
from pilot_helpers import find, settle  # noqa: E402  (the tests' Pilot moves)

OUT = REPO / "screenshots"
ROOT = Path("/tmp/laion-fmri-demo")
SIZE = (80, 23)


async def shoot(app, name: str) -> None:
    path = OUT / f"{name}.svg"
    app.save_screenshot(str(path))
    print(f"wrote {path.relative_to(REPO)}")


async def first_run(s3_url: str, access_url: str) -> None:
    context = AppContext(data_dir=None, s3=S3Settings(endpoint_url=s3_url), access_url=access_url, demo=True)
    app = LaionFmriApp(context)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await shoot(app, "01-first-run")


async def journey(s3_url: str, access_url: str, data_dir: Path) -> None:
    from laion_fmri_tui.tui.screens.batch_command import BatchCommandScreen
    from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen
    from laion_fmri_tui.tui.screens.h5_preview import H5PreviewScreen
    from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree

    context = AppContext(data_dir=data_dir, s3=S3Settings(endpoint_url=s3_url), access_url=access_url,
                         engine=EngineSettings(jobs=8), demo=True)
    app = LaionFmriApp(context)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await shoot(app, "02-licence")
        await pilot.press("a")
        await settle(pilot)
        tree = app.screen.query_one(BucketTree)
        for node_id in ("sub-01", "sub-01/glmsingle", "stimuli", "stimuli/embeddings"):
            tree.move_cursor(find(tree, node_id))
            await pilot.press("right")
            await settle(pilot)
        for node_id in ("sub-01/glmsingle/ses-01", "sub-01/glmsingle/ses-02", "stimuli/embeddings/CLIP"):
            tree.move_cursor(find(tree, node_id))
            await pilot.press("space")
            await settle(pilot)
        await shoot(app, "03-browser")
        browser = app.screen
        app.push_screen(BatchCommandScreen(browser_selections(browser), data_dir))
        await settle(pilot)
        await shoot(app, "04-batch-command")
        app.pop_screen()
        await settle(pilot)
        await pilot.press("d")  # the review first, then y starts
        await settle(pilot)
        await pilot.press("y")
        for _ in range(50):
            await settle(pilot, 1)
            if not getattr(app.screen, "transfers_running", True):
                break
        await shoot(app, "05-transfers")
        app.pop_screen()
        await settle(pilot)
        app.push_screen(H5PreviewScreen(data_dir / "stimuli" / "task-images_desc-CLIP_embeddings.h5"))
        await settle(pilot)
        await shoot(app, "06-hdf5-preview")
        app.pop_screen()
        app.push_screen(DuaFormScreen())
        await settle(pilot)
        await shoot(app, "07-data-use-form")
        app.pop_screen()
        await pilot.press("question_mark")
        await settle(pilot)
        await shoot(app, "08-help")


def browser_selections(browser):
    from laion_fmri_tui.core.plan.browse import selections_for

    return selections_for(browser.tree.selected, browser.filters)


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with demo_environment(ROOT) as (s3_url, access_url, data_dir):
        await first_run(s3_url, access_url)
        await journey(s3_url, access_url, data_dir)


if __name__ == "__main__":
    asyncio.run(main())
