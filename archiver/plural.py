"""A count with its noun in the right number: ``1 version``, ``2 versions``, never
``1 version(s)``. Every screen, the command line and the report say counts this way."""

from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``n`` with thousands separators and its noun: ``noun`` when n is 1, else ``nouns``
    (default: the noun's last word made plural, ``entry`` → ``entries``, ``gap`` → ``gaps``)."""
    return f"{n:,} {word(n, noun, nouns)}"


def word(n: int, noun: str, nouns: str | None = None) -> str:
    """The noun alone, in the number ``n`` asks for."""
    if n == 1:
        return noun
    if nouns is not None:
        return nouns
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"
