"""What the archive derives from a page: the one code the writer and verify-archive's replay
share.

The writer calls these functions as each page arrives, asking what the stream already holds
through an SQL-backed :class:`Known`; the replay (archive/replay.py) calls the same
functions over the raw pages alone, in archive order, with an in-memory :class:`Known`.
So a record, a conflict, a superseded version, a key fallback, a schema change, a column
set or a values column is archived exactly when the replay derives it, and verify-archive
compares the two.

- **Identity and key rules**: :mod:`archiver.archive.identity` (:func:`page_records` runs it).
- **New or already archived**: a record whose stream, key and the first 8 bytes of its
  SHA-256 are archived (or earlier in the same page) is the same record received again.
- **Rows and versions**: a record's *group* is its (key rule, key) under the rules its
  stream still holds (identity.effective_key): after a key fallback, versions written under
  the abandoned rule are regrouped. The newest version of a group is the one with the
  greatest :func:`archiver.archive.versions.order_key` (COMMIT_TS as a time, then receipt);
  every other member is *superseded* by it.
- **Conflicts**: a new record whose group already holds a version with the same COMMIT_TS
  (:func:`archiver.archive.versions.same_commit`) and other content conflicts with the
  earliest received such version.
- **Schema changes**: a dataset's columnHeaders compared with the last ones seen (every
  200 page, both dataset types).
- **Columns**: a values table gains a page's columns that it lacks, in page order, and a
  record's column set is its page's column names, when the page brings a new record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from archiver.api.typed import schema_diff
from archiver.archive.hashing import canonical_json
from archiver.archive.identity import (
    HASH,
    Fallback,
    Identity,
    effective_key,
    page_identities,
)
from archiver.archive.versions import Receipt, commit_identity, order_key

Group = tuple[str, str]  # (key rule, key) under the rules the stream still holds
Mark = tuple[int, str]  # (sha8, key): what makes a record already archived


def sha8(hex_digest: str) -> int:
    """The first 8 bytes of a SHA-256 (hex) as a signed 64-bit integer."""
    return int.from_bytes(bytes.fromhex(hex_digest[:16]), "big", signed=True)


@dataclass(frozen=True, slots=True)
class Member:
    """One archived version of a row: a handle (the writer's record id), where it was first
    received, its COMMIT_TS as received, and what groups it (its key rule, key, natural key
    and sha8: see :func:`group_of`)."""

    ref: int
    receipt: Receipt
    commit_ts: str
    sha8: int
    kind: str
    key: str
    natural: str

    @property
    def group_parts(self) -> tuple[str, str, str, int]:
        return (self.kind, self.key, self.natural, self.sha8)


class Known(Protocol):
    """What the derivation asks of what a stream already holds."""

    def archived(self, marks: Collection[Mark]) -> set[Mark]:
        """The marks (sha8, key) among ``marks`` that an archived record has."""
        ...

    def members(self, groups: Collection[Group]) -> dict[Group, list[Member]]:
        """Every archived version of each group, in receipt order (absent: none)."""
        ...


@dataclass(frozen=True)
class NewRecord:
    index: int  # its row in the page
    ident: Identity
    sha8: int
    ref: int
    conflict_with: Member | None  # the earliest version with the same COMMIT_TS

    @property
    def group(self) -> Group:
        return (self.ident.kind, self.ident.key)

    def member(self, page_id: int) -> Member:
        i = self.ident
        return Member(
            self.ref, (page_id, self.index), i.commit_ts, self.sha8, i.kind, i.key, i.natural_key
        )


@dataclass
class PageRecords:
    """What one 200 page adds to its stream."""

    ids: list[Identity]
    rule: str
    fallbacks: list[Fallback]
    new: list[NewRecord]
    duplicates: int
    #: every version of each group a new record joined, old and new, in receipt order
    groups: dict[Group, list[Member]] = field(default_factory=dict)

    @property
    def conflicts(self) -> int:
        return sum(1 for n in self.new if n.conflict_with is not None)


def page_records(
    known: Known,
    gone: set[str],
    dataset: str,
    dataset_type: str,
    page_id: int,
    names: Sequence[str],
    records: Sequence[Sequence[str]],
    ref: Callable[[int, int], int],
    canon: tuple[list[str], list[str]] | None = None,
) -> PageRecords:
    """Derive one page's records. ``gone``: the key rules the stream has given up, updated
    in place with the page's new fallbacks; ``ref(n, row)``: the handle of the page's n-th
    new record, at ``row`` (the writer: its record id)."""
    ids, rule, fallbacks = page_identities(dataset, dataset_type, names, records, gone, canon)
    gone.update(f.rule for f in fallbacks)
    marks = [(sha8(i.sha256), i.key) for i in ids]
    seen = known.archived(set(marks))
    fresh: list[int] = []
    for i, mark in enumerate(marks):
        if mark in seen:
            continue
        seen.add(mark)
        fresh.append(i)
    out = PageRecords(ids, rule, fallbacks, [], len(ids) - len(fresh))
    if not fresh:
        return out
    groups = known.members({(ids[i].kind, ids[i].key) for i in fresh})
    for n, i in enumerate(fresh):
        ident = ids[i]
        every = groups.setdefault((ident.kind, ident.key), [])
        s8 = marks[i][0]
        new = NewRecord(i, ident, s8, ref(n, i), earliest_same(every, ident.commit_ts, s8))
        every.append(new.member(page_id))
        out.new.append(new)
    out.groups = groups
    return out


def earliest_same(members: Sequence[Member], commit_ts: str, s8: int) -> Member | None:
    """The earliest received version (members are in receipt order) with the same
    COMMIT_TS and other content."""
    if not members:  # a row's first version (most records): nothing to compare
        return None
    others = [m for m in members if m.sha8 != s8]
    if not others:
        return None
    mine = commit_identity(commit_ts)
    return next((m for m in others if commit_identity(m.commit_ts) == mine), None)


def newest(members: Sequence[Member]) -> Member:
    """The newest version of a group (:func:`archiver.archive.versions.order_key`)."""
    return max(members, key=lambda m: order_key(m.commit_ts, m.receipt))


def replaced(members: Sequence[Member]) -> list[tuple[int, int]]:
    """(ref, newest ref) for every version of a group a newer one replaced."""
    if len(members) < 2:
        return []
    top = newest(members).ref
    return [(m.ref, top) for m in members if m.ref != top]


def group_of(gone: Collection[str], kind: str, key: str, natural: str, s8: int) -> Group:
    """The group of an archived record under the rules its stream still holds: its own
    (rule, key) unless that rule was given up (identity.effective_key; a record regrouped
    by its hash is a row of its own, named by its sha8)."""
    token = key if kind == HASH else str(s8)
    return effective_key(frozenset(gone), kind, key, natural, token)


# -- schema changes, columns --------------------------------------------------------------
@dataclass(frozen=True)
class SchemaChange:
    previous: str  # canonical JSON of the columnHeaders before ('' the first time)
    current: str
    description: str


def schema_change(previous: str, columns: list[dict[str, Any]]) -> SchemaChange | None:
    """How a dataset's columnHeaders differ from the last ones seen (None: not at all)."""
    current = canonical_json(columns)
    if previous == current:
        return None
    if not previous:
        return SchemaChange("", current, "first seen")
    change = schema_diff(json.loads(previous), columns)
    desc = (change.describe() if change else "changed") or "changed"
    return SchemaChange(previous, current, desc)


def missing_columns(have: Sequence[str], names: Sequence[str]) -> list[str]:
    """The page's columns a values table lacks, in page order (each once)."""
    present = set(have)
    return [n for n in dict.fromkeys(names) if n not in present]


def column_set_text(names: Sequence[str]) -> str:
    """A column set as ``column_sets.names`` stores it."""
    return json.dumps(list(names), separators=(",", ":"))
