"""Which search field each column a dataset delivers is indexed as (docs/search.md).

The guide does not document every dataset's columns (the transcript's: "inspect
columnHeaders"), so the index takes the string columns each dataset actually delivers, as
its column headers name them, and sorts each into a field of the query language from its
name, its declared type and its values: ids, phone numbers and e-mail addresses are
matched whole or by prefix, free text word by word. The values looked at are those of the
page that first brought the column into the archive, so the decision is made once, and
``archiver index rebuild`` makes the same one again from the same page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from archiver.archive.hashing import ERASED
from archiver.datasets import COMMON_COLUMNS, INTERACTION_COLUMN

#: Raise when the rule below changes: an index made by another rule is rebuilt.
RULE_VERSION = 2

#: Not indexed (``""``): the data pipeline's bookkeeping, the same on every row of a
#: tenant or unique to the row, never something an investigator looks for.
NOT_INDEXED = ""
BOOKKEEPING = frozenset(name for name, _ in COMMON_COLUMNS)
#: fields matched whole or by prefix (the rest are free text, matched word by word)
EXACT_FIELDS = frozenset({"agent", "queue", "channel", "phone", "email", "interaction", "id"})

_NUMBER = re.compile(r"[+-]?(\d+([.,]\d+)?|\.\d+)")
_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"
)
_BOOLEAN = frozenset({"true", "false", "yes", "no", "y", "n"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[\d\s().-]{7,24}")
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{3,}")


def _is_scalar(value: str) -> bool:
    """A number, a date or time, or a boolean (or JSON holding only those, such as
    ``[{"start": 12, "duration": 5}]``): searched by the date range, not by words."""
    v = value.strip()
    if _NUMBER.fullmatch(v) or _TIME.fullmatch(v) or v.lower() in _BOOLEAN:
        return True
    if v[:1] in "[{":
        try:
            return _only_scalars(json.loads(v))
        except ValueError:
            return False
    return False


def _only_scalars(value: object) -> bool:
    """JSON whose every value (not its keys) is a number, a boolean or null."""
    if isinstance(value, dict):
        return all(_only_scalars(v) for v in value.values())
    if isinstance(value, list):
        return all(_only_scalars(v) for v in value)
    return value is None or isinstance(value, bool | int | float)


def _is_email(value: str) -> bool:
    return bool(_EMAIL.fullmatch(value.strip()))


def _is_phone(value: str) -> bool:
    v = value.strip()
    digits = sum(ch.isdigit() for ch in v)
    return bool(_PHONE.fullmatch(v)) and 7 <= digits <= 15


def _is_ident(value: str) -> bool:
    """One token with a digit in it (hex ids, TRK-03, 3f2a-…): an id, not a word."""
    v = value.strip()
    return bool(_IDENT.fullmatch(v)) and any(ch.isdigit() for ch in v)


def _words(name: str) -> list[str]:
    return [w for w in name.upper().split("_") if w]


def _names_an_id(name: str) -> bool:
    """AGENT_ID, ID, WORKFLOWSESSION_WORKFLOWVERSIONID: the name ends in ID."""
    last = _words(name)[-1] if _words(name) else ""
    return last == "ID" or (last.endswith("ID") and len(last) > 6)


def classify(dataset: str, column: str, declared_type: str, values: Sequence[str]) -> str:
    """The field ``column`` of ``dataset`` is indexed as, or :data:`NOT_INDEXED`.

    ``declared_type``: its type in columnHeaders; ``values``: its values on the page that
    first brought it (empty ones, and those an erasure replaced by ``[erased]``, are
    ignored: the decision stays the one made at receipt). The rule, first match wins:

    1. the dataset's interaction column (archive/queries/interactions.py) → interaction;
    2. the guide's common columns (ROW_ID, COMMIT_TS, ACCOUNT_ID…), and a declared type
       other than string → not indexed (times are searched by the date range);
    3. a name with EMAIL, or values that are all e-mail addresses → email (a name with
       EMAIL whose values are not addresses → text);
    4. a name with PHONE or ending in NUMBER whose values are phone numbers (7 to 15
       digits; or no value seen and the name says PHONE), or values that are all phone
       numbers written with a leading + → phone (a NUMBER whose values are not → rule 5);
    5. values that are all numbers, dates, times or booleans (or JSON holding only those)
       → not indexed;
    6. AGENT or USER with ID or NAME in the name → agent;
    7. QUEUE with ID or NAME in the name → queue;
    8. a name ending in CHANNEL, CHANNELTYPE, COMM_TYPE or COMMTYPE → channel;
    9. a name ending in ID, or values that are all single tokens with a digit → id;
    10. every other string column → text (words).
    """
    seen = [v for v in values if v and v.strip() and v.strip() != ERASED]
    words = _words(column)
    name = column.upper()
    if column == INTERACTION_COLUMN.get(dataset):
        return "interaction"
    if column in BOOKKEEPING or (declared_type or "string").lower() != "string":
        return NOT_INDEXED
    if "EMAIL" in name or (seen and all(_is_email(v) for v in seen)):
        return "email" if all(_is_email(v) for v in seen) else "text"
    phones = bool(seen) and all(_is_phone(v) for v in seen)
    if ("PHONE" in name or name.endswith("NUMBER")) and (phones or not seen):
        return "phone" if phones or "PHONE" in name else NOT_INDEXED
    if phones and all(v.strip().startswith("+") for v in seen):
        return "phone"
    if seen and all(_is_scalar(v) for v in seen):
        return NOT_INDEXED
    if ("AGENT" in name or "USER" in words) and (
        {"ID", "NAME"} & set(words) or name.endswith("ID")
    ):
        return "agent"
    if "QUEUE" in name and ({"ID", "NAME"} & set(words) or name.endswith("QUEUEID")):
        return "queue"
    if name.endswith(("CHANNEL", "CHANNELTYPE", "COMM_TYPE", "COMMTYPE")):
        return "channel"
    if _names_an_id(column) or (seen and all(_is_ident(v) for v in seen)):
        return "id"
    return "text"
