"""Searching the index (archive/searchindex.py) with a parsed query (archiver.searchquery).

A query becomes, for each dataset, one FTS5 expression written here from the parsed terms
(each term quoted as an FTS5 string: user text never reaches MATCH raw), with the fields
mapped to the dataset's columns and ``dataset:`` folded away. The matching records are
grouped by interaction (a transcript message, a segment and a trace step of one interaction
are one hit; a record of a dataset without interactions is a hit of its own), newest
first. Every archived version of a record is searched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from archiver.archive import searchindex, values
from archiver.archive.compact import stream_ids
from archiver.archive.queries.interactions import INTERACTION_COLUMN
from archiver.archive.queries.reader import Source
from archiver.datasets import DATASET_NAMES
from archiver.searchquery import And, Node, Not, Query, Term
from archiver.timerange import interval_key

# -- compiling ----------------------------------------------------------------------------
#: a plan is one of: nothing matches, everything matches, these match, all but these
NOTHING, EVERYTHING, MATCH, EXCEPT = "nothing", "everything", "match", "except"


@dataclass(frozen=True)
class Plan:
    kind: str
    expr: str = ""


def _string(text: str) -> str:
    """``text`` as an FTS5 string: the index's tokenizer reads it, no operator can hide in it."""
    return '"' + text.replace('"', '""') + '"'


def _term(term: Term, dataset: str, fields: dict[str, list[str]]) -> Plan:
    if term.field == "dataset":
        return Plan(EVERYTHING if term.text == dataset else NOTHING)
    expr = _string(term.text) + ("*" if term.prefix else "")
    if term.field is None:
        return Plan(MATCH, expr) if fields else Plan(NOTHING)
    cols = fields.get(term.field)
    if not cols:
        return Plan(NOTHING)
    return Plan(MATCH, "{" + " ".join(_string(c) for c in cols) + "} : " + expr)


def _and(plans: list[Plan]) -> Plan:
    if any(p.kind == NOTHING for p in plans):
        return Plan(NOTHING)
    yes = [p.expr for p in plans if p.kind == MATCH]
    no = [p.expr for p in plans if p.kind == EXCEPT]
    if yes:
        pos = " AND ".join(f"({e})" for e in yes)
        return Plan(MATCH, f"({pos}) NOT ({' OR '.join(f'({e})' for e in no)})" if no else pos)
    if no:
        return Plan(EXCEPT, " OR ".join(f"({e})" for e in no))
    return Plan(EVERYTHING)


def _or(plans: list[Plan]) -> Plan:
    if any(p.kind == EVERYTHING for p in plans):
        return Plan(EVERYTHING)
    yes = [p.expr for p in plans if p.kind == MATCH]
    no = [p.expr for p in plans if p.kind == EXCEPT]
    if no:  # (NOT a) OR (NOT b) OR c = NOT ((a AND b) NOT c)
        inner = " AND ".join(f"({e})" for e in no)
        if yes:
            inner = f"({inner}) NOT ({' OR '.join(f'({e})' for e in yes)})"
        return Plan(EXCEPT, inner)
    if yes:
        return Plan(MATCH, " OR ".join(f"({e})" for e in yes))
    return Plan(NOTHING)


def _not(plan: Plan) -> Plan:
    return {
        NOTHING: Plan(EVERYTHING),
        EVERYTHING: Plan(NOTHING),
        MATCH: Plan(EXCEPT, plan.expr),
        EXCEPT: Plan(MATCH, plan.expr),
    }[plan.kind]


def plan(node: Node, dataset: str, fields: dict[str, list[str]]) -> Plan:
    """The query's expression for one dataset, whose fields map to ``fields`` columns."""
    if isinstance(node, Term):
        return _term(node, dataset, fields)
    if isinstance(node, Not):
        return _not(plan(node.item, dataset, fields))
    parts = [plan(n, dataset, fields) for n in node.items]
    return _and(parts) if isinstance(node, And) else _or(parts)


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """One result: an interaction (every matching record of it), or a record not tied to
    one. ``records``: (dataset, record id) of the matching records, newest first."""

    key: str
    interaction: str | None
    newest: str  # the newest matching record's own interval, YYYYMMDDHHmm (daily: YYYYMMDD)
    records: tuple[tuple[str, int], ...]

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d for d, _ in self.records))


@dataclass(frozen=True)
class Found:
    """What a search found: its hits newest first, the matching records, and the datasets
    it could not search (their index is missing or out of date: `archiver index rebuild`)."""

    hits: list[Hit]
    records: int
    unindexed: list[str] = field(default_factory=list)


def _range_sql(first: datetime | None, last: datetime | None) -> tuple[str, list[str]]:
    if first is None and last is None:
        return "", []
    lo = interval_key(first) if first else "000000000000"
    hi = interval_key(last) if last else "999999999999"
    return (
        " AND ((length(r.interval_start) = 12 AND r.interval_start BETWEEN ? AND ?)"
        " OR (length(r.interval_start) = 8 AND r.interval_start BETWEEN ? AND ?))",
        [lo, hi, lo[:8], hi[:8]],
    )


def _matches(
    db: Source, dataset: str, p: Plan, first: datetime | None, last: datetime | None
) -> Iterator[tuple[int, str, str]]:
    """(record id, own interval, interaction id or '') of the dataset's matching records."""
    conn = db.conn
    icol = values.stored_names(conn, dataset).get(INTERACTION_COLUMN.get(dataset, ""))
    fts = values.quote(searchindex.fts_table(dataset))
    vals = values.table(dataset)
    pick = f"v.{values.quote(icol)}" if icol else "''"
    join = f"CROSS JOIN {vals} v ON v.record_id = r.record_id" if icol else ""
    where, bounds = _range_sql(first, last)
    args: list[str | int] = list(bounds)
    if p.kind == MATCH:
        sql = f"""SELECT r.record_id, r.interval_start, {pick} FROM {fts} f
                  CROSS JOIN records r ON r.record_id = f.rowid {join}
                  WHERE f.{fts} MATCH ?{where}"""
        yield from conn.execute(sql, [p.expr, *args])
        return
    sids = [sid for (d, _t), sid in stream_ids(conn).items() if d == dataset]
    marks = ",".join("?" * len(sids))
    sql = f"""SELECT r.record_id, r.interval_start, {pick} FROM records r {join}
              WHERE r.stream_id IN ({marks}){where}"""
    args = [*sids, *args]
    if p.kind == EXCEPT:
        sql += f" AND r.record_id NOT IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)"
        args.append(p.expr)
    yield from conn.execute(sql, args)


def search(
    db: Source,
    query: Query,
    *,
    first: datetime | None = None,
    last: datetime | None = None,
    datasets: Sequence[str] | None = None,
) -> Found:
    """Every hit of ``query`` in the range (first and last 15-minute interval, both
    included; the query's own ``date:`` narrows it further) and datasets (None: all)."""
    first, last = narrowed(first, last, query)
    groups: dict[str, tuple[str, list[tuple[str, str, int]]]] = {}
    count = 0
    unindexed: list[str] = []
    for dataset in datasets or DATASET_NAMES:
        st = searchindex.state(db.conn, dataset)
        if not st.has_values:
            continue
        if not st.ready:
            unindexed.append(dataset)
            continue
        p = plan(query.expr, dataset, searchindex.fields(db.conn, dataset))
        if p.kind == NOTHING:
            continue
        for rid, interval, iid in _matches(db, dataset, p, first, last):
            count += 1
            key = f"interaction {iid}" if iid else f"record {rid}"
            entry = groups.setdefault(key, (iid, []))
            entry[1].append((interval or "", dataset, rid))
    hits = []
    for key, (iid, recs) in groups.items():
        recs.sort(reverse=True)
        hits.append(Hit(key, iid or None, recs[0][0], tuple((d, r) for _i, d, r in recs)))
    hits.sort(key=lambda h: (h.newest, h.key), reverse=True)
    return Found(hits, count, unindexed)


def narrowed(
    first: datetime | None, last: datetime | None, query: Query
) -> tuple[datetime | None, datetime | None]:
    """The range given, narrowed by the query's ``date:``."""
    if query.first is not None:
        first = max(first, query.first) if first else query.first
    if query.last is not None:
        last = min(last, query.last) if last else query.last
    return first, last


# -- what a hit shows ---------------------------------------------------------------------
@dataclass(frozen=True)
class Snippet:
    """A matching record's text around the words found, each found word between the
    caller's marks; ``superseded``: a later version of the record replaced this one."""

    dataset: str
    record_id: int
    interval: str
    text: str
    superseded: bool
    #: other matching records of the hit whose snippet reads the same (not shown again)
    same: int = 0


def snippets(
    db: Source,
    query: Query,
    records: Sequence[tuple[str, int]],
    marks: tuple[str, str],
    words: int = 16,
) -> list[Snippet]:
    """The snippets of ``records`` (dataset, record id), in that order."""
    by_dataset: dict[str, list[int]] = {}
    for dataset, rid in records:
        by_dataset.setdefault(dataset, []).append(rid)
    texts: dict[tuple[str, int], str] = {}
    for dataset, ids in by_dataset.items():
        p = plan(query.expr, dataset, searchindex.fields(db.conn, dataset))
        texts.update(_texts(db, dataset, ids, p, marks, words))
    info = _record_info(db, [rid for _d, rid in records])
    return [
        Snippet(
            d,
            rid,
            info.get(rid, ("", False))[0],
            texts.get((d, rid), ""),
            info.get(rid, ("", False))[1],
        )
        for d, rid in records
    ]


def distinct(found: Sequence[Snippet], most: int) -> list[Snippet]:
    """The first ``most`` snippets whose dataset and text differ, each counting the others
    that read the same (three segments with the same note are one line, "and 2 more")."""
    kept: dict[tuple[str, str], Snippet] = {}
    for s in found:
        key = (s.dataset, s.text)
        if key in kept:
            k = kept[key]
            kept[key] = Snippet(
                k.dataset, k.record_id, k.interval, k.text, k.superseded, k.same + 1
            )
        elif len(kept) < most:
            kept[key] = s
    return list(kept.values())


def _texts(
    db: Source, dataset: str, ids: list[int], p: Plan, marks: tuple[str, str], words: int
) -> dict[tuple[str, int], str]:
    out: dict[tuple[str, int], str] = {}
    fts = values.quote(searchindex.fts_table(dataset))
    if p.kind == MATCH:
        for n in range(0, len(ids), 200):
            part = ids[n : n + 200]
            for rid, text in db.conn.execute(
                f"""SELECT rowid, snippet({fts}, -1, ?, ?, '…', ?) FROM {fts}
                    WHERE {fts} MATCH ? AND rowid IN ({",".join("?" * len(part))})""",
                [marks[0], marks[1], words, p.expr, *part],
            ):
                out[(dataset, rid)] = text or ""
    missing = [rid for rid in ids if (dataset, rid) not in out]
    if missing:  # matched by dataset: or by NOT alone: the record's first words of text
        text_cols = [c for c in _source_columns(db, dataset, "text")]
        for rid, row in values.fetch(db.conn, dataset, missing).items():
            first = next((row[c] for c in text_cols if row.get(c)), "")
            out[(dataset, rid)] = " ".join(first.split()[:words])
    return out


def _source_columns(db: Source, dataset: str, wanted: str) -> list[str]:
    """The API names of the dataset's columns indexed as ``wanted``."""
    return [d.column for d in searchindex.decisions(db.conn, dataset) if d.field == wanted]


def _record_info(db: Source, ids: list[int]) -> dict[int, tuple[str, bool]]:
    out: dict[int, tuple[str, bool]] = {}
    for n in range(0, len(ids), 500):
        part = ids[n : n + 500]
        for rid, interval, gone in db.conn.execute(
            f"""SELECT r.record_id, r.interval_start,
                       EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id)
                FROM records r WHERE r.record_id IN ({",".join("?" * len(part))})""",
            part,
        ):
            out[rid] = (interval or "", bool(gone))
    return out


def index_problems(db: Source) -> list[str]:
    """Why datasets with records cannot be searched ([] when every one can)."""
    out = []
    for dataset in DATASET_NAMES:
        st = searchindex.state(db.conn, dataset)
        if st.has_values and not st.ready:
            out.append(st.problem)
    return out
