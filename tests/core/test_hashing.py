"""The writer's fast canonical form is the documented one, character for character."""

from __future__ import annotations

import json
import random

from archiver.archive.hashing import canonical_record, canonical_records

TRICKY = [
    "",
    "plain",
    'quote " and backslash \\',
    "slash / and \u2028 line separator \u2029",
    "control \x00\x01\x1f\x7f tab\t newline\n return\r",
    "non-ASCII é ß 漢字 🙂",
    "\\u0026 literally",
    "&<>'",
    " leading and trailing ",
]


def test_fast_canonical_equals_the_definition_on_tricky_strings():
    names = ["ROW_ID", "NAME é", 'Q"UOTE', "back\\slash", "ctl\x01", "", "🙂"]
    rng = random.Random(7)
    records = [[rng.choice(TRICKY) + rng.choice(TRICKY) for _ in names] for _ in range(500)]
    fast = canonical_records(names, records)
    for got, values in zip(fast, records, strict=True):
        assert got == canonical_record(names, values)
        assert json.loads(got) == dict(zip(names, values, strict=True))


def test_repeated_names_fall_back_to_the_definition():
    """A dict keeps the last of repeated names: the definition decides, not the fast path
    (parse_page refuses such pages; this keeps the two equal regardless)."""
    names = ["A", "B", "A"]
    records = [["1", "2", "3"]]
    assert canonical_records(names, records) == [canonical_record(names, records[0])]
    assert canonical_records(names, records) == ['{"A":"3","B":"2"}']


def test_an_unequal_record_length_is_an_error_not_a_truncation():
    import pytest

    with pytest.raises(ValueError):
        canonical_records(["A", "B"], [["1"]])
