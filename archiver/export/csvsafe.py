"""CSV for spreadsheets: RFC 4180, UTF-8 with BOM, and formula injection neutralised.

The rule (OWASP, "CSV Injection"): a cell whose first character is ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is prefixed with a single quote ``'`` — unless the whole
cell is a plain number (``-12``, ``+3.5``), which spreadsheets read as a number, not a
formula. ``records.jsonl`` keeps the exact strings; undo the rule by removing the leading
quote from cells that start with ``'`` followed by one of those characters.
"""

from __future__ import annotations

import re

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def escape_cell(value: str) -> str:
    if value.startswith(_TRIGGERS) and not _NUMBER.match(value):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    if (
        value.startswith("'")
        and value[1:2] in _TRIGGERS
        and value[1:2] != ""
        and not _NUMBER.match(value[1:])
    ):
        return value[1:]
    return value
