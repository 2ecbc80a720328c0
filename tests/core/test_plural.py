"""Counts say their noun in the right number: "1 version", "2 versions", never "(s)"."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

import pytest

from archiver.plural import plural, word

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("n", "noun", "expect"),
    [
        (0, "version", "0 versions"),
        (1, "version", "1 version"),
        (2, "version", "2 versions"),
        (2348, "row version", "2,348 row versions"),
        (1, "entry", "1 entry"),
        (3, "entry", "3 entries"),
        (2, "day", "2 days"),
        (2, "coverage gap", "2 coverage gaps"),
    ],
)
def test_plural(n, noun, expect):
    assert plural(n, noun) == expect


def test_irregular_plural_given():
    assert word(2, "child", "children") == "children" and word(1, "child", "children") == "child"


def _strings(path: Path) -> list[tuple[int, str]]:
    with path.open("rb") as f:
        return [
            (tok.start[0], tok.string)
            for tok in tokenize.tokenize(f.readline)
            if tok.type == tokenize.STRING
        ]


def test_no_count_says_its_noun_with_a_parenthesised_s():
    """A noun glued to "(s)" ("version(s)") in a string is the tell of a count that did not
    pick its number; units like "Wait time (s)" (seconds) have a space and are fine."""
    found = [
        f"{p.relative_to(ROOT)}:{n}: {text}"
        for p in sorted((ROOT / "archiver").rglob("*.py"))
        if p.name != "plural.py"
        for n, text in _strings(p)
        if re.search(r"[a-z]\(s\)", re.sub(r"\{[^{}]*\}", "", text).replace("http(s)", ""))
    ]
    assert not found, "\n".join(found)
