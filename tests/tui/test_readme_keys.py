"""Every key and glyph the README's app section names is one the app has.

The README said checkboxes show ``X`` where the tree draws ``[x]``; the keys
it lists must be bound somewhere in the key registry (tui/commands.py, which
every screen builds its bindings from), and the form's tick glyph must be the
one the README names. The tree's marks are checked in a real terminal by
tests/tui/test_terminal_readable.py, against the README's own sentence.
"""

from __future__ import annotations

import re
from pathlib import Path

from laion_fmri_tui.tui import commands
from laion_fmri_tui.tui.widgets.tick_box import TICKED

README = Path(__file__).resolve().parents[2] / "README.md"
SPELLED = {"/": "slash", "?": "question_mark"}
"""How the README writes a key -> Textual's name for it."""
KEY = re.compile(r"^(?:ctrl\+[a-z]|[a-z/?]|enter|escape|space|right|left|up|down)$")
TEXTUAL_OWN = {"ctrl+p"}
"""Bound by Textual itself: the command palette."""


def app_section() -> str:
    text = README.read_text()
    return text[text.index("## The app"):text.index("## Headless downloads")]


def key_table_keys() -> set[str]:
    keys: set[str] = set()
    for line in app_section().splitlines():
        if line.startswith("| ") and not line.startswith(("| key", "| ---", "| |", "| !")):
            keys |= {SPELLED.get(k, k) for k in re.findall(r"`([^`]+)`", line) if KEY.match(k)}
    return keys


def test_every_key_the_readme_names_is_bound_in_the_registry():
    bound = {k.strip() for c in (*commands.COMMANDS, *commands.SCREEN_KEYS) for k in c.key.split(",")}
    named = key_table_keys()
    assert {"space", "slash", "d", "enter", "escape", "y", "n", "c", "w", "ctrl+o", "ctrl+s"} <= named, named
    assert not named - bound - TEXTUAL_OWN, f"the README names keys the app does not bind: {named - bound}"


def test_the_form_checkbox_glyph_is_the_readmes():
    flat = " ".join(app_section().split())
    found = re.search(r"checkbox shows `([^`]+)` when ticked", flat)
    assert found and found.group(1) == TICKED, found
