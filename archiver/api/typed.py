"""Typed views of string records, and schema drift between pages.

The API returns every value as a string; the archive keeps those strings untouched. These
helpers are for display and analysis only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_INT = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def cast_value(value: str, typ: str) -> Any:
    """One API string as a Python value by its declared type.

    number → int or Decimal (never a lossy float); datetime → aware datetime (naive ISO
    values are UTC) or a date for YYYY-MM-DD; boolean → bool; empty string → None for
    typed columns. A value that does not parse as its type is returned unchanged.
    """
    if typ == "string":
        return value
    if value == "":
        return None
    try:
        if typ == "number":
            if _INT.match(value):
                return int(value)
            return Decimal(value)
        if typ == "datetime":
            if _DATE.match(value):
                return date.fromisoformat(value)
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        if typ == "boolean":
            low = value.lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0"):
                return False
    except (ValueError, InvalidOperation):
        return value
    return value


def typed_record(columns: list[dict[str, str]], record: list[str]) -> dict[str, Any]:
    """A record as {column: typed value}; ``record`` itself is not modified."""
    return {
        c["name"]: cast_value(v, c.get("type", "string"))
        for c, v in zip(columns, record, strict=True)
    }


@dataclass(frozen=True)
class SchemaChange:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    retyped: tuple[tuple[str, str, str], ...]  # (column, old type, new type)
    reordered: bool

    def describe(self) -> str:
        parts = []
        if self.added:
            parts.append("added " + ", ".join(self.added))
        if self.removed:
            parts.append("removed " + ", ".join(self.removed))
        if self.retyped:
            parts.append("retyped " + ", ".join(f"{c} {a}→{b}" for c, a, b in self.retyped))
        if self.reordered and not parts:
            parts.append("columns reordered")
        return "; ".join(parts)


def schema_diff(old: list[dict[str, str]], new: list[dict[str, str]]) -> SchemaChange | None:
    """How ``new`` columnHeaders differ from ``old``; None when identical."""
    if old == new:
        return None
    o = {c["name"]: c.get("type") for c in old}
    n = {c["name"]: c.get("type") for c in new}
    return SchemaChange(
        added=tuple(k for k in n if k not in o),
        removed=tuple(k for k in o if k not in n),
        retyped=tuple((k, str(o[k]), str(n[k])) for k in n if k in o and o[k] != n[k]),
        reordered=[k for k in n if k in o] != [k for k in o if k in n],
    )
