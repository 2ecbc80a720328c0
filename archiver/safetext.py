"""Text fit for a terminal or a log line: control characters escaped.

Servers (an API's error text, a filename in a bundle, a header) can put escape sequences in
what we print or log. :func:`safe` escapes every control character but tab and newline (ESC
becomes ``\\x1b``), so no such text can move the cursor, retitle or clear the terminal, hide
a line with a carriage return, or read differently through a bidirectional override. The
command line wraps its stdout and stderr in it (``archiver.cli.common.SafeStream``), and the
log files (``archiver.logs``) pass every record through it.
"""

from __future__ import annotations

import re

#: C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides that
#: can make a line read differently from what it says.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object, newlines: bool = True) -> str:
    """``text`` fit for a terminal: every control character escaped (ESC as ``\\x1b``), so
    no text from a server can move the cursor, retitle or clear the terminal, or hide a
    line with a carriage return. ``newlines=False`` escapes newlines too (one-line fields)."""
    out = _UNSAFE.sub(_escape, str(text))
    return out if newlines else out.replace("\n", "\\n")
