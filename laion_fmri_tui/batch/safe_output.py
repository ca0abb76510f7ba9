"""Output that neither stops a download nor lets text from outside drive the terminal.

Light on purpose (``re`` only): ``--batch`` imports it before the first
listings are sent, unlike :mod:`.output`.
"""

from __future__ import annotations

import re
from typing import TextIO

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` (or ``\\uNNNN``).

    Keys and server messages are not ours: an ESC sequence, an OSC title, a
    carriage return or a newline in them would reach the terminal or the job
    log raw (a key could forge a ``[ 100%]`` line). Bidirectional overrides too."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


class SafeStream:
    """A text stream whose writes never raise: output can never stop a download.

    A closed pipe (``| head -1``), a full disk (``> /dev/full``) or a closed
    descriptor make the first failing write mark the stream ``broken`` (with
    the reason) and every later write a no-op; the download goes on and its
    exit code tells how it went. Characters the stream's encoding lacks are
    written as escapes by the runner's ``reconfigure(errors=...)``; any other
    encoding error counts as broken too."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self.broken: str | None = None if stream is not None else "closed"
        """Why writes stopped; ``closed`` when the descriptor was closed before the
        run (``>&-``: Python then has no ``sys.stdout`` at all)."""

    def write(self, text: str) -> int:
        if self.broken is None:
            try:
                self._stream.write(text)
            except (OSError, ValueError) as error:  # UnicodeEncodeError is a ValueError
                self.broken = getattr(error, "strerror", None) or str(error)
        return len(text)

    def flush(self) -> None:
        if self.broken is None:
            try:
                self._stream.flush()
            except (OSError, ValueError) as error:
                self.broken = getattr(error, "strerror", None) or str(error)

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False
