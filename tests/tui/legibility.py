"""Read an SVG screenshot (Textual's export, as the snapshots store it) back into cells and
find text drawn in the colour of its own background.

Rich's ``export_svg`` writes one ``<rect fill=...>`` per segment with a background and one
``<text class=...>`` per segment with visible characters, the class naming a CSS rule
whose ``fill`` is the text colour (already blended for dim text). Both sit on a grid of
``char_width`` x ``line_height`` cells, so each character's foreground and background are
found by position. Borders and bars (box drawing, block elements) are decoration,
not text, and are not checked. Colours are compared as the SVG has them (truecolor) and as a
256-colour terminal shows them (Rich's downgrade to the xterm palette): two shades that
differ in truecolor can be the same palette entry over ssh without COLORTERM.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from rich.color import Color, ColorSystem

CHAR_HEIGHT = 20
CHAR_WIDTH = CHAR_HEIGHT * 0.61
"""Rich's cell width (its default font aspect ratio, which Textual's export keeps)."""
LINE_HEIGHT = CHAR_HEIGHT * 1.22
_RULE = re.compile(r"\.(terminal-[\w-]+-r\d+)\s*\{([^}]*)\}")
_RECT = re.compile(r'<rect fill="(#[0-9a-fA-F]{6})" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                   r'height="[\d.]+" shape-rendering="crispEdges"/>')
_TEXT = re.compile(r'<text class="(terminal-[\w-]+-r\d+)" x="([\d.]+)" y="([\d.]+)" '
                   r'textLength="[\d.]+" clip-path="[^"]*">([^<]*)</text>')
_FILL = re.compile(r"fill:\s*(#[0-9a-fA-F]{6})")


@dataclass(frozen=True)
class Clash:
    """Characters on one row drawn in their background's colour."""

    row: int
    column: int
    text: str
    colour: str
    system: str
    """``truecolor`` or ``256``: where the two colours are the same."""

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.text!r} in {self.colour} on the same ({self.system})"


def _decoration(char: str) -> bool:
    """Box drawing and block elements (U+2500-U+259F): borders and bars, not text; a
    button's half-block edge may well match the colour around it."""
    return char == " " or "\u2500" <= char <= "\u259f"


def _palette(hex_colour: str) -> int | str:
    """The colour as a 256-colour terminal draws it."""
    colour = Color.parse(hex_colour).downgrade(ColorSystem.EIGHT_BIT)
    return colour.number if colour.number is not None else hex_colour


def clashes(svg: str) -> list[Clash]:
    """Every run of visible characters whose colour equals its background's."""
    fills = {}
    for name, body in _RULE.findall(svg):
        match = _FILL.search(body)
        if match:
            fills[name] = match.group(1).lower()
    width = CHAR_WIDTH
    background: dict[tuple[int, int], str] = {}
    for fill, x, y, w in _RECT.findall(svg):
        row = round((float(y) - 1.5) / LINE_HEIGHT)
        first = round(float(x) / width)
        for column in range(first, first + round(float(w) / width)):
            background[(row, column)] = fill.lower()
    found: list[Clash] = []
    for name, x, y, raw in _TEXT.findall(svg):
        text = html.unescape(raw).replace("\xa0", " ")
        colour = fills.get(name)
        if colour is None:
            continue
        row = round((float(y) - CHAR_HEIGHT) / LINE_HEIGHT)
        first = round(float(x) / width)
        run: list[str] = []
        system = ""
        for offset, char in enumerate(text):
            bg = background.get((row, first + offset))
            same = "" if _decoration(char) or bg is None else (
                "truecolor" if bg == colour else "256" if _palette(bg) == _palette(colour) else "")
            if same:
                run.append(char)
                system = system or same
            elif run:
                found.append(Clash(row, first + offset - len(run), "".join(run), colour, system))
                run, system = [], ""
        if run:
            found.append(Clash(row, first + len(text) - len(run), "".join(run), colour, system))
    return found
