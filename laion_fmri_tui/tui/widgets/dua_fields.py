"""The data-use form's fields, each with its help line and its own error line.

Labels, help and rules all come from ``core.access.form`` so the app and
``--batch`` word and judge them alike. A field's message appears once the
user has typed in it (not on an untouched, empty form) and then follows
every keystroke; the screen asks for all of them at once on submit.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Input, Label, Static, TextArea

from laion_fmri_tui.core.access.form import FIELD_HELP, FIELD_LABELS, AccessForm, validate_field
from laion_fmri_tui.tui.widgets.tick_box import TickBox

TEXT_FIELDS = ("name", "email", "institution", "pi_or_supervisor")
CHECKBOXES = ("accepted_terms", "acknowledged_privacy")
FIELDS = (*TEXT_FIELDS, "research_purpose", *CHECKBOXES)
PAGES = (("terms", "Terms of Use"), ("privacy", "Privacy notice"), ("takedown", "Takedown policy"))
INTRO = ("The stimulus images come under a Data Use Agreement. Approval is automatic; the "
         "request id you receive is kept privately in auth.json for the download.")


class DuaFields(VerticalScroll, can_focus=False):
    """Scrolling body of the form; not focusable itself, so Tab goes field to field."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._touched: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Static(INTRO, classes="form-text")
        for name in TEXT_FIELDS:
            yield from self._field(name, Input(id=name))
        yield from self._field("research_purpose", TextArea(id="research_purpose"))
        yield Static("", id="dua-links", classes="form-text")
        for name in CHECKBOXES:
            yield TickBox(FIELD_LABELS[name], id=name)
            yield Static(FIELD_HELP[name], classes="field-help")
            yield Static("", id=f"{name}-error", classes="field-error")

    @staticmethod
    def _field(name: str, widget: Input | TextArea) -> ComposeResult:
        yield Label(FIELD_LABELS[name], classes="field-label")
        yield Static(FIELD_HELP[name], classes="field-help")
        yield widget
        yield Static("", id=f"{name}-error", classes="field-error")

    def form(self) -> AccessForm:
        """What is typed and ticked right now."""
        return AccessForm(
            **{name: self.query_one(f"#{name}", Input).value for name in TEXT_FIELDS},
            research_purpose=self.query_one("#research_purpose", TextArea).text,
            **{name: self.query_one(f"#{name}", Checkbox).value for name in CHECKBOXES})

    def is_blank(self) -> bool:
        form = self.form()
        return not any(getattr(form, name) for name in FIELDS)

    def show_error(self, name: str, problem: str | None) -> None:
        """Mark one field; unknown names (e.g. a server's ``form``) are ignored."""
        found = self.query(f"#{name}-error")
        if found:
            line = found.first(Static)
            line.update(f"✗ {problem}" if problem else "")
            line.set_class(bool(problem), "-shown")

    def show_all(self, problems: dict[str, str]) -> None:
        """Every field's message at once (submit), clearing the fixed ones."""
        self._touched.update(FIELDS)
        for name in FIELDS:
            self.show_error(name, problems.get(name))

    def show_terms(self, version: str, links: dict[str, str] | None) -> None:
        """Bind the acceptance box to this terms version and list the pages to read."""
        self.query_one("#accepted_terms", Checkbox).label = f"{FIELD_LABELS['accepted_terms']} (v{version})"
        if links:
            width = max(len(title) for _, title in PAGES)
            lines = [f"{title:<{width}}  {links[page]}" for page, title in PAGES if page in links]
            self.query_one("#dua-links", Static).update("Read before ticking the boxes:\n" + "\n".join(lines))

    def untick_terms(self) -> None:
        self.query_one("#accepted_terms", Checkbox).value = False

    def _check(self, name: str, value: object) -> None:
        if name not in self._touched and value in ("", False):
            return
        self._touched.add(name)
        self.show_error(name, validate_field(name, value))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id in TEXT_FIELDS:
            self._check(event.input.id, event.value)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self._check("research_purpose", event.text_area.text)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        if event.checkbox.id in CHECKBOXES:
            self._check(event.checkbox.id, event.value)
