"""The data-use form on the real app, against the suite's reference access service."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Static, TextArea

from laion_fmri_tui.core.access.auth import auth_path
from laion_fmri_tui.core.access.client import Grant
from laion_fmri_tui.core.access.errors import (
    AccessRevokedError, AccessServiceError, MalformedResponseError, RateLimitedError, TermsOutdatedError,
)
from laion_fmri_tui.tui.app import LaionFmriApp
from laion_fmri_tui.tui.context import AppContext
from laion_fmri_tui.tui.screens.dua_form import DuaFormScreen
from laion_fmri_tui.tui.screens.dua_states import describe_failure

pytestmark = pytest.mark.anyio

VALID = {"name": "Ada Lovelace", "email": "ada@uni-example.de", "institution": "Uni Example",
         "research_purpose": "Decoding visual cortex responses."}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_form(pilot: Pilot) -> tuple[DuaFormScreen, list[Grant | None]]:
    await settle(pilot)
    results: list[Grant | None] = []
    form = DuaFormScreen()
    await pilot.app.push_screen(form, results.append)  # mounted, so its manifest worker runs
    await settle(pilot)
    return form, results


async def type_into(pilot: Pilot, form: DuaFormScreen, field: str, text: str, *, clear: bool = False) -> None:
    form.query_one(f"#{field}").focus()
    await pilot.pause()
    if clear:
        await pilot.press("home", "ctrl+k")
    await pilot.press("end", *text)


def fill(form: DuaFormScreen, **values: str) -> None:
    """Set fields directly (keyboard typing is covered by the first test; this keeps the rest quick)."""
    for field, value in {**VALID, **values}.items():
        widget = form.query_one(f"#{field}")
        if isinstance(widget, TextArea):
            widget.text = value
        else:
            widget.value = value
    for box in ("accepted_terms", "acknowledged_privacy"):
        form.query_one(f"#{box}", Checkbox).value = True


def error_of(form: DuaFormScreen, field: str) -> str:
    widget = form.query_one(f"#{field}-error", Static)
    return str(widget.render()) if "-shown" in widget.classes else ""


def state_of(form: DuaFormScreen) -> tuple[str, str]:
    return form.state, str(form.query_one("#dua-state", Static).render())


def posts(access) -> list:
    return [r for r in access.requests if r.method == "POST"]


async def test_typed_form_validates_then_is_granted(context: AppContext, access) -> None:
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        form, results = await open_form(pilot)
        assert form.state == "ready"
        assert "2026-05-11" in str(form.query_one("#terms-version", Static).render())
        assert f"{access.url}/terms" in str(form.query_one("#dua-links", Static).render())
        assert app.focused is form.query_one("#name", Input)

        await pilot.press(*"Ada")
        await type_into(pilot, form, "email", "ada@")
        await type_into(pilot, form, "institution", "UCL")
        await type_into(pilot, form, "research_purpose", "fMRI study")
        assert "valid email" in error_of(form, "email")
        assert "more characters needed" in error_of(form, "research_purpose")
        assert error_of(form, "name") == ""

        await pilot.press("ctrl+s")  # everything is checked at once; nothing is sent
        await settle(pilot)
        assert form.state == "invalid"
        assert "accept the Terms" in error_of(form, "accepted_terms")
        assert posts(access) == []

        await type_into(pilot, form, "email", "a@b.de", clear=True)
        await type_into(pilot, form, "research_purpose", " of scenes!")
        assert error_of(form, "email") == error_of(form, "research_purpose") == ""
        for box in ("accepted_terms", "acknowledged_privacy"):
            form.query_one(f"#{box}").focus()
            await pilot.press("space")
        await pilot.press("ctrl+s")
        await settle(pilot)

        assert form.state == "granted", state_of(form)
        saved = json.loads(auth_path().read_text())
        assert saved["email"] == "a@b.de"
        assert saved["request_id"] not in app.export_screenshot()
        await pilot.press("enter")
        await pilot.pause()
        assert len(results) == 1 and isinstance(results[0], Grant)
        assert not isinstance(app.screen, DuaFormScreen)


async def test_new_terms_before_submit_are_shown_and_must_be_ticked_again(context: AppContext, access) -> None:
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        form, results = await open_form(pilot)
        fill(form)
        access.bump_terms("2026-06-01")
        await pilot.press("ctrl+s")
        await settle(pilot)
        state, text = state_of(form)
        assert state == "terms-changed" and "2026-06-01" in text
        assert "2026-06-01" in str(form.query_one("#terms-version", Static).render())
        assert not form.query_one("#accepted_terms", Checkbox).value
        assert posts(access) == [] and not auth_path().exists()

        form.query_one("#accepted_terms", Checkbox).value = True
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert form.state == "granted"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(results[0], Grant)


async def test_rate_limited_then_retry(context: AppContext, access) -> None:
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        form, results = await open_form(pilot)
        fill(form)
        access.rate_limit(10, retry_after=1)  # outlasts the client's own retries
        await pilot.press("ctrl+s")
        await settle(pilot)
        state, text = state_of(form)
        assert state == "rate-limited" and "rate limiting" in text
        assert not auth_path().exists()
        assert results == []


async def test_server_side_field_errors_show_on_the_fields(context: AppContext, access) -> None:
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        form, _ = await open_form(pilot)
        fill(form, email="ada@uni-example.d")  # fine locally; the service wants a 2-letter TLD
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert form.state == "rejected"
        assert "valid email" in error_of(form, "email")
        assert not auth_path().exists()


@pytest.fixture
def captive_portal() -> Iterator[str]:
    """A proxy login page on 127.0.0.1 that answers every path with HTML."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>please log in to the hotel wifi</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_captive_portal_reads_as_unreachable(context: AppContext, captive_portal: str) -> None:
    context.access_url = captive_portal
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        form, results = await open_form(pilot)
        state, text = state_of(form)
        assert state == "unreachable" and "unreachable" in text
        fill(form)
        await pilot.press("ctrl+s")  # no terms shown yet: it reloads them instead of sending
        await settle(pilot)
        assert form.state == "unreachable"
        assert not auth_path().exists()


async def test_escape_closes_an_empty_form_but_asks_when_typed(context: AppContext) -> None:
    app = LaionFmriApp(context)
    async with app.run_test(size=(80, 24)) as pilot:
        form, results = await open_form(pilot)
        await pilot.press("x", "escape")
        await pilot.pause()
        assert form.is_attached and type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press("escape")  # "keep editing"
        await pilot.pause()
        assert app.screen is form and results == []
        await pilot.press("backspace", "escape")
        await pilot.pause()
        assert results == [None]


@pytest.mark.parametrize(("error", "state", "words"), [
    (TermsOutdatedError("https://svc.example/terms/accept", "2026-07-01"), "terms-changed",
     ("2026-07-01", "https://svc.example/terms/accept")),
    (AccessRevokedError("Access for this request_id has been revoked."), "revoked", ("revoked", "maintainers")),
    (RateLimitedError(None), "rate-limited", ("a minute",)),
    (MalformedResponseError("not JSON"), "unreachable", ("unreachable",)),
    (AccessServiceError("HTTP 500: boom"), "error", ("HTTP 500",)),
    (RuntimeError("bug"), "error", ("RuntimeError", "retry")),
])
def test_every_failure_has_its_own_state_line(error: BaseException, state: str, words: tuple[str, ...]) -> None:
    got_state, text = describe_failure(error)
    assert got_state == state
    assert all(word in text for word in words)
