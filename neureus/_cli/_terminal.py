"""Text from the model or the server, made safe to write to a terminal.

A reply or an error text is untrusted: an escape sequence in it is obeyed by the terminal.
OSC 52 writes the user's clipboard, OSC 8 hides a link behind innocent text, CSI moves the
cursor and rewrites what was already shown, and a lone carriage return or backspace
overwrites a line. What the command line writes to a terminal therefore loses every escape
sequence (CSI, OSC, DCS, SOS, PM, APC, and two-byte escapes, in their 7-bit and 8-bit
forms) and every other control character except newline and tab. What goes to a pipe or
a file is left byte for byte as the model sent it (``--json`` output escapes control
characters anyway).

A streamed reply arrives in pieces, and a sequence may be cut between two of them; the
:class:`EscapeFilter` holds back a possibly unfinished sequence at the end of a piece
until the next one shows what it is. Any single piece is safe on its own as well: every
ESC, C1 and C0 control character is removed wherever it stands, so no sequence can be
assembled across pieces.
"""

from __future__ import annotations

import re
from typing import Final, TextIO

__all__ = ["EscapeFilter", "is_terminal", "strip_escapes"]

# A string-type sequence (OSC, DCS, SOS, PM, APC) runs to BEL or ST (ESC \ or 0x9c).
_STRING_START = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])"
_SEQUENCE: Final = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: parameters, intermediates, one final byte
    rf"|{_STRING_START}.*?(?:\x07|\x1b\\|\x9c)"  # OSC 52, OSC 8, DCS, ...: up to the terminator
    r"|\x1b[ -/]*[0-~]"  # any other escape: ESC, intermediates, one final byte
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]",  # any other control character but \t and \n
    re.DOTALL,
)
# What may still become a sequence when the next piece arrives.
_UNFINISHED: Final = re.compile(
    rf"(?:\x1b|(?:\x1b\[|\x9b)[0-?]*[ -/]*|{_STRING_START}.*|\x1b[ -/]+)\Z",
    re.DOTALL,
)
MAX_HELD: Final = 4096
"""Characters held back at most while waiting for the end of an unfinished sequence."""


def strip_escapes(text: str) -> str:
    """``text`` without escape sequences and control characters (newline and tab are kept).

    >>> strip_escapes("ok\\x1b]52;c;ZXZpbA==\\x07 \\x1b[31mred\\x1b[0m\\r\\n")
    'ok red\\n'
    """
    return _SEQUENCE.sub("", text)


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal (where escape sequences would be obeyed)."""
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream
        return False


class EscapeFilter:
    """Strip escape sequences from a text that arrives in pieces (a streamed reply)."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """What of ``piece`` (and what was held back) can be shown now, stripped."""
        text = self._held + piece
        self._held = ""
        unfinished = _UNFINISHED.search(text)
        # One never finished within MAX_HELD is not held: strip_escapes drops its
        # introducer below and the rest shows as plain text.
        if unfinished is not None and len(text) - unfinished.start() <= MAX_HELD:
            self._held = text[unfinished.start() :]
            text = text[: unfinished.start()]
        return strip_escapes(text)

    def flush(self) -> str:
        """The end of the text: what was held back, without its (never finished) introducer."""
        held, self._held = self._held, ""
        return strip_escapes(held)
