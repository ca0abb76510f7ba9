"""Output that neither stops a download nor lets text from outside drive the terminal.

Light on purpose (``os`` and ``re`` only): ``--batch`` imports it before the first
listings are sent, unlike :mod:`.output`.
"""

from __future__ import annotations

import os
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
        self.dropped = False
        """Some text was not written: a stream closed from the start that nothing
        was written to (a usage error) lost nothing, and says nothing."""

    def write(self, text: str) -> int:
        if self.broken is None:
            try:
                fd = self._fd()
                if fd is None:
                    self._stream.write(text)
                else:
                    self._write_all(fd, text)
            except (OSError, ValueError) as error:  # UnicodeEncodeError is a ValueError
                self.broken = getattr(error, "strerror", None) or str(error)
        if self.broken is not None and text:
            self.dropped = True
        return len(text)

    def _fd(self) -> int | None:
        """The descriptor under a real file's stream (None for an in-memory one)."""
        try:
            return self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
            return None

    def _write_all(self, fd: int, text: str) -> None:
        """Every byte of ``text`` written, or OSError.

        Not through Python's buffered stream: a write that the pipe took only
        in part as its reader left (``--dry-run --json | head -c 10``: 64 KiB
        of a 359 KiB line) counted as written there, the rest was dropped
        with no error, and the run ended 0 with its plan cut short. Here the
        rest is written again and fails (EPIPE), so the stream breaks and the
        exit code says so. The stream is flushed first, for the order of
        anything written to it directly."""
        self._stream.flush()
        data = memoryview(text.encode(self._stream.encoding or "utf-8", self._stream.errors or "strict"))
        while data:
            data = data[os.write(fd, data):]

    def flush(self) -> None:
        if self.broken is None:
            try:
                self._stream.flush()
            except (OSError, ValueError) as error:
                self.broken = getattr(error, "strerror", None) or str(error)
                self.dropped = True

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False
