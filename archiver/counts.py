"""The words for counts. Every number the app, the command line and the report show says
which of these it is, so that one archive gives the same figure for the same thing
everywhere (and different figures visibly name different things). The same table is in
docs/counts.md; a test keeps the two equal.

A figure may add where it counts ("whose own interval lies on 2025-02-01"), never change
what the word means.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One kind of count: its word (singular, plural) and what it counts, in one line."""

    singular: str
    plural: str
    definition: str

    def of(self, n: int, qualifier: str = "") -> str:
        """``1,234 records``; ``1 new record`` (a qualifier goes before the word)."""
        word = self.singular if n == 1 else self.plural
        return f"{n:,} {qualifier + ' ' if qualifier else ''}{word}"

    @property
    def title(self) -> str:
        """The plural as a heading or column title: ``Rows received``."""
        return self.plural[:1].upper() + self.plural[1:]


ROWS_RECEIVED = Term(
    "row received",
    "rows received",
    "rows as the API sent them, counted in every response page: a row sent twice (the "
    "one-interval overlap between chunks, a re-read) counts twice",
)
RECORDS = Term(
    "record",
    "records",
    "row versions the archive holds, each once: a row the API re-issued with a new "
    "COMMIT_TS is two records",
)
LATEST = Term(
    "latest record",
    "latest records",
    "the newest version of each row: records minus the versions a later one superseded",
)
INTERACTIONS = Term(
    "interaction",
    "interactions",
    "distinct INTERACTION_ID values among interactionSegments records",
)

HITS = Term(
    "hit",
    "hits",
    "what a search found: an interaction (every matching record of it, in any dataset, is "
    "one hit), or a matching record of a dataset without interactions",
)

#: Every term, in the order the docs list them.
TERMS = (ROWS_RECEIVED, RECORDS, LATEST, INTERACTIONS, HITS)

__all__ = ["HITS", "INTERACTIONS", "LATEST", "RECORDS", "ROWS_RECEIVED", "TERMS", "Term"]
