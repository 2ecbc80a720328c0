"""CSV for spreadsheets: formula injection neutralised by one reversible rule.

The rule (OWASP, "CSV Injection"), applied to every cell, header cells included:

- a cell whose first character is ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
  prefixed with a single quote ``'`` — unless the whole cell is a plain number (``-12``,
  ``+3.5``, ``1e5``), which spreadsheets read as a number, not a formula;
- a cell that already starts with ``'`` is prefixed with one more ``'``, so that the rule
  can be undone exactly.

To undo it (:func:`unescape_cell`): remove one leading ``'`` from a cell that starts with
one; leave every other cell as it is. ``unescape_cell(escape_cell(v)) == v`` for every
string, and ``escape_cell`` is one-to-one, so comparing escaped text is exact.
"""

from __future__ import annotations

import re

QUOTE = "'"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
#: the choices of ``export-dataset --csv-formulas``
MODES = ("escape", "raw")


def needs_escape(value: str) -> bool:
    return value.startswith(QUOTE) or (value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value))


def escape_cell(value: str) -> str:
    return QUOTE + value if needs_escape(value) else value


def unescape_cell(value: str) -> str:
    return value[1:] if value.startswith(QUOTE) else value


def escape_row(values: list[str]) -> list[str]:
    return [escape_cell(v) for v in values]
