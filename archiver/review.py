"""Read-only queries behind the review screens (browser, row history, interactions,
coverage, audit log). Plain Python and SQLite: the GUI and the tests call these."""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.archive import values
from archiver.archive.columns import dataset_columns
from archiver.archive.compact import stream_id
from archiver.archive.hashing import canonical_record, sha256_hex
from archiver.archive.store import open_reader
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


class ArchiveReader:
    """One read-only connection to an archive; cheap queries only (bulk work runs in workers)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = open_reader(self.path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- datasets -------------------------------------------------------------------------
    def dataset_names(self) -> dict[str, int]:
        """The streams :meth:`dataset_counts` lists, each 1 if it holds rows, else 0: at
        once (an index probe per stream), where counting scans every stream's index."""
        return _listing(
            self.conn.execute(
                """SELECT s.dataset, s.dataset_type, EXISTS (SELECT 1 FROM records r
                   WHERE r.stream_id = s.stream_id) FROM streams s"""
            )
        )

    def dataset_counts(self) -> dict[str, int]:
        """Row versions per stream: every dataset's 15-minute stream (0 when absent), and
        its daily stream where the archive has one."""
        return _listing(
            self.conn.execute(
                """SELECT s.dataset, s.dataset_type, (SELECT count(*) FROM records r
                   WHERE r.stream_id = s.stream_id) FROM streams s"""
            )
        )

    def columns(self, stream: str) -> list[tuple[str, str]]:
        """(name, type) of every column the dataset has had, in API order."""
        dataset, _ = parse_stream(stream)
        names = dataset_columns(self.conn, dataset)
        types: dict[str, str] = {}
        for (current,) in self.conn.execute(
            "SELECT current FROM schema_changes WHERE dataset=? ORDER BY change_id", (dataset,)
        ):
            for c in json.loads(current):
                types[c["name"]] = c["type"]
        if not names and dataset in DATASETS:
            return list(DATASETS[dataset].columns)
        return [(n, types.get(n, "string")) for n in names]

    def _stream(self, stream: str) -> int:
        dataset, dtype = parse_stream(stream)
        return stream_id(self.conn, dataset, dtype, create=False) or -1

    # -- record windows -------------------------------------------------------------------
    def first_records(
        self, stream: str, after: tuple[str, int] | None, limit: int
    ) -> list[RecordRow]:
        """Records in (own interval, record_id) order after the keyset ``after``: instant on
        any size (the index records_interval)."""
        sid = self._stream(stream)
        if after is None:
            rows = self.conn.execute(
                """SELECT record_id, interval_start, conflict FROM records WHERE stream_id=?
                   ORDER BY interval_start, record_id LIMIT ?""",
                (sid, limit),
            ).fetchall()
        else:
            rows = self.conn.execute(
                """SELECT record_id, interval_start, conflict FROM records WHERE stream_id=?
                   AND (interval_start > ? OR (interval_start = ? AND record_id > ?))
                   ORDER BY interval_start, record_id LIMIT ?""",
                (sid, after[0], after[0], after[1], limit),
            ).fetchall()
        return self._with_values(stream, rows)

    def _with_values(self, stream: str, rows: Sequence[sqlite3.Row]) -> list[RecordRow]:
        dataset, _ = parse_stream(stream)
        vals = values.fetch(self.conn, dataset, [r[0] for r in rows])
        return [RecordRow(r[0], r[1], vals.get(r[0], {}), bool(r[2])) for r in rows]

    def record_ids(
        self,
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
        cols = values.table_columns(self.conn, dataset)
        sorted_by_value = bool(sort and sort in cols)
        by_value = bool(search or column_filter or sorted_by_value)
        # Whether the dataset's values table holds this stream alone (no daily rows beside
        # the 15-minute ones): then a scan ordered by a value needs no records at all.
        sid = self._stream(stream)
        alone = by_value and sorted_by_value and self._streams_of(dataset) == [sid]
        rid = "v.record_id" if alone else "r.record_id"
        where: list[str] = [] if alone else ["r.stream_id = ?"]
        params: list[Any] = [] if alone else [sid]
        if latest_only:  # superseded is small (re-issued rows): one in-memory set, probed
            where.append(f"{rid} NOT IN (SELECT record_id FROM superseded)")
        if column_filter and column_filter[1] and column_filter[0] in cols:
            where.append(f"v.{values.quote(column_filter[0])} LIKE ?")
            params.append(f"%{column_filter[1]}%")
        if search:
            where.append("(" + " OR ".join(f"v.{values.quote(c)} LIKE ?" for c in cols) + ")")
            params += [f"%{search}%"] * len(cols)
        order = f"r.interval_start, {rid}"
        if sort and sorted_by_value:
            typ = dict(self.columns(stream)).get(sort, "string")
            expr = f"v.{values.quote(sort)}"
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
        cur = self.conn.cursor()
        cur.row_factory = None  # plain tuples: a Row per id doubles the cost of a big list
        cur.execute(sql, params)
        while batch := cur.fetchmany(10_000):
            ids.extend(r[0] for r in batch)
        return ids

    def _streams_of(self, dataset: str) -> list[int]:
        """The ids of the dataset's streams (15-minute, daily) in the archive."""
        return [
            r[0]
            for r in self.conn.execute("SELECT stream_id FROM streams WHERE dataset=?", (dataset,))
        ]

    def records_by_id(self, stream: str, ids: Sequence[int]) -> dict[int, RecordRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT record_id, interval_start, conflict FROM records WHERE record_id IN ({marks})",
            list(ids),
        ).fetchall()
        return {r.record_id: r for r in self._with_values(stream, rows)}

    # -- row history ----------------------------------------------------------------------
    def versions(self, record_id: int) -> list[Version]:
        """Every archived version of the record's row, oldest first, with provenance.

        Versions are grouped by the natural key where the dataset has one (a re-issued row
        keeps it even if the pipeline gave it a new ROW_ID), else by the row key."""
        row = self.conn.execute(
            "SELECT * FROM records_view WHERE record_id=?", (record_id,)
        ).fetchone()
        if row is None:
            return []
        dataset = row["dataset"]
        mine = values.fetch(self.conn, dataset, [record_id]).get(record_id, {})
        natural = values.natural_columns(dataset)
        if natural and all(mine.get(c) for c in natural):
            cond = " AND ".join(f"v.{values.quote(c)} = ?" for c in natural)
            ids = [
                r[0]
                for r in self.conn.execute(
                    f"""SELECT v.record_id FROM {values.table(dataset)} v
                        CROSS JOIN records r ON r.record_id = v.record_id
                        WHERE {cond} AND r.stream_id = ?""",
                    (*(mine[c] for c in natural), row["stream_id"]),
                )
            ]
        else:
            ids = [
                r[0]
                for r in self.conn.execute(
                    "SELECT record_id FROM records WHERE stream_id=? AND row_key=? AND key_kind=?",
                    (row["stream_id"], row["row_key"], row["key_kind"]),
                )
            ]
        return self._versions(dataset, ids)

    def _versions(self, dataset: str, ids: list[int]) -> list[Version]:
        vals = values.fetch(self.conn, dataset, ids)
        marks = ",".join("?" * len(ids))
        rows = {
            r["record_id"]: r
            for r in self.conn.execute(
                f"""SELECT r.record_id, r.conflict, r.page_id, r.row_index,
                          p.sha256 AS page_sha256, p.received_at, p.chain, p.url, p.run_id
                   FROM records r JOIN pages p ON p.page_id = r.page_id
                   WHERE r.record_id IN ({marks})""",
                ids,
            )
        }
        order = sorted(ids, key=lambda i: (vals.get(i, {}).get("COMMIT_TS", ""), i))
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

    # -- interactions ---------------------------------------------------------------------
    def has_records(self, dataset: str) -> bool:
        """Whether the archive holds any row of ``dataset``, in any of its streams (cheap:
        an index probe per stream)."""
        row = self.conn.execute(
            """SELECT 1 FROM records
               WHERE stream_id IN (SELECT stream_id FROM streams WHERE dataset=?) LIMIT 1""",
            (dataset,),
        ).fetchone()
        return row is not None

    def find_interactions(self, text: str, limit: int = 200) -> list[tuple[str, str, int]]:
        """(interaction id, first segment start day, segments) whose id starts with ``text``
        (an index lookup); when none does, those whose values contain it."""
        t = values.table("interactionSegments")
        if not values.table_columns(self.conn, "interactionSegments"):
            return []
        sid = stream_id(self.conn, "interactionSegments", "interval", create=False) or -1
        head = f"""SELECT v."INTERACTION_ID", min(r.interval_start), count(*)
                   FROM {t} v CROSS JOIN records r ON r.record_id = v.record_id
                   WHERE r.stream_id = ?
                     AND NOT EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id)"""
        tail = """ GROUP BY v."INTERACTION_ID" ORDER BY min(r.interval_start) DESC, 1 LIMIT ?"""
        hits = self.conn.execute(
            head + """ AND v."INTERACTION_ID" >= ? AND v."INTERACTION_ID" < ?""" + tail,
            (sid, text, text + "\U0010ffff", limit),
        ).fetchall()
        if not hits:
            cols = values.table_columns(self.conn, "interactionSegments")
            like = " OR ".join(f"v.{values.quote(c)} LIKE ?" for c in cols)
            hits = self.conn.execute(
                head + f" AND ({like})" + tail, (sid, *[f"%{text}%"] * len(cols), limit)
            ).fetchall()
        return [(r[0], _day(r[1]), r[2]) for r in hits]

    def archived_span(self, stream: str) -> tuple[str, str] | None:
        """The first and the last own interval (YYYYMMDDHHmm, or day YYYYMMDD) of the
        stream's records, or None when it holds none (an index probe at each end)."""
        sid = self._stream(stream)
        lo = self.conn.execute(
            """SELECT min(interval_start) FROM records WHERE stream_id=? AND interval_start > ''""",
            (sid,),
        ).fetchone()[0]
        if not lo:
            return None
        hi = self.conn.execute(
            "SELECT max(interval_start) FROM records WHERE stream_id=?", (sid,)
        ).fetchone()[0]
        return str(lo), str(hi)

    def interaction_count(self) -> int:
        """Interactions in the archive (archiver.counts.INTERACTIONS): distinct
        INTERACTION_ID values among the 15-minute interactionSegments records."""
        if "INTERACTION_ID" not in values.table_columns(self.conn, "interactionSegments"):
            return 0
        sid = stream_id(self.conn, "interactionSegments", "interval", create=False) or -1
        (n,) = self.conn.execute(
            f"""SELECT count(DISTINCT v."INTERACTION_ID") FROM
                {values.table("interactionSegments")} v
                CROSS JOIN records r ON r.record_id = v.record_id WHERE r.stream_id = ?""",
            (sid,),
        ).fetchone()
        return int(n)

    def interaction(self, interaction_id: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """(segments by SEGMENT_NUMBER, workflow trace steps by start time), latest versions."""
        segs = self._latest_by("interactionSegments", "INTERACTION_ID", interaction_id)
        segs.sort(key=lambda s: (int(s.get("SEGMENT_NUMBER") or 0), s.get("END_TIME", "")))
        steps = self._latest_by("workflowTrace", "WORKFLOWSESSION_INTERACTIONID", interaction_id)
        steps.sort(key=lambda s: s.get("UPDATEHISTORYITEM_STARTTIME", ""))
        return segs, steps

    def _latest_by(self, dataset: str, column: str, value: str) -> list[dict[str, str]]:
        if column not in values.table_columns(self.conn, dataset):
            return []
        sid = stream_id(self.conn, dataset, "interval", create=False) or -1
        ids = [
            r[0]
            for r in self.conn.execute(
                f"""SELECT v.record_id FROM {values.table(dataset)} v
                    CROSS JOIN records r ON r.record_id = v.record_id
                    WHERE v.{values.quote(column)} = ? AND r.stream_id = ?
                      AND NOT EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id)""",
                (value, sid),
            )
        ]
        return list(values.fetch(self.conn, dataset, ids).values())

    # -- audit ---------------------------------------------------------------------------
    def audit_log(self) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT entry_id, at, event, os_user, tool_version, run_id, details, chain FROM audit_log ORDER BY entry_id DESC"
        ).fetchall()

    def audit_ids(self) -> array[int]:
        """Ids of every audit entry, newest first (the Audit tab holds these, and reads
        the entries it shows with :meth:`audit_entries`)."""
        ids: array[int] = array("q")
        cur = self.conn.execute("SELECT entry_id FROM audit_log ORDER BY entry_id DESC")
        while batch := cur.fetchmany(10_000):
            ids.extend(r[0] for r in batch)
        return ids

    def audit_entries(self, ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        """The audit entries with these ids, by id (the columns of :meth:`audit_log`)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT entry_id, at, event, os_user, tool_version, run_id, details, chain FROM audit_log WHERE entry_id IN ({marks})",
            list(ids),
        )
        return {r["entry_id"]: r for r in rows}

    def unfinished_runs(self) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT run_id, started_at, params FROM runs WHERE status IN ('running','interrupted') ORDER BY started_at DESC"
        ).fetchall()

    def chain_head(self) -> sqlite3.Row:
        row: sqlite3.Row = self.conn.execute("SELECT * FROM chain_head").fetchone()
        return row


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


def _day(interval: str) -> str:
    """YYYY-MM-DD of an interval key (YYYYMMDDHHmm or YYYYMMDD)."""
    return f"{interval[:4]}-{interval[4:6]}-{interval[6:8]}" if len(interval) >= 8 else interval
