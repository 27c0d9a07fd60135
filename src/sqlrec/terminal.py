"""Text from the data made safe to print: control characters shown as escapes, never sent to the terminal.

A title holding ESC [2J clears the screen, ESC ]0;...BEL sets the window's title, U+202E reverses what follows.
Tables and messages print such characters as `\\x1b`, `\\u202e`; JSON and CSV output stay exact.
"""

from __future__ import annotations

import re

# C0 controls and DEL, C1 controls, and the bidirectional overrides and isolates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_EXCEPT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xff else f"\\u{code:04x}"


def printable(text: str) -> str:
    """One cell of a table: every control character escaped (a newline or tab too, which would break the rows)."""
    return _CONTROL.sub(_escape, text)


def printable_lines(text: str) -> str:
    """A message of one or more lines: control characters escaped, newlines kept."""
    return _CONTROL_EXCEPT_NEWLINE.sub(_escape, text)
