"""CSV for spreadsheets: formulas neutralised and numbers a spreadsheet would change kept
as text, by one reversible rule.

The rule (OWASP, "CSV Injection", plus the text rule for phone numbers), applied to every
cell, header cells included: a cell is prefixed with a single quote ``'`` when

- its first character is ``=``, ``-``, ``@``, a tab or a carriage return — unless the whole
  cell is a plain number (``-12``, ``3.5``, ``1e5``), which spreadsheets read as a number,
  not a formula;
- its first character is ``+`` (a formula, or a phone number such as ``+4930123456``, whose
  ``+`` a spreadsheet drops: the number is kept as text);
- it is digits with a leading zero (``0301234567``, ``007``: a spreadsheet would drop the
  zero; ``0`` and ``0.5`` stay as they are);
- it already starts with ``'``, so that the rule can be undone exactly.

To undo it (:func:`unescape_cell`): remove one leading ``'`` from a cell that starts with
one; leave every other cell as it is. ``unescape_cell(escape_cell(v)) == v`` for every
string, and ``escape_cell`` is one-to-one, so comparing escaped text is exact.

Bundles made before the text rule (archiver 0.1.0) left ``+4930123456`` and ``0301…`` as
they were; :func:`matches` accepts a cell escaped by either rule (both undo the same way).
"""

from __future__ import annotations

import re

QUOTE = "'"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_LEADING_ZERO = re.compile(r"0\d+", re.ASCII)
#: the choices of ``export-dataset --csv-formulas``
MODES = ("escape", "raw")


def _formula(value: str) -> bool:
    """The OWASP part (the whole rule of archiver 0.1.0, quotes aside)."""
    return value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value)


def needs_escape(value: str) -> bool:
    return (
        value.startswith((QUOTE, "+"))
        or _formula(value)
        or _LEADING_ZERO.fullmatch(value) is not None
    )


def escape_cell(value: str) -> str:
    return QUOTE + value if needs_escape(value) else value


def unescape_cell(value: str) -> str:
    return value[1:] if value.startswith(QUOTE) else value


def escape_row(values: list[str]) -> list[str]:
    return [escape_cell(v) for v in values]


def _escape_0_1(value: str) -> str:
    """archiver 0.1.0's rule: formulas and leading quotes only."""
    return QUOTE + value if value.startswith(QUOTE) or _formula(value) else value


def matches(cell: str, value: str) -> bool:
    """Is ``cell`` exactly ``value`` escaped, by this rule or by archiver 0.1.0's?"""
    return cell == escape_cell(value) or cell == _escape_0_1(value)
