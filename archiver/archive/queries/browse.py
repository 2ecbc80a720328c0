"""Browsing: the dataset streams, their columns, record windows and ids in display order,
and every version of a row with its provenance (the Browse tab and Row history)."""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from archiver.archive import values
from archiver.archive.columns import dataset_columns
from archiver.archive.compact import stream_id
from archiver.archive.hashing import canonical_record, sha256_hex
from archiver.archive.queries.reader import Source
from archiver.archive.versions import describe as describe_commit
from archiver.archive.versions import order_key
from archiver.datasets import DATASETS
from archiver.timerange import DAILY, INTERVAL


def stream_name(dataset: str, dataset_type: str = INTERVAL) -> str:
    """How a dataset stream is named on screen and in calls: 'agent', or 'agent daily'.

    Daily and 15-minute rows of one dataset are separate streams everywhere."""
    return dataset if dataset_type == INTERVAL else f"{dataset} {dataset_type}"


def parse_stream(stream: str) -> tuple[str, str]:
    """The inverse of :func:`stream_name`: (dataset, dataset_type)."""
    name, _, dtype = stream.partition(" ")
    return name, dtype or INTERVAL


@dataclass(frozen=True)
class RecordRow:
    """One record as a view shows it: its values in its own column order."""

    record_id: int
    interval_start: str
    values: dict[str, str]
    conflict: bool
    #: why it has no values: ``disposed on DATE under schedule S (certificate C)`` ('' when
    #: it has them)
    disposed: str = ""


@dataclass(frozen=True)
class Version:
    record_id: int
    commit_ts: str
    values: dict[str, str]
    sha256: str
    conflict: bool
    page_id: int
    row_index: int
    page_sha256: str
    received_at: str
    chain: str
    url: str
    run_id: str
    changed: frozenset[str] = field(
        default_factory=frozenset
    )  # fields that differ from the previous version

    @property
    def commit_text(self) -> str:
        """Its COMMIT_TS as shown: as received, marked when it is not a time (ordered
        before the timed versions, by receipt)."""
        return describe_commit(self.commit_ts)


# -- datasets -----------------------------------------------------------------------------
def dataset_names(db: Source) -> dict[str, int]:
    """The streams :func:`dataset_counts` lists, each 1 if it holds rows, else 0: at once
    (an index probe per stream), where counting scans every stream's index."""
    return _listing(
        db.conn.execute(
            """SELECT s.dataset, s.dataset_type, EXISTS (SELECT 1 FROM records r
               WHERE r.stream_id = s.stream_id) FROM streams s"""
        )
    )


def dataset_counts(db: Source) -> dict[str, int]:
    """Row versions per stream: every dataset's 15-minute stream (0 when absent), and its
    daily stream where the archive has one."""
    return _listing(
        db.conn.execute(
            """SELECT s.dataset, s.dataset_type, (SELECT count(*) FROM records r
               WHERE r.stream_id = s.stream_id) FROM streams s"""
        )
    )


def columns(db: Source, stream: str) -> list[tuple[str, str]]:
    """(name, type) of every column the dataset has had, in API order."""
    dataset, _ = parse_stream(stream)
    names = dataset_columns(db.conn, dataset)
    types: dict[str, str] = {}
    for (current,) in db.conn.execute(
        "SELECT current FROM schema_changes WHERE dataset=? ORDER BY change_id", (dataset,)
    ):
        for c in json.loads(current):
            types[c["name"]] = c["type"]
    if not names and dataset in DATASETS:
        return list(DATASETS[dataset].columns)
    return [(n, types.get(n, "string")) for n in names]


def _stream(db: Source, stream: str) -> int:
    dataset, dtype = parse_stream(stream)
    return stream_id(db.conn, dataset, dtype, create=False) or -1


def archived_span(db: Source, stream: str) -> tuple[str, str] | None:
    """The first and the last own interval (YYYYMMDDHHmm, or day YYYYMMDD) of the
    stream's records, or None when it holds none (an index probe at each end)."""
    sid = _stream(db, stream)
    lo = db.conn.execute(
        """SELECT min(interval_start) FROM records WHERE stream_id=? AND interval_start > ''""",
        (sid,),
    ).fetchone()[0]
    if not lo:
        return None
    hi = db.conn.execute(
        "SELECT max(interval_start) FROM records WHERE stream_id=?", (sid,)
    ).fetchone()[0]
    return str(lo), str(hi)


# -- record windows -----------------------------------------------------------------------
def first_records(
    db: Source, stream: str, after: tuple[str, int] | None, limit: int
) -> list[RecordRow]:
    """Records in (own interval, record_id) order after the keyset ``after``: instant on
    any size (the index records_interval)."""
    sid = _stream(db, stream)
    if after is None:
        rows = db.conn.execute(
            """SELECT record_id, interval_start, conflict FROM records WHERE stream_id=?
               ORDER BY interval_start, record_id LIMIT ?""",
            (sid, limit),
        ).fetchall()
    else:
        rows = db.conn.execute(
            """SELECT record_id, interval_start, conflict FROM records WHERE stream_id=?
               AND (interval_start > ? OR (interval_start = ? AND record_id > ?))
               ORDER BY interval_start, record_id LIMIT ?""",
            (sid, after[0], after[0], after[1], limit),
        ).fetchall()
    return _with_values(db, stream, rows)


def _with_values(db: Source, stream: str, rows: Sequence[Sequence[Any]]) -> list[RecordRow]:
    dataset, _ = parse_stream(stream)
    vals = values.fetch(db.conn, dataset, [r[0] for r in rows])
    missing = [r[0] for r in rows if r[0] not in vals]
    why = disposed_reasons(db, missing) if missing else {}
    return [RecordRow(r[0], r[1], vals.get(r[0], {}), bool(r[2]), why.get(r[0], "")) for r in rows]


def disposed_reasons(db: Source, record_ids: Sequence[int]) -> dict[int, str]:
    """Of these records, those whose values a disposition removed → why (its date, schedule
    and certificate)."""
    if (
        not record_ids
        or db.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='disposed_pages'"
        ).fetchone()
        is None
    ):
        return {}
    return {
        rid: f"disposed on {at[:10]} under schedule {sched} (certificate {cid})"
        for rid, at, sched, cid in db.conn.execute(
            """SELECT r.record_id, d.applied_at, coalesce(i.schedule, d.schedules), d.certificate_id
               FROM records r JOIN disposed_pages p ON p.page_id = r.page_id
               JOIN dispositions d ON d.entry_id = p.entry_id
               JOIN streams s ON s.stream_id = r.stream_id
               LEFT JOIN disposed_intervals i ON i.dataset = s.dataset
                    AND i.dataset_type = s.dataset_type AND i.interval_start = r.interval_start
               WHERE r.record_id IN (SELECT value FROM json_each(?))""",
            (json.dumps(list(record_ids)),),
        )
    }


def record_ids(
    db: Source,
    stream: str,
    *,
    sort: str | None = None,
    descending: bool = False,
    column_filter: tuple[str, str] | None = None,
    search: str | None = None,
    latest_only: bool = False,
    limit: int | None = None,
) -> array[int]:
    """Ids of the matching records in display order (run in a worker: it may scan).
    ``limit``: only the first ones (the window a view shows first)."""
    dataset, _ = parse_stream(stream)
    cols = values.table_columns(db.conn, dataset)
    sorted_by_value = bool(sort and sort in cols)
    by_value = bool(search or column_filter or sorted_by_value)
    # Whether the dataset's values table holds this stream alone (no daily rows beside
    # the 15-minute ones): then a scan ordered by a value needs no records at all.
    sid = _stream(db, stream)
    alone = by_value and sorted_by_value and _streams_of(db, dataset) == [sid]
    rid = "v.record_id" if alone else "r.record_id"
    where: list[str] = [] if alone else ["r.stream_id = ?"]
    params: list[Any] = [] if alone else [sid]
    if latest_only:  # superseded is small (re-issued rows): one in-memory set, probed
        where.append(f"{rid} NOT IN (SELECT record_id FROM superseded)")
    if column_filter and column_filter[1] and column_filter[0] in cols:
        where.append(f"v.{values.col(column_filter[0])} LIKE ?")
        params.append(f"%{column_filter[1]}%")
    if search:
        where.append(values.any_like(cols))
        params += [f"%{search}%"] * len(cols)
    order = f"r.interval_start, {rid}"
    if sort and sorted_by_value:
        typ = dict(columns(db, stream)).get(sort, "string")
        expr = f"v.{values.col(sort)}"
        if typ == "number":
            expr = f"CAST(NULLIF({expr}, '') AS REAL)"
        order = f"{expr} {'DESC' if descending else 'ASC'}, {rid}"
    if alone:
        source = f"{values.table(dataset)} v"
    elif by_value:
        # values drive the scan in their own (record id) order; records are probed by
        # key. Driven the other way, a stream's records come in index order and every
        # value row is a random read.
        source = f"{values.table(dataset)} v CROSS JOIN records r ON r.record_id = v.record_id"
    else:  # the records index alone answers it
        source = "records r"
    sql = f"SELECT {rid} FROM {source}"
    if where:
        sql += f" WHERE {' AND '.join(where)}"
    sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    ids: array[int] = array("q")
    if not cols and (search or column_filter):
        return ids
    cur = db.conn.cursor()
    cur.row_factory = None  # plain tuples: a Row per id doubles the cost of a big list
    cur.execute(sql, params)
    while batch := cur.fetchmany(10_000):
        ids.extend(r[0] for r in batch)
    return ids


def _streams_of(db: Source, dataset: str) -> list[int]:
    """The ids of the dataset's streams (15-minute, daily) in the archive."""
    return [
        r[0] for r in db.conn.execute("SELECT stream_id FROM streams WHERE dataset=?", (dataset,))
    ]


def records_by_id(db: Source, stream: str, ids: Sequence[int]) -> dict[int, RecordRow]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.conn.execute(
        f"SELECT record_id, interval_start, conflict FROM records WHERE record_id IN ({marks})",
        list(ids),
    ).fetchall()
    return {r.record_id: r for r in _with_values(db, stream, rows)}


# -- row history --------------------------------------------------------------------------
def versions(db: Source, record_id: int) -> list[Version]:
    """Every archived version of the record's row, oldest first, with provenance.

    Versions are grouped by the natural key where the dataset has one (a re-issued row
    keeps it even if the pipeline gave it a new ROW_ID), else by the row key."""
    row = db.conn.execute("SELECT * FROM records_view WHERE record_id=?", (record_id,)).fetchone()
    if row is None:
        return []
    dataset = row["dataset"]
    mine = values.fetch(db.conn, dataset, [record_id]).get(record_id, {})
    natural = values.natural_columns(dataset)
    if natural and all(mine.get(c) for c in natural):
        cond = " AND ".join(f"v.{values.col(c)} = ?" for c in natural)
        ids = [
            r[0]
            for r in db.conn.execute(
                f"""SELECT v.record_id FROM {values.table(dataset)} v
                    CROSS JOIN records r ON r.record_id = v.record_id
                    WHERE {cond} AND r.stream_id = ?""",
                (*(mine[c] for c in natural), row["stream_id"]),
            )
        ]
    else:
        ids = [
            r[0]
            for r in db.conn.execute(
                "SELECT record_id FROM records WHERE stream_id=? AND row_key=? AND key_kind=?",
                (row["stream_id"], row["row_key"], row["key_kind"]),
            )
        ]
    return _versions(db, dataset, ids)


def _versions(db: Source, dataset: str, ids: list[int]) -> list[Version]:
    vals = values.fetch(db.conn, dataset, ids)
    marks = ",".join("?" * len(ids))
    rows = {
        r["record_id"]: r
        for r in db.conn.execute(
            f"""SELECT r.record_id, r.conflict, r.page_id, r.row_index,
                      p.sha256 AS page_sha256, p.received_at, p.chain, p.url, p.run_id
               FROM records r JOIN pages p ON p.page_id = r.page_id
               WHERE r.record_id IN ({marks})""",
            ids,
        )
    }
    # COMMIT_TS as a time, then receipt (archive/versions.py): never as text
    order = sorted(
        ids,
        key=lambda i: order_key(
            vals.get(i, {}).get("COMMIT_TS", ""), (rows[i]["page_id"], rows[i]["row_index"])
        ),
    )
    out: list[Version] = []
    prev: dict[str, str] | None = None
    for rid in order:
        r, v = rows[rid], vals.get(rid, {})
        changed = frozenset(k for k in v if prev is not None and prev.get(k) != v[k])
        out.append(
            Version(
                rid,
                v.get("COMMIT_TS", ""),
                v,
                sha256_hex(canonical_record(list(v), list(v.values())).encode()),
                bool(r["conflict"]),
                r["page_id"],
                r["row_index"],
                r["page_sha256"],
                r["received_at"],
                r["chain"],
                r["url"],
                r["run_id"],
                changed,
            )
        )
        prev = v
    return out


def _listing(rows: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    """Stream name → figure, in display order: every registry dataset's 15-minute stream
    (0 when the archive has none), then whatever other streams ``rows`` name."""
    out = {stream_name(name, INTERVAL): 0 for name in DATASETS}
    for name, dtype, n in rows:
        out[stream_name(name, dtype)] = n
    return dict(sorted(out.items(), key=lambda kv: _stream_order(kv[0])))


def _stream_order(stream: str) -> tuple[int, int]:
    dataset, dtype = parse_stream(stream)
    names = list(DATASETS)
    return (names.index(dataset) if dataset in names else len(names), dtype == DAILY)


def interval_values(db: Source, dataset: str, first: str, last: str) -> list[dict[str, str]]:
    """The values of every archived version of the dataset's 15-minute rows whose own
    interval lies in [first, last] (YYYYMMDDHHmm keys)."""
    ids = [
        rid
        for (rid,) in db.conn.execute(
            """SELECT record_id FROM records_view WHERE dataset=? AND dataset_type='interval'
               AND interval_start BETWEEN ? AND ?""",
            (dataset, first, last),
        )
    ]
    return list(values.fetch(db.conn, dataset, ids).values())
