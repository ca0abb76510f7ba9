"""The App: a flow of screens over one injected service.

First run asks for a data directory, then the CC0 licence (once per data
directory), then the bucket browser. No window is refused for its size: every
screen is laid out for 80x23 (an 80x24 terminal under tmux's status line) and
scrolls rather than hides what does not fit below that. The App holds no network code: screens
ask ``self.app.context.service()`` and run its blocking calls in thread
workers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from textual.app import App

from laion_fmri_tui.core.disk import datadir

from laion_fmri_tui.core import licence
from laion_fmri_tui.core.run.engine_process import SpareEngine
from laion_fmri_tui.styles import stylesheet
from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.tui.context import AppContext
from laion_fmri_tui.tui.executor import DaemonExecutor
from laion_fmri_tui.tui.heap import settle_heap
from laion_fmri_tui.tui.palette import ActionsProvider

SPARE_AFTER = 1.0
"""Seconds after start to start a spare engine process in the background."""
STYLESHEETS = ("app.tcss", "forms.tcss", "browser.tcss", "transfers.tcss", "tools.tcss")


class LaionFmriApp(App[None]):
    """laion-fmri-tui's full-screen app."""

    TITLE = "LAION-fMRI"
    CSS_PATH = [stylesheet(name) for name in STYLESHEETS]
    BINDINGS = bindings("help", "quit")
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {ActionsProvider}

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.spare_engine = SpareEngine()
        """The engine process the next download takes, started by the preload (see engine_process)."""
        self.engine_stops: list[Callable[[], None]] = []
        """Waits for engine processes told to stop on the way out, each bounded (killed after
        STOP_GRACE): :meth:`wait_for_engines` does them once the terminal is given back."""
        self.sub_title = "offline demo" if context.demo else ""

    def on_load(self) -> None:
        # Before any worker starts: quitting must not wait for thread workers.
        asyncio.get_running_loop().set_default_executor(DaemonExecutor())

    def on_mount(self) -> None:
        self.next_step()
        self.set_timer(SPARE_AFTER, self._start_spare)

    def _start_spare(self) -> None:
        """Once the first screen is up, start the engine process the first
        download will use (see ``SpareEngine.prewarm``), off the key path."""
        self.run_worker(self._spare_work, thread=True, group="preload", exit_on_error=False)

    def _spare_work(self) -> None:
        self.spare_engine.prewarm()
        settle_heap()

    def on_unmount(self) -> None:
        # The app's unmount is the last step of its shutdown, after the screens':
        # Textual has given the terminal back by now, so the user has it while this waits.
        self.engine_stops.append(self.spare_engine.discard(wait=False))
        self.wait_for_engines()

    def wait_for_engines(self) -> None:
        """Wait, side by side, for the engine processes told to stop on the way out
        (the running download's, told at the quit's answer, and the spare), each at
        most STOP_GRACE, then killed (a killed run keeps its bytes). Textual gives
        the terminal back before it unmounts anything, so this never holds the
        screen; the process (and ``--demo``'s removal of its folder) waits for it."""
        waits = [threading.Thread(target=stop, name="engine-stop", daemon=True) for stop in self.engine_stops]
        self.engine_stops = []
        for wait in waits:
            wait.start()
        for wait in waits:
            wait.join()

    # the first-run flow ------------------------------------------------------
    def next_step(self) -> None:
        """Show whatever the user must settle next, or the browser."""
        if self.context.data_dir is None:
            from laion_fmri_tui.tui.screens.data_dir import DataDirScreen

            self.push_screen(DataDirScreen(default_data_dir()), self._data_dir_chosen)
        elif not licence.is_accepted(self.context.data_dir):
            from laion_fmri_tui.tui.screens.licence import LicenceScreen

            self.push_screen(LicenceScreen(self.context.data_dir), self._licence_answered)
        else:
            from laion_fmri_tui.tui.screens.browser import BrowserScreen

            self.push_screen(BrowserScreen())

    def _data_dir_chosen(self, chosen: Path | None) -> None:
        if chosen is None:
            self.exit()
            return
        self.context.data_dir = chosen
        self.next_step()

    def _licence_answered(self, accepted: bool | None) -> None:
        if not accepted:
            self.exit(message="The CC0 licence was not accepted; nothing was downloaded.")
            return
        self.next_step()

    # app-wide actions --------------------------------------------------------
    def action_help(self) -> None:
        from laion_fmri_tui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_quit_app(self) -> None:
        """Quit, asking first while transfers run (partial files are kept)."""
        transfers = any(getattr(s, "transfers_running", False) for s in self.screen_stack)
        if not transfers:
            self.exit()
            return
        from laion_fmri_tui.tui.screens.confirm import ConfirmScreen

        self.push_screen(ConfirmScreen("Transfers are running. Quit anyway? Partial files are kept "
                                       "and resume on the next run.", yes="Quit", no="Keep going"),
                         self._quit_answered)

    def _quit_answered(self, yes: bool | None) -> None:
        if not yes:
            return
        # Stop the engines now: their cancel runs while the app shuts down, not after it.
        for screen in self.screen_stack:
            stop = getattr(screen, "stop_engine", None)
            if stop is not None:
                stop()
        self.exit()


def default_data_dir() -> Path:
    """What the first-run screen proposes: the configured one, else ~/laion-fmri-data."""
    return datadir.configured_data_dir() or Path.home() / "laion-fmri-data"
