"""The dashboard's words agree with each other and with what happened, by keys.

A run where one small file fails: the header stops saying "Downloading",
the bar does not round 99.x% up to 100%, and "N of M files" counts what
done/skipped/failed count. ``r`` retries it; during and after the retry the
counts and the bytes still speak of the whole plan (not "1 of 1 files", nor
the retried file's bytes). ``r`` with nothing failed and
``w`` (a new cap) answer with a notification, which a user sees whatever the
log has scrolled to.
"""

from __future__ import annotations

import dataclasses
import re

import time

from laion_fmri_tui.core.plan.selection import Filters, Selection
from laion_fmri_tui.core.units import size
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.screens.help import HelpRows
from laion_fmri_tui.tui.screens.transfers import TransfersScreen


def ses02() -> Selection:
    return Selection(subjects=("sub-01",), filters=Filters.build(ses=["02"]), components=frozenset({"glmsingle"}))


async def start(app, pilot, plan) -> TransfersScreen:
    await pilot.pause()
    screen = TransfersScreen(plan)
    await app.push_screen(screen)
    return screen


async def wait_for(pilot, predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


def toasts(app) -> str:
    """The text of the notifications on screen."""
    return "\n".join(str(t.render()) for t in app.screen.query("Toast"))


async def test_a_failed_file_then_a_retry_are_told_consistently(context, s3) -> None:
    context.engine = dataclasses.replace(context.engine, retries=1)
    plan = context.service().plan(ses02())
    small = min(plan.items, key=lambda item: item.size)
    assert small.size * 200 < plan.bytes_total, "a file under half a percent of the run"
    s3.fail_next(small.key, 20, "reset")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23), notifications=True) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: screen.phase == "failed", "the run to end with a failure")
        await pilot.pause(0.1)
        n = plan.files
        assert text_of(screen, "#transfers-target").startswith(f"1 failed (r retries): {n - 1} of {n} files")
        assert f"{n - 1} done · 0 skipped · 1 failed · {n - 1} of {n} files" in text_of(screen, "#total-counts")
        assert str(screen.query_one("#percentage").render()) == "99%"
        whole = size(plan.bytes_total - plan.bytes_present)
        failed_bytes = text_of(screen, "#total-bytes")
        assert failed_bytes.endswith(f" of {whole}"), failed_bytes
        first = screen.result
        await pilot.press("r")  # the file fails again (a warm engine may end it within the key's handling)
        await wait_for(pilot, lambda: screen.result is not first and screen.phase == "failed", "the retry to fail")
        await pilot.pause(0.1)
        # the bytes, like the files, still speak of the whole download, not of the one file retried
        assert text_of(screen, "#total-bytes").endswith(f" of {whole}"), text_of(screen, "#total-bytes")
        assert f"{n - 1} of {n} files" in text_of(screen, "#total-counts")
        s3.reset()
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.phase == "finished", "the retry to finish")
        await pilot.pause(0.1)
        assert text_of(screen, "#transfers-target").startswith(f"Downloaded {n} of {n} files into")
        assert f"{n} done · 0 skipped · 0 failed · {n} of {n} files" in text_of(screen, "#total-counts")
        assert text_of(screen, "#total-bytes") == f"{whole} of {whole}"
        assert str(screen.query_one("#percentage").render()) == "100%"
        await pilot.press("r")
        await pilot.pause(0.1)
        assert "nothing failed, so nothing to retry" in toasts(app)
        await pilot.press("w")
        await pilot.pause()
        await pilot.press(*"2M", "enter")
        await pilot.pause(0.1)
        assert "bandwidth capped at" in toasts(app)


async def test_a_long_eta_fits_its_label_at_80_columns(context) -> None:
    """A capped run whose ETA is minutes away: the rate line is not cut (it once read
    "20.0 kB/s · ETA 9 minutes and" with the rest under the sparkline)."""
    context.engine = dataclasses.replace(context.engine, max_bandwidth=20_000)
    plan = context.service().plan(ses02())
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        screen = await start(app, pilot, plan)
        label = screen.query_one("#total-rate")
        await wait_for(pilot, lambda: "ETA" in text_of(screen, "#total-rate")
                       and "unknown" not in text_of(screen, "#total-rate"), "an ETA")
        text = text_of(screen, "#total-rate")
        assert len(text) <= label.size.width, (text, label.size.width)
        await pilot.press("c", "y")
        await wait_for(pilot, lambda: screen.phase == "cancelled", "the cancel")


async def test_the_header_says_paused_while_paused(context, s3) -> None:
    """p: the header stops saying "Downloading" until p again."""
    plan = context.service().plan(ses02())
    s3.throttle(max(plan.items, key=lambda item: item.size).key, 64 * 1024)  # the run outlasts the keys
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: screen.phase == "running", "the run to start")
        assert text_of(screen, "#transfers-target").startswith("Downloading ")
        await pilot.press("p")
        await pilot.pause(0.1)
        assert text_of(screen, "#transfers-target").startswith("Paused (p resumes): ")
        await pilot.press("p")
        await pilot.pause(0.1)
        assert text_of(screen, "#transfers-target").startswith("Downloading ")
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.phase == "cancelled", "the cancel")


async def test_escape_from_the_bandwidth_dialog_says_the_cap_is_unchanged(context) -> None:
    """w then escape: the README promises that both enter and escape say what they did."""
    plan = context.service().plan(ses02())
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23), notifications=True) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: screen.phase == "finished", "the run to finish")
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert "bandwidth cap unchanged (no cap)" in toasts(app)
        await pilot.press("w")
        await pilot.pause()
        await pilot.press(*"100k", "enter")
        await pilot.pause(0.1)
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert "bandwidth cap unchanged (100 kB/s)" in toasts(app)
        log = "\n".join(line.text for line in screen.query_one("TransferLog").lines)
        assert "bandwidth cap unchanged (100 kB/s)" in log



def drawn(screen) -> str:
    spark = screen.query_one("#throughput")
    return "".join(spark.render_line(y).text for y in range(spark.size.height))


async def test_a_run_that_fetched_nothing_shows_r_retry_and_no_throughput_bar(context, s3) -> None:
    """Every file fails before its first byte: the sparkline draws no bar for samples
    that are all 0 (its first sample was drawn as a full bar); at the end the header
    says r retries, so the footer shows r Retry.

    The sparkline is read each time its samples change (a watcher on the totals'
    ``rates``, called after the totals gave them to the sparkline), so the drawing
    of the first sample alone is checked however many samples a loaded machine
    takes before the test could look (a later look at several 0 samples proves
    nothing: Textual draws those flat anyway)."""
    from laion_fmri_tui.tui.widgets.transfer_totals import TransferTotals

    context.engine = dataclasses.replace(context.engine, retries=3)
    plan = context.service().plan(ses02())
    for item in plan.items:
        s3.fail_next(item.key, 1000, "503")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        screen = await start(app, pilot, plan)
        drawings: list[tuple[tuple[float, ...], str]] = []
        screen.watch(screen.query_one(TransferTotals), "rates",
                     lambda rates: drawings.append((rates, drawn(screen))), init=False)
        await wait_for(pilot, lambda: screen.phase == "failed", "the run to fail")
        await pilot.pause(0.2)
        assert drawings and len(drawings[0][0]) == 1, "the first sample was drawn alone"
        assert not any(any(rates) for rates, _ in drawings), "nothing was fetched"
        assert not [d for d in drawings if "█" in d[1]], drawings
        assert "█" not in drawn(screen), (screen.rates, drawn(screen))
        assert "(r retries)" in text_of(screen, "#transfers-target")
        shown = {(key.key, key.description) for key in app.screen.query("FooterKey")}
        assert ("r", "Retry") in shown, shown
        s3.reset()
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.phase == "finished", "the retry to finish")
        await pilot.pause(0.1)
        assert "Retry" not in {key.description for key in app.screen.query("FooterKey")}, "nothing left to retry"


async def test_the_bandwidth_error_goes_once_the_text_is_a_rate(context) -> None:
    """w, a bad rate and enter: the error shows; fixing the text clears it before enter."""
    plan = context.service().plan(ses02())
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: screen.phase == "finished", "the run to finish")
        await pilot.press("w")
        await pilot.pause()
        await pilot.press(*"abc1", "enter")
        await pilot.pause()
        error = app.screen.query_one("#bandwidth-error")
        assert "not a rate" in str(error.render())
        await pilot.press(*["backspace"] * 4, *"10k")
        await pilot.pause()
        assert str(error.render()).strip() == "", str(error.render())
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen and app.context.engine.max_bandwidth == 10_000


async def test_the_dashboards_help_speaks_of_failed_files_not_listings(context) -> None:
    """? on the dashboard: r retries failed files there; the dashboard has no listings."""
    plan = context.service().plan(ses02())
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: screen.phase == "finished", "the run to finish")
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        texts = [text for section in app.screen.query(HelpRows) for _, text in section.rows]
        assert any(t.startswith("Retry the failed files") for t in texts), texts
        assert not any("listing" in t for t in texts), texts


async def test_retries_are_summed_up_in_the_log_not_a_line_per_request(context, s3) -> None:
    """Every file is throttled twice (503 SlowDown) before it is served: the log says the
    first retry at once and sums up the others in a line (they came one line per request,
    and a throttled run's hundreds a second pushed every other line out of the log). The
    lines count every 503 the server sent, and the run still ends with every file."""
    plan = context.service().plan(ses02())
    for item in plan.items:
        s3.fail_next(item.key, 2, "503")
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 23)) as pilot:
        screen = await start(app, pilot, plan)
        await wait_for(pilot, lambda: screen.phase == "finished", "the run to finish")
        throttled = sum(1 for r in s3.requests if r.status == 503)
        assert throttled == 2 * plan.files, throttled
        said = [text for _, text in screen.query_one("TransferLog").history if "retrying" in text]
        counted = [re.match(r"retrying (\d+) requests? for \d+ files?.*throttled by the server", line)
                   for line in said]
        assert all(counted), said
        assert sum(int(m[1]) for m in counted) == throttled, said
        assert len(said) < throttled / 2, said
