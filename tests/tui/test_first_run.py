"""First run through the real app, by keyboard at 80x24: data directory, then licence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, Static

from laion_fmri_tui.core.disk import datadir

from laion_fmri_tui.core import licence
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.context import AppContext
from laion_fmri_tui.tui.screens.data_dir import DataDirScreen
from laion_fmri_tui.tui.screens.licence import LicenceScreen

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def settle(pilot: Pilot) -> None:
    """Let every worker finish and its outcome reach the screen."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def status_text(app: LaionFmriApp) -> str:
    return str(app.screen.query_one("#data-dir-status", Static).render())


async def retype(pilot: Pilot, text: str) -> None:
    """Clear the focused Input and type ``text`` key by key."""
    await pilot.press("home", "ctrl+k", *text)
    await settle(pilot)


async def test_first_run_creates_saves_and_accepts(fresh_context: AppContext) -> None:
    target = Path.home() / "q q" / "data"  # typed as ~/q q/data: 'q' types, never quits
    app = LaionFmriApp(fresh_context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DataDirScreen)
        field = app.screen.query_one("#data-dir-input", Input)
        assert app.focused is field
        assert field.value == "~/laion-fmri-data"

        await retype(pilot, "~/q q/data")
        assert field.value == "~/q q/data"
        assert app.return_code is None
        assert "Does not exist yet" in status_text(app)
        create = app.screen.query_one("#create-dir", Checkbox)
        assert create.display
        assert app.screen.query_one("#continue", Button).disabled

        await pilot.press("tab")
        assert app.focused is create
        await pilot.press("space")
        await pilot.press("tab", "tab")
        assert app.focused is app.screen.query_one("#continue", Button)
        assert not app.focused.disabled
        await pilot.press("enter")
        await settle(pilot)

        assert target.is_dir()
        assert datadir.config_path() == Path(os.environ["XDG_CONFIG_HOME"]) / "laion_fmri" / "config.json"
        assert json.loads(datadir.config_path().read_text()) == {"data_dir": str(target.resolve())}
        assert (target / ".laion_fmri").is_dir()
        assert fresh_context.data_dir == target.resolve()

        assert isinstance(app.screen, LicenceScreen)
        text = app.screen.query_one("#licence-text", VerticalScroll)
        assert app.focused is text
        assert text.max_scroll_y > 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert text.scroll_y > 0

        await pilot.press("escape", "enter")  # neither accepts
        await settle(pilot)
        assert isinstance(app.screen, LicenceScreen)
        assert not licence.is_accepted(target)

        await pilot.press("a")
        await settle(pilot)
        assert licence.is_accepted(target)
        assert not any(isinstance(s, (LicenceScreen, DataDirScreen)) for s in app.screen_stack)
        assert type(app.screen).__name__ == "BrowserScreen"
        assert app.return_code is None


async def test_existing_directory_is_ok_and_enter_continues(fresh_context: AppContext) -> None:
    data_dir = Path.home() / "d"
    data_dir.mkdir()
    app = LaionFmriApp(fresh_context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await retype(pilot, "~/d")
        assert "Exists and is writable" in status_text(app)
        assert not app.screen.query_one("#create-dir", Checkbox).display
        await pilot.press("enter")
        await settle(pilot)
        assert configured(data_dir)
        assert isinstance(app.screen, LicenceScreen)


async def test_a_file_or_a_missing_dir_without_create_is_refused(fresh_context: AppContext) -> None:
    (Path.home() / "f").write_text("x")
    app = LaionFmriApp(fresh_context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await retype(pilot, "~/f")
        assert "not a directory" in status_text(app)
        assert "-error" in app.screen.query_one("#data-dir-status", Static).classes
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DataDirScreen)

        await retype(pilot, "~/f/x")
        assert "Cannot be created" in status_text(app)

        await retype(pilot, "~/new")
        await pilot.press("enter")  # Create it is not ticked
        await settle(pilot)
        assert isinstance(app.screen, DataDirScreen)
        assert "tick" in status_text(app)
        assert not (Path.home() / "new").exists()
        assert not datadir.config_path().exists()


async def test_a_directory_whose_marker_is_a_file_is_named_and_not_saved(fresh_context: AppContext) -> None:
    data_dir = Path.home() / "d"
    data_dir.mkdir()
    (data_dir / ".laion_fmri").write_text("not a folder")
    app = LaionFmriApp(fresh_context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await retype(pilot, "~/d")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DataDirScreen)
        assert ".laion_fmri is a file" in status_text(app)
        assert not datadir.config_path().exists()


async def test_quit_on_the_data_dir_screen_saves_nothing(fresh_context: AppContext) -> None:
    app = LaionFmriApp(fresh_context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#quit", Button).focus()
        await pilot.press("enter")
        await pilot.pause()
    assert app.return_code == 0
    assert not datadir.config_path().exists()


async def test_declining_the_licence_quits_without_a_marker(fresh_context: AppContext, data_dir: Path) -> None:
    fresh_context.data_dir = data_dir
    app = LaionFmriApp(fresh_context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, LicenceScreen)
        await pilot.press("d")  # the download key means nothing here (it used to decline)
        await pilot.pause()
        assert isinstance(app.screen, LicenceScreen) and app.is_running
        await pilot.press("n")
        await pilot.pause()
    assert app.return_code == 0
    assert not licence.is_accepted(data_dir)


def configured(data_dir: Path) -> bool:
    return datadir.configured_data_dir() == data_dir.resolve()


PRELOAD_PROBE = """
import asyncio, gc, json, sys, threading, time
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.context import AppContext

DIALOGS = ("review", "transfers", "licence", "dua_form", "h5_preview", "batch_command")
NAMES = [f"laion_fmri_tui.tui.screens.{name}" for name in DIALOGS]
spawns = []

def watch(event, args):
    # Who started each process, whenever that was: no race with the app's timer.
    if event == "subprocess.Popen" and any("laion_fmri_tui.core.run.engine_process" in str(a) for a in args[1]):
        spawns.append(threading.current_thread() is threading.main_thread())

sys.addaudithook(watch)

def engine_children():
    # this process's live children that run the engine
    from pathlib import Path
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
            cmdline = (status.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if (int(fields["PPid"]) == __import__("os").getpid() and not fields["State"].strip().startswith("Z")
                and b"laion_fmri_tui.core.run.engine_process" in cmdline):
            found.append(int(status.parent.name))
    return found

async def main():
    app = LaionFmriApp(AppContext(data_dir=None))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = type(app.screen).__name__
        await app.run_action("help")  # what ? runs (here the focused path field would take the key)
        await pilot.pause()
        help_text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        imported = [n for n in NAMES if n in sys.modules]
        deadline = time.monotonic() + 30
        while not (gc.get_freeze_count() and engine_children()) and time.monotonic() < deadline:
            await pilot.pause(0.1)
        spare = engine_children()
    print(json.dumps({"first": first, "help": help_text, "imported": imported, "spawns": spawns,
                      "frozen": gc.get_freeze_count(), "spare": spare, "spare_after_exit": engine_children()}))

asyncio.run(main())
"""


def test_help_lists_every_dialog_s_keys_without_importing_a_dialog(tmp_path):
    """The first ``?`` must not pay for importing every dialog (0.3-0.6 s while a
    download kept the CPU busy): the help reads their keys from the registry.
    Opened at once, before any timer of the app could fire. In the background,
    the app then starts a spare engine process (ended when the app closes) and
    freezes the heap for the garbage collector."""
    done = subprocess.run([sys.executable, "-c", PRELOAD_PROBE], capture_output=True, text=True,
                          timeout=90, cwd=tmp_path, env=dict(os.environ), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["first"] == "DataDirScreen"
    assert seen["imported"] == [], f"dialogs imported to show the help: {seen['imported']}"
    assert "Keys and settings" in seen["help"] and "Start-up option and environment" in seen["help"]
    assert " dialog " not in seen["help"], "opened from the data-directory screen: no dialog's keys"
    assert seen["frozen"] > 0, seen
    assert seen["spawns"] == [False] and len(seen["spare"]) == 1, "one spare, started off the app's thread"
    assert seen["spare_after_exit"] == [], seen
