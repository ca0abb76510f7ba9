"""The data-use agreement for the stimulus images, as a modal form.

Every service call (manifest, submit) runs in a thread worker; outcomes come
back through ``Worker.StateChanged`` and become one state line (``-loading``,
``-submitting``, ``-granted``, ``-rate-limited``, ...). Ticking "I accept"
means accepting the terms version *shown*, so before submitting the worker
checks that it is still current; if not, nothing is sent, the new version is
shown and the box is unticked. The request id is never displayed.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static
from textual.worker import Worker, WorkerState

from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.core.access.auth import auth_path
from laion_fmri_tui.core.access.client import Grant
from laion_fmri_tui.core.access.errors import FormInvalidError, FormRejectedError, TermsOutdatedError
from laion_fmri_tui.core.access.form import AccessForm
from laion_fmri_tui.core.errors import LaionFmriError
from laion_fmri_tui.tui.screens.confirm import ConfirmScreen
from laion_fmri_tui.tui.screens.data_dir import shown
from laion_fmri_tui.tui.screens.dua_states import describe_failure
from laion_fmri_tui.tui.widgets.dua_fields import PAGES, DuaFields
from laion_fmri_tui.tui.widgets.footer import Footer

GRANTED_PAUSE = 4.0
"""Seconds the "granted" line stays before the form closes by itself (Enter closes at once)."""


@dataclass(frozen=True)
class TermsChanged:
    """The submit worker found newer terms than the ones shown; nothing was sent."""

    version: str


class DuaFormScreen(ModalScreen[Grant | None]):
    """Fill in and submit the agreement; dismiss with the Grant, or None."""

    BINDINGS = bindings("dua-submit", "dua-cancel")
    AUTO_FOCUS = ""  # auto-focus would centre the first field and scroll the intro away
    state: var[str] = var("loading")
    """``loading``, ``ready``, ``invalid``, ``submitting``, ``granted`` or a failure kind."""

    def __init__(self) -> None:
        super().__init__()
        self._terms_version: str | None = None
        self._grant: Grant | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dua", classes="form-dialog") as dialog:
            dialog.border_title = "Stimulus images: data-use agreement"
            yield Static("Terms of Use: loading the current version…", id="terms-version")
            yield DuaFields(id="dua-body")
            yield Static("", id="dua-state", classes="state-line")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Submit", id="submit", variant="primary")
        yield Footer()

    @property
    def fields(self) -> DuaFields:
        return self.query_one(DuaFields)

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus(scroll_visible=False)  # keep the intro in view
        self.watch_state(self.state)
        self._set_state("loading", "Loading the current terms from the access service…")
        self._load_manifest()

    # state line --------------------------------------------------------------
    def watch_state(self, state: str) -> None:
        line = self.query_one("#dua-state", Static)
        line.set_classes(f"state-line -{state}")

    def _set_state(self, state: str, text: str) -> None:
        self.state = state
        self.query_one("#dua-state", Static).update(text)
        self.query_one("#submit", Button).disabled = state in ("loading", "submitting")

    # terms -------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="dua-manifest", exit_on_error=False,
          name="dua-manifest", description="Load the current terms version")
    def _load_manifest(self) -> tuple[str, dict[str, str]] | LaionFmriError:
        try:  # a bad --access-url fails here already, as a UsageError
            access = self.app.context.service().access  # type: ignore[attr-defined]
            links = {page: access.page_url(page) for page, _ in PAGES}
            return access.manifest().current_terms_version, links
        except LaionFmriError as error:
            return error

    def _show_terms(self, version: str, links: dict[str, str] | None = None) -> None:
        self._terms_version = version
        self.query_one("#terms-version", Static).update(f"Terms of Use version {version}")
        self.fields.show_terms(version, links)

    def _terms_changed(self, version: str, text: str | None = None) -> None:
        """New terms: show them and untick acceptance (it was for the old version)."""
        self._show_terms(version)
        self.fields.untick_terms()
        self._set_state("terms-changed", text or (
            f"The Terms of Use changed (now version {version}). Nothing was sent: read them "
            "again, tick the box again, then Submit."))

    # submit / cancel ---------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.action_submit()
        elif event.button.id == "cancel":
            self.dismiss(self._grant)  # None unless access was granted already

    def action_submit(self) -> None:
        if self.state == "granted":
            self._finish()
            return
        if self.state in ("loading", "submitting"):
            return
        form = self.fields.form()
        problems = form.validate()
        self.fields.show_all(problems)
        if problems:
            count = len(problems)
            self._set_state("invalid", f"Fix the {count} field{'s' if count > 1 else ''} marked ✗ first.")
            self.query_one(f"#{next(iter(problems))}").focus()
            return
        if self._terms_version is None:  # the first load failed: show the terms before sending
            self._set_state("loading", "Loading the current terms from the access service…")
            self._load_manifest()
            return
        self._set_state("submitting", "Submitting the form to the access service…")
        self._submit(form, self._terms_version)

    @work(thread=True, exclusive=True, group="dua-submit", exit_on_error=False,
          name="dua-submit", description="Submit the data-use agreement")
    def _submit(self, form: AccessForm, shown_version: str | None) -> Grant | TermsChanged | LaionFmriError:
        service = self.app.context.service()  # type: ignore[attr-defined]
        try:
            current = service.access.manifest().current_terms_version
            if current != shown_version:
                return TermsChanged(current)
            return service.request_access(form)
        except LaionFmriError as error:  # an answer to show, not a crash: the worker succeeds
            return error

    def action_cancel(self) -> None:
        """Escape closes at once only when nothing would be lost."""
        if self.fields.is_blank() or self.state == "granted":
            self.dismiss(self._grant)
            return
        self.app.push_screen(ConfirmScreen("Discard the data-use form?", yes="Discard", no="Keep editing"),
                             lambda yes: self.dismiss(None) if yes else None)

    def _granted(self, grant: Grant) -> None:
        self._grant = grant
        self._set_state("granted", f"✓ Access granted. Your request id is saved in {shown(auth_path())}. "
                                   "Press Enter to continue.")
        submit = self.query_one("#submit", Button)
        submit.label = "Continue"
        submit.focus()
        self.set_timer(GRANTED_PAUSE, self._finish)

    def _finish(self) -> None:
        if self._grant is not None and self.is_active:
            self.dismiss(self._grant)

    # worker outcomes ---------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if worker.name not in ("dua-manifest", "dua-submit") or state not in (WorkerState.SUCCESS,
                                                                                WorkerState.ERROR):
            return
        result = worker.result
        error = result if isinstance(result, LaionFmriError) else worker.error
        if isinstance(result, tuple):
            previous = self._terms_version
            self._show_terms(*result)
            if previous not in (None, result[0]):
                self._terms_changed(result[0])
            else:
                self._set_state("ready", "Fill in every field, tick both boxes, then Submit (ctrl+s).")
        elif isinstance(result, TermsChanged):
            self._terms_changed(result.version)
        elif isinstance(result, Grant):
            self._granted(result)
        elif isinstance(error, TermsOutdatedError):
            self._terms_changed(error.terms_version, describe_failure(error)[1])
        elif isinstance(error, FormRejectedError) and "terms_version" in error.field_errors:
            self._set_state("loading", "The Terms of Use changed; loading the new version…")
            self._load_manifest()
        else:
            if isinstance(error, (FormRejectedError, FormInvalidError)):
                for name, problem in error.field_errors.items():
                    self.fields.show_error(name, problem)
            self._set_state(*describe_failure(error))
