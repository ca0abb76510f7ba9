"""The app in the field bench: first frame, a tree level at distance, keys while downloading.

* **first frame**: the installed ``laion-fmri-tui`` in tmux at 80x24 (a
  licensed data directory), from the spawn until the pane shows anything, and
  until the tree shows ``sub-01``; one cold start first, not counted (warm
  means Python's files and the package are in the page cache).
* **a tree level**: the headless app (Pilot, 80x24) at 150 ms: the cursor on
  a node, a ``right`` key event posted as the terminal driver posts one, and
  the time until the node's children replace its "loading" row. Three levels:
  ``sub-01``, its GLMsingle sessions, one session's files.
* **keys while downloading**: ``sub-01`` ticked, ``d`` pressed, then a ``?``
  key event every half second for a few seconds; the time until the help
  screen is up, then ``escape`` and the time until the dashboard is back (both
  count as keys answered). Run on each link of the field bench.

Each Pilot run is a process of its own (``--drive``), pinned to the client's
core; its process group (the app's engine process too) is killed after it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from app_bench import THINK_TIME, _key, _tree_node, _until, _wait, confirm_review, licensed, start_times  # noqa: E402
from contenders import Context, base_env  # noqa: E402

LEVELS = ("sub-01", "sub-01/glmsingle", "sub-01/glmsingle/ses-01")


def _pinned(cpus):
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def first_frames(url: str, work: Path, cpus, runs: int = 3) -> dict:
    """Seconds to the first frame and to the listed tree, over ``runs`` warm starts."""
    frames, listed = [], []
    for n in range(runs + 1):
        frame, tree = start_times(url, licensed(work / "app-data"), licensed(work / "app-home"), cpus)
        if n:                       # the first start warms the page cache
            frames.append(frame)
            listed.append(tree)
    return {"first_frame": frames, "tree_listed": listed}


def _drive(mode: str, url: str, work: Path, cpus, extra_env: dict[str, str], seconds: float = 0.0) -> dict:
    data_dir, home = licensed(work / "app-data"), licensed(work / "app-home")
    env = base_env(Context(url, data_dir, [], (), home), extra_env)
    proc = subprocess.Popen([sys.executable, __file__, "--drive", mode, url, str(data_dir), str(seconds)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_pinned(cpus))
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)     # the app's engine process, if still downloading
        except ProcessLookupError:
            pass
        proc.wait()
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"driving the app failed: {err[-600:]}")
    return json.loads(out.strip().splitlines()[-1])


def tree_levels(url: str, work: Path, cpus) -> dict:
    return _drive("levels", url, work, cpus, {})


def keys_while_downloading(url: str, work: Path, cpus, seconds: float, extra_env: dict[str, str]) -> dict:
    return _drive("keys", url, work, cpus, extra_env, seconds)


async def _put_cursor(pilot, tree, node) -> None:
    """The cursor on ``node`` (the tree may still move it after a level filled)."""
    for _ in range(100):
        tree.move_cursor(node)
        await pilot.pause(0.05)
        if tree.cursor_node is node:
            return
    raise TimeoutError(f"the cursor did not stay on {node.label}")


async def _levels(url: str, data_dir: Path) -> dict:
    from laion_fmri_tui.core.settings import S3Settings
    from laion_fmri_tui.tui.app import LaionFmriApp
    from laion_fmri_tui.tui.context import AppContext
    from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree

    app = LaionFmriApp(AppContext(data_dir=data_dir, s3=S3Settings(endpoint_url=url)))
    times = []
    async with app.run_test(size=(80, 24)) as pilot:
        tree, _ = await _wait(pilot, lambda: _tree_node(app, BucketTree, "sub-01"))
        await asyncio.sleep(THINK_TIME)
        tree.focus()
        for level in LEVELS:
            _, node = await _wait(pilot, lambda level=level: _tree_node(app, BucketTree, level))
            await _put_cursor(pilot, tree, node)
            await pilot.pause(0.2)
            pressed = time.monotonic()
            _key(app, "right", "")
            try:
                await _until(lambda node=node: node.is_expanded and node.children
                             and all(child.data is not None for child in node.children), timeout=20)
            except TimeoutError:
                raise TimeoutError(f"{level} did not open: expanded {node.is_expanded}, focus {app.focused}, "
                                   f"cursor {tree.cursor_node and tree.cursor_node.label}, children "
                                   f"{[str(c.label) for c in node.children][:4]}") from None
            times.append(time.monotonic() - pressed)
    return {"levels": times, "level_names": list(LEVELS)}


async def _keys(url: str, data_dir: Path, seconds: float) -> dict:
    from laion_fmri_tui.core.settings import S3Settings
    from laion_fmri_tui.tui.app import LaionFmriApp
    from laion_fmri_tui.tui.context import AppContext
    from laion_fmri_tui.tui.screens.help import HelpScreen
    from laion_fmri_tui.tui.screens.transfers import TransfersScreen
    from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree

    app = LaionFmriApp(AppContext(data_dir=data_dir, s3=S3Settings(endpoint_url=url)))
    latencies: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        tree, node = await _wait(pilot, lambda: _tree_node(app, BucketTree, "sub-01"))
        await asyncio.sleep(THINK_TIME)
        await _put_cursor(pilot, tree, node)
        await pilot.press("space")
        await _wait(pilot, lambda: getattr(app.screen, "plan", None) is not None
                    and app.screen.plan.files > 0 and not any(w.is_running for w in app.workers))
        await pilot.press("d")
        await confirm_review(pilot, app)
        try:
            screen = await _wait(pilot, lambda: app.screen if isinstance(app.screen, TransfersScreen) else None,
                                 timeout=30)
        except TimeoutError:
            raise TimeoutError(f"d did not start a download: on {type(app.screen).__name__}, "
                               f"{app.screen.plan if hasattr(app.screen, 'plan') else ''}") from None
        started = time.monotonic()
        while screen.transfers_running and time.monotonic() - started < seconds:
            await asyncio.sleep(0.5)
            if not screen.transfers_running:
                break
            pressed = time.monotonic()
            _key(app, "question_mark", "?")
            await _until(lambda: isinstance(app.screen, HelpScreen))
            latencies.append(time.monotonic() - pressed)
            pressed = time.monotonic()
            _key(app, "escape", "\x1b")
            await _until(lambda: app.screen is screen)
            latencies.append(time.monotonic() - pressed)
        phase = str(screen.phase)
    return {"latencies": latencies, "phase": phase}


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--drive":
        mode, url, data_dir, seconds = sys.argv[2], sys.argv[3], Path(sys.argv[4]), float(sys.argv[5])
        result = asyncio.run(_levels(url, data_dir) if mode == "levels" else _keys(url, data_dir, seconds))
        print(json.dumps(result), flush=True)
        os._exit(0)     # the engine process may still be downloading: the caller ends its group
    sys.exit("usage: bench/field.py runs this module")
