"""Textual's footer, rebuilt only when the keys it shows change.

Textual's own ``Footer`` unmounts and mounts a widget per key on every
bindings signal: each focus change and each change of a ``var`` declared
with ``bindings=True``. Most of those leave the keys as they were. On the
transfer dashboard that was six rebuilds per run (about 30 ms of CPU each
on a busy two-core node), taken from the download it shows.

Only public parts of Textual are used: the signal's callback
(``bindings_changed``), the screen's ``active_bindings`` and the footer's
own ``compose``. ``tests/tui/test_keys_and_help.py`` checks both halves
(a signal with the same keys keeps the footer's widgets, one with other
keys shows them), so a Textual upgrade that changes either fails there.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """Skips a rebuild that would show the same keys in the same states."""

    _shown: Hashable | None = None
    """The keys the footer's widgets show now; None before it showed any."""

    def _keys(self) -> Hashable:
        """Everything the footer's compose reads."""
        bindings = tuple((binding.key, binding.action, binding.description, binding.show, binding.group,
                          enabled, tooltip)
                         for _, binding, enabled, tooltip in self.screen.active_bindings.values())
        return self.compact, self.show_command_palette, bindings

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        # Nothing composed: Textual has not announced the bindings yet.
        self._shown = self._keys() if widgets and self.is_attached else None
        yield from widgets

    def bindings_changed(self, screen: Screen) -> None:
        if self._shown is not None and screen is self.screen and self._keys() == self._shown:
            return
        super().bindings_changed(screen)
