"""Searching the index (archive/searchindex.py) with a parsed query (archiver.searchquery).

A query becomes, for each dataset, one FTS5 expression written here from the parsed terms
(each term quoted as an FTS5 string: user text never reaches MATCH raw), with the fields
mapped to the dataset's columns and ``dataset:`` folded away. The matching records are
grouped by interaction (a transcript message, a segment and a trace step of one interaction
are one hit; a record of a dataset without interactions is a hit of its own), newest
first. Every archived version of a record is searched.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from archiver.archive import searchindex, values
from archiver.archive.compact import stream_ids
from archiver.archive.queries.interactions import INTERACTION_COLUMN
from archiver.archive.queries.reader import Source
from archiver.datasets import DATASET_NAMES
from archiver.jobs import Cancel
from archiver.searchquery import And, Node, Not, Query, Term
from archiver.timerange import DAILY, interval_key

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


@dataclass(frozen=True)
class Target:
    """A dataset as one search asks it: its plan, and the names it is read by (looked up
    once per search)."""

    dataset: str
    plan: Plan
    fields: dict[str, list[str]]
    icol: str | None  # the stored column of its interaction id (None: it has none)
    fts: str  # its index table, quoted
    vals: str  # its values table

    def with_plan(self, p: Plan) -> Target:
        return Target(self.dataset, p, self.fields, self.icol, self.fts, self.vals)


def _target(db: Source, dataset: str, query: Query) -> Target:
    fields = searchindex.fields(db.conn, dataset)
    icol = values.stored_names(db.conn, dataset).get(INTERACTION_COLUMN.get(dataset, ""))
    return Target(
        dataset,
        plan(query.expr, dataset, fields),
        fields,
        icol,
        values.quote(searchindex.fts_table(dataset)),
        values.table(dataset),
    )


def _matches(
    db: Source, t: Target, first: datetime | None, last: datetime | None
) -> Iterator[tuple[int, str, str]]:
    """(record id, own interval, interaction id or '') of the dataset's matching records."""
    conn = db.conn
    p = t.plan
    pick = f"v.{values.quote(t.icol)}" if t.icol else "''"
    join = f"CROSS JOIN {t.vals} v ON v.record_id = r.record_id" if t.icol else ""
    where, bounds = _range_sql(first, last)
    args: list[str | int] = list(bounds)
    if p.kind == MATCH:
        sql = f"""SELECT r.record_id, r.interval_start, {pick} FROM {t.fts} f
                  CROSS JOIN records r ON r.record_id = f.rowid {join}
                  WHERE f.{t.fts} MATCH ?{where}"""
        yield from conn.execute(sql, [p.expr, *args])
        return
    sids = [sid for (d, _t), sid in stream_ids(conn).items() if d == t.dataset]
    marks = ",".join("?" * len(sids))
    sql = f"""SELECT r.record_id, r.interval_start, {pick} FROM records r {join}
              WHERE r.stream_id IN ({marks}){where}"""
    args = [*sids, *args]
    if p.kind == EXCEPT:
        sql += f" AND r.record_id NOT IN (SELECT rowid FROM {t.fts} WHERE {t.fts} MATCH ?)"
        args.append(p.expr)
    yield from conn.execute(sql, args)


def _searchable(
    db: Source, query: Query, datasets: Sequence[str] | None
) -> tuple[list[Target], list[str]]:
    """Each dataset the query may find something in, and the datasets whose index is not
    ready."""
    out: list[Target] = []
    unindexed: list[str] = []
    for dataset in datasets or DATASET_NAMES:
        st = searchindex.state(db.conn, dataset)
        if not st.has_values:
            continue
        if not st.ready:
            unindexed.append(dataset)
            continue
        t = _target(db, dataset, query)
        if t.plan.kind != NOTHING:
            out.append(t)
    return out, unindexed


Match = tuple[str, str, int]  # (own interval, dataset, record id): newest first when sorted


def _hit(key: str, iid: str, recs: list[Match]) -> Hit:
    recs.sort(reverse=True)
    return Hit(key, iid or None, recs[0][0], tuple((d, r) for _i, d, r in recs))


def _key(iid: str, rid: int) -> str:
    return f"interaction {iid}" if iid else f"record {rid}"


def search(
    db: Source,
    query: Query,
    *,
    first: datetime | None = None,
    last: datetime | None = None,
    datasets: Sequence[str] | None = None,
    cancel: Cancel | None = None,
) -> Found:
    """Every hit of ``query`` in the range (first and last 15-minute interval, both
    included; the query's own ``date:`` narrows it further) and datasets (None: all).
    ``cancel`` is checked every few thousand records."""
    first, last = narrowed(first, last, query)
    groups: dict[str, tuple[str, list[Match]]] = {}
    count = 0
    found, unindexed = _searchable(db, query, datasets)
    for t in found:
        for rid, interval, iid in _matches(db, t, first, last):
            count += 1
            if cancel is not None and count % 4096 == 0:
                cancel.check()
            entry = groups.setdefault(_key(iid, rid), (iid, []))
            entry[1].append((interval or "", t.dataset, rid))
    hits = [_hit(key, iid, recs) for key, (iid, recs) in groups.items()]
    hits.sort(key=lambda h: (h.newest, h.key), reverse=True)
    return Found(hits, count, unindexed)


# -- the first hits, fast -----------------------------------------------------------------
#: A dataset's matches are read whole when they are few; when they are many (a common
#: word), its records are walked newest first (the records' interval index) a batch at a
#: time and each batch asked of the index, so the newest hits come without reading every
#: match. Reading costs about READ_COST per match, walking WALK_COST per record walked,
#: and a walk goes through about WALK_RECORDS × (records / matches) records: it wins when
#: matches² > WALK_RECORDS × records × WALK_COST / READ_COST.
READ_COST = 5.0
WALK_COST = 1.0
WALK_RECORDS = 60
WALK_BATCH = 256


def first_hits(
    db: Source,
    query: Query,
    want: int,
    *,
    first: datetime | None = None,
    last: datetime | None = None,
    datasets: Sequence[str] | None = None,
) -> list[Hit]:
    """The newest ``want`` hits of :func:`search` (the same hits, in the same order, with
    all their records), found without reading every match: what a screen shows first."""
    first, last = narrowed(first, last, query)
    found, _unindexed = _searchable(db, query, datasets)
    streams = [
        ((iv, t.dataset, rid, iid) for iv, rid, iid in _newest_first(db, t, first, last))
        for t in found
    ]
    groups: dict[str, str] = {}
    newest: dict[str, str] = {}
    boundary: str | None = None
    for interval, _dataset, rid, iid in heapq.merge(*streams, reverse=True):
        if boundary is not None and interval != boundary:
            break  # every hit as new as the last one wanted has been seen
        key = _key(iid, rid)
        if key not in groups:
            groups[key] = iid
            newest[key] = interval
            if len(groups) == want:
                boundary = interval
    keys = sorted(groups, key=lambda k: (newest[k], k), reverse=True)[:want]
    return _groups(db, keys, groups, found, first, last)


def _newest_first(
    db: Source, t: Target, first: datetime | None, last: datetime | None
) -> Iterator[tuple[str, int, str]]:
    """(own interval, record id, interaction id) of the dataset's matches, newest first."""
    if t.plan.kind == MATCH:
        (n,) = db.conn.execute(
            f"SELECT count(*) FROM {t.fts} WHERE {t.fts} MATCH ?", (t.plan.expr,)
        ).fetchone()
        span = id_span(db, t.vals)  # at least the dataset's records
        if n * n * READ_COST <= WALK_RECORDS * span * WALK_COST:
            rows = [(iv or "", rid, iid) for rid, iv, iid in _matches(db, t, first, last)]
            yield from sorted(rows, reverse=True)
            return
    walks = [
        _walk(db, t, sid, dtype, first, last)
        for (d, dtype), sid in stream_ids(db.conn).items()
        if d == t.dataset
    ]
    yield from heapq.merge(*walks, reverse=True)


def id_span_sql(table: str) -> str:
    """The SQL of :func:`id_span`: min and max as two subqueries, each one step down the
    rowid b-tree. (``SELECT min(record_id), max(record_id)`` in one select reads the whole
    table, or a covering index of it: SQLite only takes the shortcut for a lone min or max.
    On a 5.8 GB archive that cost two seconds a search, hit or no hit.)"""
    return f"SELECT (SELECT min(record_id) FROM {table}), (SELECT max(record_id) FROM {table})"


def id_span(db: Source, table: str) -> int:
    """max - min + 1 of the record ids of the values table ``table`` (0 when empty)."""
    lo, hi = db.conn.execute(id_span_sql(table)).fetchone()
    return int(hi - lo + 1) if lo is not None else 0


def _walk(
    db: Source,
    t: Target,
    sid: int,
    dataset_type: str,
    first: datetime | None,
    last: datetime | None,
) -> Iterator[tuple[str, int, str]]:
    """One stream's records newest first, a batch at a time, each batch asked of the index."""
    conn = db.conn
    size = 8 if dataset_type == DAILY else 12
    lo = interval_key(first)[:size] if first else ""
    hi = interval_key(last)[:size] if last else "9" * size
    cur = conn.execute(
        """SELECT record_id, interval_start FROM records
           WHERE stream_id = ? AND interval_start BETWEEN ? AND ?
           ORDER BY interval_start DESC, record_id DESC""",
        (sid, lo, hi),
    )
    while batch := cur.fetchmany(WALK_BATCH):
        ids = [rid for rid, _iv in batch]
        keep = set(ids)
        if t.plan.kind != EVERYTHING:
            matched = _matching(db, t, ids)
            keep = matched if t.plan.kind == MATCH else keep - matched
        iids: dict[int, str] = {}
        if t.icol and keep:
            wanted = sorted(keep)
            iids = dict(
                conn.execute(
                    f"""SELECT record_id, {values.quote(t.icol)} FROM {t.vals}
                        WHERE record_id IN ({",".join("?" * len(wanted))})""",
                    wanted,
                ).fetchall()
            )
        for rid, iv in batch:
            if rid in keep:
                yield iv or "", rid, iids.get(rid) or ""
    cur.close()


#: record ids further apart than this are asked of the index in separate ranges
RANGE_GAP = 20_000


def _matching(db: Source, t: Target, ids: Sequence[int]) -> set[int]:
    """Those of ``ids`` that the index matches with ``t``'s expression: one question per
    range of close ids (the index finds a range's matches at once; asked id by id, it
    would read the expression again for each)."""
    if not ids:
        return set()
    wanted = set(ids)
    order = sorted(wanted)
    out: set[int] = set()
    start = prev = order[0]
    for rid in [*order[1:], None]:
        if rid is not None and rid - prev <= RANGE_GAP:
            prev = rid
            continue
        out.update(
            r
            for (r,) in db.conn.execute(
                f"SELECT rowid FROM {t.fts} WHERE {t.fts} MATCH ? AND rowid BETWEEN ? AND ?",
                (t.plan.expr, start, prev),
            )
            if r in wanted
        )
        if rid is not None:
            start = prev = rid
    return out


def _groups(
    db: Source,
    keys: list[str],
    iids: dict[str, str],
    targets: list[Target],
    first: datetime | None,
    last: datetime | None,
) -> list[Hit]:
    """The hits of ``keys`` with all their matching records: an interaction's records found
    by its id (the values' lookup index), then asked of the index; a record of its own is
    itself."""
    conn = db.conn
    wanted = sorted({iids[k] for k in keys if iids[k]})
    recs: dict[str, list[Match]] = {k: [] for k in keys}
    for t in targets:
        if not (t.icol and wanted):
            continue
        ids = dict(
            conn.execute(
                f"""SELECT record_id, {values.quote(t.icol)} FROM {t.vals}
                    WHERE {values.quote(t.icol)} IN ({",".join("?" * len(wanted))})""",
                wanted,
            ).fetchall()
        )
        for rid, interval in _in_range(db, t, list(ids), first, last):
            recs[_key(ids[rid], rid)].append((interval, t.dataset, rid))
    alone = [int(k.split()[-1]) for k in keys if not iids[k]]
    streams = {sid: d for (d, _t), sid in stream_ids(conn).items()}
    for n in range(0, len(alone), 500):
        part = alone[n : n + 500]
        for rid, interval, sid in conn.execute(
            f"""SELECT record_id, interval_start, stream_id FROM records
                WHERE record_id IN ({",".join("?" * len(part))})""",
            part,
        ):
            recs[_key("", rid)].append((interval or "", streams[sid], rid))
    return [_hit(k, iids[k], recs[k]) for k in keys]


def _in_range(
    db: Source, t: Target, ids: list[int], first: datetime | None, last: datetime | None
) -> list[tuple[int, str]]:
    """(record id, own interval) of those of ``ids`` that match ``t``'s plan in the range."""
    if not ids:
        return []
    conn = db.conn
    keep = set(ids)
    if t.plan.kind != EVERYTHING:
        matched = _matching(db, t, ids)
        keep = matched if t.plan.kind == MATCH else keep - matched
    where, bounds = _range_sql(first, last)
    found = sorted(keep)
    return (
        [
            (rid, interval or "")
            for rid, interval in conn.execute(
                f"""SELECT r.record_id, r.interval_start FROM records r
                WHERE r.record_id IN ({",".join("?" * len(found))}){where}""",
                [*found, *bounds],
            )
        ]
        if found
        else []
    )


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
        t = _target(db, dataset, query)
        texts.update(_texts(db, dataset, ids, t.plan, marks, words))
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
