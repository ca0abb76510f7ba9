"""Textual's footer, rebuilt only when the keys it shows change.

Textual's own ``Footer`` unmounts and mounts a widget per key on every
bindings signal: each focus change and each change of a ``var`` declared
with ``bindings=True``. Most of those leave the keys as they were. On the
transfer dashboard that was six rebuilds per run (about 30 ms of CPU each
on a busy two-core node), taken from the download it shows.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """Skips a rebuild that would show the same keys in the same states."""

    _shown: Hashable | None = None

    def _keys(self) -> Hashable | None:
        """Everything the footer's compose reads, or None before the bindings are known."""
        if not self._bindings_ready or not self.is_attached:
            return None
        bindings = tuple((binding.key, binding.action, binding.description, binding.show, binding.group,
                          enabled, tooltip)
                         for _, binding, enabled, tooltip in self.screen.active_bindings.values())
        return self.compact, self.show_command_palette, bindings

    def compose(self) -> ComposeResult:
        self._shown = self._keys()
        yield from super().compose()

    async def recompose(self) -> None:
        if self._shown is not None and self._keys() == self._shown:
            return
        await super().recompose()
