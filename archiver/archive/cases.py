"""Cases and legal holds: a materialised view of their custody entries.

Everything a person does to a case is one chained audit-log entry (``case created``,
``case changed``, ``case closed``, ``hold placed``, ``hold released``) whose details carry
all the tables need; who and when are the entry's own ``os_user`` and ``at``. The tables
here (created on demand, not evidence) are what :func:`fold` makes of those entries, and
nothing else: the writer appends an entry and makes its case's rows again from the entries
(:func:`write`), and verify-archive's replay (:func:`replay_check`) makes every row again
from the whole log and names each difference. One rule (:func:`refusal`) decides what an
entry may do, for the writer (which refuses before writing) and for the replay (which
reports an entry that did what the rule forbids).
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archiver.archive import auditlog

CREATED = "case created"
CHANGED = "case changed"
CLOSED = "case closed"
HOLD_PLACED = "hold placed"
HOLD_RELEASED = "hold released"
#: the events that change a case (and so its tables)
EVENTS = (CREATED, CHANGED, CLOSED, HOLD_PLACED, HOLD_RELEASED)
ADDED, REMOVED = "added", "removed"
BY_HAND, BY_SEARCH = "hand", "search"

#: How the table registry (verify-archive's replay, WAVE2 decision 2) classifies the
#: tables this module creates: replayed from the case and hold entries of the audit log.
TABLES: dict[str, tuple[str, str]] = {
    "cases": (
        "replayed",
        "from the `case created` / `case closed` audit entries (archive/cases.replay_check)",
    ),
    "case_interactions": (
        "replayed",
        "from the `case changed` audit entries: each interaction, who added it, when, by hand "
        "or by which search (archive/cases.replay_check)",
    ),
    "case_searches": (
        "replayed",
        "from the `case changed` audit entries that added a search's interactions "
        "(archive/cases.replay_check)",
    ),
    "case_holds": (
        "replayed",
        "from the `hold placed` / `hold released` audit entries (archive/cases.replay_check)",
    ),
}

DDL = (
    """CREATE TABLE IF NOT EXISTS cases (
        name          TEXT PRIMARY KEY,       -- as given when created
        key           TEXT NOT NULL UNIQUE,   -- the name folded (one name, whatever its case)
        reason        TEXT NOT NULL,
        reference     TEXT NOT NULL,          -- '' when none was given
        created_entry INTEGER NOT NULL,       -- its `case created` audit entry
        created_at    TEXT NOT NULL,
        created_by    TEXT NOT NULL,
        closed_entry  INTEGER,                -- its `case closed` entry (NULL: open)
        closed_at     TEXT,
        closed_by     TEXT,
        closed_reason TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS case_interactions (
        case_name      TEXT NOT NULL,
        interaction_id TEXT NOT NULL,
        added_entry    INTEGER NOT NULL,      -- the `case changed` entry that added it
        added_at       TEXT NOT NULL,
        added_by       TEXT NOT NULL,
        search_entry   INTEGER,               -- case_searches.entry of the search that found
                                              -- it; NULL: added by hand
        PRIMARY KEY (case_name, interaction_id)
    )""",
    """CREATE TABLE IF NOT EXISTS case_searches (
        entry       INTEGER PRIMARY KEY,      -- the `case changed` entry that recorded it
        case_name   TEXT NOT NULL,
        query       TEXT NOT NULL,
        first       TEXT,                     -- --from, ISO (NULL: none)
        last        TEXT,                     -- --to, ISO (NULL: none)
        range       TEXT NOT NULL,            -- the range in words
        searched_at TEXT NOT NULL,
        searched_by TEXT NOT NULL,
        hits        INTEGER NOT NULL,         -- the search's hit count
        found       INTEGER NOT NULL,         -- interactions among the hits
        added       INTEGER NOT NULL          -- of those, new to the case
    )""",
    """CREATE TABLE IF NOT EXISTS case_holds (
        placed_entry    INTEGER PRIMARY KEY,  -- its `hold placed` entry
        case_name       TEXT NOT NULL,
        reason          TEXT NOT NULL,
        placed_at       TEXT NOT NULL,
        placed_by       TEXT NOT NULL,
        released_entry  INTEGER,              -- its `hold released` entry (NULL: in place)
        released_at     TEXT,
        released_by     TEXT,
        released_reason TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS case_interactions_id ON case_interactions(interaction_id)",
)

#: each table's columns, in the order its rows are written and compared
COLUMNS: dict[str, tuple[str, ...]] = {
    "cases": (
        "name",
        "key",
        "reason",
        "reference",
        "created_entry",
        "created_at",
        "created_by",
        "closed_entry",
        "closed_at",
        "closed_by",
        "closed_reason",
    ),
    "case_interactions": (
        "case_name",
        "interaction_id",
        "added_entry",
        "added_at",
        "added_by",
        "search_entry",
    ),
    "case_searches": (
        "entry",
        "case_name",
        "query",
        "first",
        "last",
        "range",
        "searched_at",
        "searched_by",
        "hits",
        "found",
        "added",
    ),
    "case_holds": (
        "placed_entry",
        "case_name",
        "reason",
        "placed_at",
        "placed_by",
        "released_entry",
        "released_at",
        "released_by",
        "released_reason",
    ),
}
#: each table's key (what names a row in a difference)
KEYS: dict[str, tuple[str, ...]] = {
    "cases": ("name",),
    "case_interactions": ("case_name", "interaction_id"),
    "case_searches": ("entry",),
    "case_holds": ("placed_entry",),
}
NAME_MAX = 100


def name_key(name: str) -> str:
    """One case name whatever its case or Unicode form ("Smith" and "smith" are one)."""
    return unicodedata.normalize("NFC", name.strip()).casefold()


def ensure_tables(conn: sqlite3.Connection) -> None:
    """Create the case tables if this archive has none yet (in the caller's transaction)."""
    for stmt in DDL:
        conn.execute(stmt)


def has_tables(conn: sqlite3.Connection) -> bool:
    (n,) = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
        "('cases', 'case_interactions', 'case_searches', 'case_holds')"
    ).fetchone()
    return int(n) == 4


# -- the entries ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """A custody entry as the fold reads it."""

    entry_id: int
    at: str
    event: str
    os_user: str
    details: Mapping[str, Any]


def entry_of(obj: Any) -> Entry:
    """An :class:`Entry` from what a caller holds: an Entry, an object with the audit
    entry's fields (details a dict or its JSON), a mapping of them, or an audit row."""
    if isinstance(obj, Entry):
        return obj
    if isinstance(obj, sqlite3.Row):
        obj = dict(obj)

    def get(key: str) -> Any:
        return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)

    details = get("details")
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            details = {}
    return Entry(
        int(get("entry_id") or 0),
        str(get("at") or ""),
        str(get("event") or ""),
        str(get("os_user") or ""),
        details if isinstance(details, Mapping) else {},
    )


def entries(conn: sqlite3.Connection, case: str | None = None) -> list[Entry]:
    """The case and hold entries of the audit log, oldest first (those of one case when
    ``case`` is given)."""
    marks = ",".join("?" * len(EVENTS))
    out = [
        Entry(entry_id, at, event, user, json.loads(details))
        for entry_id, at, event, user, details in conn.execute(
            f"""SELECT entry_id, at, event, os_user, details FROM audit_log
                WHERE event IN ({marks}) ORDER BY entry_id""",
            EVENTS,
        )
    ]
    if case is None:
        return out
    key = name_key(case)
    return [e for e in out if name_key(str(e.details.get("case", ""))) == key]


# -- the fold ------------------------------------------------------------------------------
@dataclass
class Case:
    """One case as its entries make it."""

    name: str
    reason: str
    reference: str
    created: Entry
    closed: Entry | None = None
    #: interaction id → (the entry that added it, the search entry id or None)
    members: dict[str, tuple[Entry, int | None]] = field(default_factory=dict)
    #: search entry id → its row (case_searches' columns)
    searches: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: hold entry id → [placed entry, released entry or None]
    holds: dict[int, list[Entry | None]] = field(default_factory=dict)

    @property
    def hold(self) -> Entry | None:
        """The `hold placed` entry of the hold in place (None: not held)."""
        for placed, released in self.holds.values():
            if released is None:
                return placed
        return None


@dataclass
class State:
    """Every case, by its folded name."""

    cases: dict[str, Case] = field(default_factory=dict)

    def get(self, name: str) -> Case | None:
        return self.cases.get(name_key(name))


def _ids(details: Mapping[str, Any]) -> list[str]:
    found = details.get("interactions")
    return [str(i) for i in found] if isinstance(found, list) else []


def refusal(state: State, event: str, details: Mapping[str, Any]) -> str | None:
    """Why an entry may not be made (None: it may): the one rule the writer applies before
    writing an entry and the replay applies to every entry it reads."""
    name = str(details.get("case") or "")
    case = state.get(name)
    if event == CREATED:
        if case is not None:
            return (
                f"a case named {case.name!r} exists already (created "
                f"{case.created.at[:19]} by {case.created.os_user}): choose another name"
            )
        return None
    if case is None:
        return f"there is no case named {name!r}"
    if event == HOLD_RELEASED:
        return None if case.hold else f"case {case.name!r} is not under legal hold"
    if case.closed is not None:
        return (
            f"case {case.name!r} was closed {case.closed.at[:19]} by {case.closed.os_user}: "
            "a closed case cannot be changed"
        )
    rule = _RULES.get(event)
    return rule(case, details) if rule else f"not a case event: {event!r}"


def _changed(case: Case, details: Mapping[str, Any]) -> str | None:
    ids = _ids(details)
    if not ids:
        return "the change names no interaction"
    if details.get("change") == ADDED:
        there = [i for i in ids if i in case.members]
        return f"already in case {case.name!r}: {', '.join(there)}" if there else None
    if details.get("change") == REMOVED:
        absent = [i for i in ids if i not in case.members]
        if absent:
            return f"not in case {case.name!r}: {', '.join(absent)}"
        return _held(case, "no interaction can be removed from it") if case.hold else None
    return f"not a change of a case: {details.get('change')!r}"


def _closed(case: Case, details: Mapping[str, Any]) -> str | None:
    return _held(case, "closing it would not end the hold") if case.hold else None


def _placed(case: Case, details: Mapping[str, Any]) -> str | None:
    return _held(case, "it is held already") if case.hold else None


_RULES = {CHANGED: _changed, CLOSED: _closed, HOLD_PLACED: _placed}


def _held(case: Case, what: str) -> str:
    hold = case.hold
    assert hold is not None
    return (
        f"case {case.name!r} is under legal hold (placed {hold.at[:19]} by {hold.os_user}): "
        f"{what}; release the hold first (archiver hold release)"
    )


def apply(state: State, e: Entry) -> None:
    """Fold one entry (which :func:`refusal` allows) into ``state``."""
    d = e.details
    name = str(d.get("case") or "")
    if e.event == CREATED:
        state.cases[name_key(name)] = Case(
            name, str(d.get("reason") or ""), str(d.get("reference") or ""), e
        )
        return
    case = state.get(name)
    assert case is not None
    if e.event == CHANGED and d.get("change") == ADDED:
        search = d.get("search") if d.get("via") == BY_SEARCH else None
        if isinstance(search, Mapping):
            case.searches[e.entry_id] = _search_row(case, e, search, len(_ids(d)))
        for iid in _ids(d):
            case.members[iid] = (e, e.entry_id if isinstance(search, Mapping) else None)
    elif e.event == CHANGED and d.get("change") == REMOVED:
        for iid in _ids(d):
            case.members.pop(iid, None)
    elif e.event == CLOSED:
        case.closed = e
    elif e.event == HOLD_PLACED:
        case.holds[e.entry_id] = [e, None]
    elif e.event == HOLD_RELEASED:
        for pair in case.holds.values():
            if pair[1] is None:
                pair[1] = e


def _search_row(case: Case, e: Entry, s: Mapping[str, Any], added: int) -> dict[str, Any]:
    def num(key: str) -> int:
        value = s.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return {
        "entry": e.entry_id,
        "case_name": case.name,
        "query": str(s.get("query") or ""),
        "first": s.get("from") or None,
        "last": s.get("to") or None,
        "range": str(s.get("range") or ""),
        "searched_at": str(s.get("searched_at") or e.at),
        "searched_by": e.os_user,
        "hits": num("hits"),
        "found": num("found"),
        "added": added,
    }


def fold(found: Iterable[Any]) -> tuple[State, list[str]]:
    """The state the entries make, oldest first, and the entries the rule refuses (each
    named; a refused entry changes nothing)."""
    state, problems = State(), []
    for raw in found:
        e = entry_of(raw)
        if e.event not in EVENTS:
            continue
        why = refusal(state, e.event, e.details)
        if why is not None:
            problems.append(f"audit entry {e.entry_id} ({e.event}) should not exist: {why}")
            continue
        apply(state, e)
    return state, problems


def rows(state: State, only: str | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """The tables' rows the state makes (of one case when ``only`` names it)."""
    out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
    for key, case in sorted(state.cases.items()):
        if only is not None and key != name_key(only):
            continue
        closed = case.closed
        out["cases"].append(
            (
                case.name,
                key,
                case.reason,
                case.reference,
                case.created.entry_id,
                case.created.at,
                case.created.os_user,
                closed.entry_id if closed else None,
                closed.at if closed else None,
                closed.os_user if closed else None,
                (str(closed.details.get("reason") or "") if closed else None),
            )
        )
        for iid, (e, search) in sorted(case.members.items()):
            out["case_interactions"].append((case.name, iid, e.entry_id, e.at, e.os_user, search))
        for _entry, row in sorted(case.searches.items()):
            out["case_searches"].append(tuple(row[c] for c in COLUMNS["case_searches"]))
        for pid, (placed, released) in sorted(case.holds.items()):
            assert placed is not None
            out["case_holds"].append(
                (
                    pid,
                    case.name,
                    str(placed.details.get("reason") or ""),
                    placed.at,
                    placed.os_user,
                    released.entry_id if released else None,
                    released.at if released else None,
                    released.os_user if released else None,
                    str(released.details.get("reason") or "") if released else None,
                )
            )
    return out


# -- the writer ----------------------------------------------------------------------------
class CaseRefused(Exception):
    """The change makes no sense (the message says why and what to do); nothing written."""


def write(conn: sqlite3.Connection, event: str, details: dict[str, Any]) -> State:
    """Append the entry and make its case's rows again from its entries, in the caller's
    transaction; CaseRefused (nothing written) when :func:`refusal` refuses it. Returns the
    case's state after the entry."""
    ensure_tables(conn)
    name = str(details.get("case") or "")
    before, _ = fold(entries(conn, name))
    why = refusal(before, event, details)
    if why is not None:
        raise CaseRefused(why)
    auditlog.append(conn, event, details, None)
    after, _ = fold(entries(conn, name))
    case = after.get(name)
    assert case is not None
    for table in COLUMNS:
        conn.execute(f"DELETE FROM {table} WHERE {_case_column(table)} = ?", (case.name,))
    for table, found in rows(after, case.name).items():
        cols = COLUMNS[table]
        conn.executemany(
            f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            found,
        )
    return after


def _case_column(table: str) -> str:
    return "name" if table == "cases" else "case_name"


# -- the replay ----------------------------------------------------------------------------
MAX_DIFFERENCES = 20


def replay_check(conn: sqlite3.Connection, found: Iterable[Any] | None = None) -> list[str]:
    """verify-archive's replay of the case tables (WAVE2 decision 2): every row made again
    from the case and hold entries (``found``: the audit entries, oldest first; read from
    ``conn`` when None) and compared; returns the differences (table, key, first differing
    column), and the entries the rule refuses."""
    state, problems = fold(entries(conn) if found is None else found)
    want = rows(state)
    if not has_tables(conn):
        if any(want.values()):
            problems.append(
                "cases: the case tables are missing, but the audit log has case entries "
                "(they are made again by the next case change)"
            )
        return problems
    for table, cols in COLUMNS.items():
        problems += compare_rows(conn, table, cols, KEYS[table], want[table])
    return problems


def compare_rows(
    conn: sqlite3.Connection,
    table: str,
    cols: tuple[str, ...],
    key_cols: tuple[str, ...],
    want: list[tuple[Any, ...]],
) -> list[str]:
    """A table made from custody entries against the rows its entries state (``want``,
    in ``cols`` order, keyed by ``key_cols``): the first MAX_DIFFERENCES differences, each
    naming the table, the key and the first differing column (cases, retention)."""
    index = [cols.index(k) for k in key_cols]

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[i] for i in index)

    have = {key(r): tuple(r) for r in conn.execute(f"SELECT {', '.join(cols)} FROM {table}")}
    wanted = {key(r): r for r in want}
    out: list[str] = []
    for k in sorted(have.keys() | wanted.keys(), key=repr):
        name = f"{table} ({', '.join(map(str, k))})"
        if k not in wanted:
            out.append(f"{name}: no audit entry states this row")
        elif k not in have:
            out.append(f"{name}: missing (its audit entries state it)")
        elif have[k] != wanted[k]:
            col = next(c for c, a, b in zip(cols, have[k], wanted[k], strict=True) if a != b)
            i = cols.index(col)
            out.append(f"{name}: {col} is {have[k][i]!r}, its audit entries say {wanted[k][i]!r}")
        if len(out) >= MAX_DIFFERENCES:
            break
    return out
