"""A yes/no question as a modal: the contract every confirm dialog of the app keeps.

``y`` or ``enter`` confirms, ``n`` or ``escape`` declines (never destructive),
and the dialog says so: each button carries its key, and the footer lists
them. The buttons take no focus, so ``enter`` always means the confirming
answer whatever was last clicked; with ``--mouse`` they can still be clicked.
The confirming button's look is Textual's own ``error`` (or ``primary``)
variant; the app's stylesheet must not restyle it (``styles/app.tcss`` scopes
its ``-error`` colour to text widgets, see the legibility test).
"""

from __future__ import annotations

import dataclasses

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from laion_fmri_tui.tui.commands import bindings
from laion_fmri_tui.tui.widgets.footer import Footer

YES_KEYS = ("y", "enter")
NO_KEYS = ("n", "escape")


def key_hint(keys: tuple[str, ...]) -> str:
    """``("y", "enter")`` -> ``y/enter``: how a button names its keys."""
    return "/".join("esc" if k == "escape" else k for k in keys)


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses True when confirmed, False when declined."""

    BINDINGS = bindings("confirm-yes", "confirm-yes-enter", "confirm-no", "confirm-no-escape")

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No", destructive: bool = True) -> None:
        """``destructive`` (the default) draws the confirming button in the error colour."""
        super().__init__()
        self._question, self._yes, self._no = question, yes, no
        self._variant = "error" if destructive else "primary"
        # The footer names y and n by this dialog's answers ("y Quit  n Keep going").
        self._bindings = self._bindings.copy()
        for action, label in (("yes", yes), ("no", no)):
            [binding] = bindings(f"confirm-{action}")
            self._bindings.key_to_bindings[binding.key] = [dataclasses.replace(binding, description=label)]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self._question, classes="question")
            with Horizontal(classes="buttons"):
                yield _button(f"{self._no} ({key_hint(NO_KEYS)})", "no", "default")
                yield _button(f"{self._yes} ({key_hint(YES_KEYS)})", "yes", self._variant)
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


def _button(label: str, button_id: str, variant: str) -> Button:
    button = Button(label, id=button_id, variant=variant)  # type: ignore[arg-type]
    button.can_focus = False
    return button
