"""The tool dialogs on the real app: batch command / SLURM script, help, HDF5 preview."""

from __future__ import annotations

import shlex

from textual.binding import Binding
from textual.widgets import DataTable, Input, Static, TabbedContent, TextArea

from tools_helpers import SELECTIONS, make_app, settle, write_embeddings

from laion_fmri_tui.batch.args import build_parser, selection_from
from laion_fmri_tui.core.scripts.command_line import command_line, slurm_script
from laion_fmri_tui.tui import commands
from laion_fmri_tui.tui.screens.batch_command import BatchCommandScreen
from laion_fmri_tui.tui.screens.browser import BrowserScreen
from laion_fmri_tui.tui.screens.h5_preview import H5PreviewScreen
from laion_fmri_tui.tui.screens.help import ENVIRONMENT, HelpRows, HelpScreen


def static_text(widget: Static) -> str:
    return str(widget.render())


async def test_batch_screen_shows_the_command_and_writes_the_script(context):
    app = make_app(context)
    data_dir = context.data_dir
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, BrowserScreen)
        await app.push_screen(BatchCommandScreen(SELECTIONS, data_dir))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BatchCommandScreen)
        shown = screen.query_one("#command-text", TextArea).text
        assert shown == command_line(SELECTIONS, data_dir)
        first = shlex.split(shown.splitlines()[0])
        assert selection_from(build_parser().parse_args(first[1:])) == SELECTIONS[0]
        path_input = screen.query_one("#write-path", Input)
        assert path_input.value == str(data_dir / "laion-fmri-download.txt")

        await pilot.press("ctrl+t")
        await pilot.pause()
        assert screen.query_one(TabbedContent).active == "script-tab"
        script = slurm_script(SELECTIONS, data_dir)
        assert screen.query_one("#script-text", TextArea).text == script
        assert path_input.value == str(data_dir / "laion-fmri-download.sh")

        await pilot.click("#write")
        await pilot.pause()
        written = data_dir / "laion-fmri-download.sh"
        assert written.read_text() == script
        assert written.stat().st_mode & 0o777 == 0o755
        message = static_text(screen.query_one("#write-message", Static))
        assert str(written) in message and screen.query_one("#write-message").has_class("-success")

        written.write_text("old\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert written.read_text() == "old\n"  # asks first
        assert "exists" in static_text(screen.query_one("#write-message", Static))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert written.read_text() == script

        path_input.value = str(data_dir / "no-such-folder" / "job.sh")
        await pilot.press("ctrl+s")
        await pilot.pause()
        message = screen.query_one("#write-message", Static)
        assert message.has_class("-error") and "folder does not exist" in static_text(message)
        assert "\n" not in static_text(message)

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BrowserScreen)
        assert written.read_text() == script  # closing changed nothing


async def test_batch_screen_writes_the_command_line_as_plain_text(context):
    app = make_app(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(BatchCommandScreen(SELECTIONS[:1], context.data_dir))
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        written = context.data_dir / "laion-fmri-download.txt"
        assert written.read_text() == command_line(SELECTIONS[:1], context.data_dir) + "\n"
        assert written.stat().st_mode & 0o777 == 0o644


async def test_help_lists_every_key_of_the_browser_and_every_knob(context):
    app = make_app(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        rows = [row for section in screen.query(HelpRows) for row in section.rows]
        keys, texts = [key for key, _ in rows], [text for _, text in rows]
        for command in commands.COMMANDS:
            shown = app.get_key_display(Binding(command.key, command.action)) in keys
            assert shown == (command.id != "pause"), command.id  # p pauses a download, not the browser
            assert (command.help in texts) == shown
        for move in ("cursor-down", "cursor-up", "expand", "collapse", "open-row"):  # the tree's moves
            command = commands.by_id(move)
            assert screen._key(command.key) in keys and command.help in texts, move
        for key, text in commands.EVERYWHERE:
            assert key in keys and text in texts
        for name, _ in ENVIRONMENT:
            assert name in keys
        assert "^t" not in keys and "^s" not in keys  # the batch dialog's own keys: not the browser's
        # a grid per section, not two widgets a row: eighty widgets took 145 ms of CPU to
        # mount, and a key pressed during a download waited 200-450 ms (bench/field.py, app)
        assert len(screen.query("*")) <= 25, len(screen.query("*"))
        body = screen.query_one("#help-body")
        assert body.region.bottom <= 24 and body.max_scroll_y > 0  # fits, and scrolls
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BrowserScreen)


async def test_preview_shows_the_datasets_of_a_real_embeddings_file(context):
    path = write_embeddings(context.data_dir)
    app = make_app(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(H5PreviewScreen(path))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, H5PreviewScreen)
        table = screen.query_one("#h5-datasets", DataTable)
        assert table.row_count == 3
        assert table.get_row("embedding")[:3] == ["embedding", "20 × 1024", "float16"]
        assert table.get_row("image_ids")[2:4] == ["string", "variable"]
        assert table.get_row("image_ids")[4] == "…cluster_1000_i0.png …"  # the first value, and more
        rows = screen.query_one("#h5-rows", DataTable)
        assert rows.display and rows.row_count == 5
        assert rows.get_row_at(0)[1] == "…cluster_1000_i0.png"  # its end: what tells the rows apart
        assert "3 datasets" in static_text(screen.query_one("#h5-status", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BrowserScreen)


async def test_preview_of_a_broken_file_is_one_line(context):
    broken = context.data_dir / "stimuli" / "broken.h5"
    broken.parent.mkdir(parents=True)
    broken.write_text("this is not HDF5")
    app = make_app(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(H5PreviewScreen(broken))
        await settle(pilot)
        status = app.screen.query_one("#h5-status", Static)
        assert status.has_class("-error") and "not an HDF5 file" in static_text(status)
        assert not app.screen.query_one("#h5-datasets").display


async def test_closing_the_preview_while_it_reads_is_harmless(context):
    from textual.worker import WorkerState

    path = write_embeddings(context.data_dir)
    app = make_app(context)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(H5PreviewScreen(path))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BrowserScreen)
        assert not [w for w in app.workers if w.state == WorkerState.ERROR]


async def test_preview_values_fit_at_80_columns_and_the_title_says_which(context):
    """No value column runs past the dialog's edge at 80x23; the title names the shown ones."""
    path = write_embeddings(context.data_dir)
    app = make_app(context)
    async with app.run_test(size=(80, 23)) as pilot:
        await settle(pilot)
        await app.push_screen(H5PreviewScreen(path))
        await settle(pilot)
        rows = app.screen.query_one("#h5-rows", DataTable)
        shown = len(rows.columns) - 4
        assert shown >= 1 and rows.max_scroll_x == 0, (shown, rows.max_scroll_x)
        title = static_text(app.screen.query_one("#h5-rows-title", Static))
        assert (f"values 0-{shown - 1} of 1024" if shown > 1 else "value 0 of 1024") in title, title
