"""The command palette (ctrl+p) offers every action of the key registry.

It lists what the focused screen can do right now (its bindings, the app's,
and the registry's labels and help), so a user who forgot a key finds the
action by name.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from laion_fmri_tui.tui.commands import COMMANDS


class ActionsProvider(Provider):
    """Commands of the registry that the current screen (or the app) can run."""

    def _available(self) -> list[tuple[str, str, object]]:
        screen = self.screen
        found = []
        for command in COMMANDS:
            for target in (screen, screen.focused, self.app):
                if target is not None and hasattr(target, f"action_{command.action}"):
                    found.append((f"{command.label} ({command.key.replace('_', ' ')})", command.help,
                                  partial(target.run_action, command.action)))
                    break
        return found

    async def discover(self) -> Hits:
        for name, help_text, run in self._available():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in self._available():
            score = matcher.match(f"{name} {help_text}")
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
