"""Read-only queries behind the review screens (browser, row history, interactions,
coverage, audit log). Plain Python and SQLite: the GUI and the tests call these."""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.archive import coverage as cov
from archiver.archive.columns import dataset_columns
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
    def dataset_counts(self) -> dict[str, int]:
        """Row versions per stream: every dataset's 15-minute stream (0 when absent), and
        its daily stream where the archive has one."""
        counts = dict.fromkeys(DATASETS, 0)
        daily: dict[str, int] = {}
        for name, dtype, n in self.conn.execute(
            "SELECT dataset, dataset_type, count(*) FROM records GROUP BY dataset, dataset_type"
        ):
            if dtype == DAILY:
                daily[stream_name(name, dtype)] = n
            else:
                counts[name] = n
        for name in list(DATASETS):
            key = stream_name(name, DAILY)
            if key in daily:
                counts[key] = daily.pop(key)
        counts.update(daily)
        return dict(sorted(counts.items(), key=lambda kv: _stream_order(kv[0])))

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

    # -- record windows -------------------------------------------------------------------
    def first_records(
        self, stream: str, after: tuple[str, int] | None, limit: int
    ) -> list[sqlite3.Row]:
        """Records in (row_date, record_id) order after the keyset ``after``: instant on any size."""
        dataset, dtype = parse_stream(stream)
        if after is None:
            sql = "SELECT record_id, row_date, values_json, commit_ts, conflict FROM records WHERE dataset=? AND dataset_type=? ORDER BY row_date, record_id LIMIT ?"
            return self.conn.execute(sql, (dataset, dtype, limit)).fetchall()
        sql = """SELECT record_id, row_date, values_json, commit_ts, conflict FROM records
                 WHERE dataset=? AND dataset_type=? AND (row_date > ? OR (row_date = ? AND record_id > ?))
                 ORDER BY row_date, record_id LIMIT ?"""
        return self.conn.execute(
            sql, (dataset, dtype, after[0], after[0], after[1], limit)
        ).fetchall()

    def record_ids(
        self,
        stream: str,
        *,
        sort: str | None = None,
        descending: bool = False,
        column_filter: tuple[str, str] | None = None,
        search: str | None = None,
        latest_only: bool = False,
    ) -> array[int]:
        """Ids of the matching records in display order (run in a worker: it may scan)."""
        src = "latest" if latest_only else "records"
        dataset, dtype = parse_stream(stream)
        where = ["dataset = ?", "dataset_type = ?"]
        params: list[Any] = [dataset, dtype]
        if column_filter and column_filter[1]:
            where.append("json_extract(values_json, ?) LIKE ?")
            params += [f'$."{column_filter[0]}"', f"%{column_filter[1]}%"]
        if search:
            where.append("values_json LIKE ?")
            params.append(f"%{search}%")
        order = "row_date, record_id"
        if sort:
            typ = dict(self.columns(stream)).get(sort, "string")
            expr = "json_extract(values_json, ?)"
            if typ == "number":
                expr = f"CAST(NULLIF({expr}, '') AS REAL)"
            order = f"{expr} {'DESC' if descending else 'ASC'}, record_id"
            params.append(f'$."{sort}"')
        sql = f"SELECT record_id FROM {src} WHERE {' AND '.join(where)} ORDER BY {order}"
        ids: array[int] = array("q")
        cur = self.conn.execute(sql, params)
        while batch := cur.fetchmany(10_000):
            ids.extend(r[0] for r in batch)
        return ids

    def records_by_id(self, ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT record_id, row_date, values_json, commit_ts, conflict FROM records WHERE record_id IN ({marks})",
            list(ids),
        )
        return {r["record_id"]: r for r in rows}

    # -- row history ----------------------------------------------------------------------
    def versions(self, record_id: int) -> list[Version]:
        """Every archived version of the record's row, oldest first, with provenance.

        Versions are grouped by the natural key where the dataset has one (a re-issued row
        keeps it even if the pipeline gave it a new ROW_ID), else by the row key."""
        row = self.conn.execute(
            "SELECT dataset, dataset_type, row_key, key_kind, natural_key FROM records WHERE record_id=?",
            (record_id,),
        ).fetchone()
        if row is None:
            return []
        if row["natural_key"]:
            where = "r.dataset=? AND r.natural_key=? AND r.dataset_type=?"
            args: tuple[str, ...] = (row["dataset"], row["natural_key"])
        else:
            where = "r.dataset=? AND r.row_key=? AND r.key_kind=? AND r.dataset_type=?"
            args = (row["dataset"], row["row_key"], row["key_kind"])
        rows = self.conn.execute(
            f"""SELECT r.record_id, r.commit_ts, r.values_json, r.sha256, r.conflict, r.page_id, r.row_index,
                      p.sha256 AS page_sha256, p.received_at, p.chain, p.url, p.run_id
               FROM records r JOIN pages p ON p.page_id = r.page_id
               WHERE {where} ORDER BY r.commit_ts, r.record_id""",
            (*args, row["dataset_type"]),
        ).fetchall()
        out: list[Version] = []
        prev: dict[str, str] | None = None
        for r in rows:
            values = json.loads(r["values_json"])
            changed = frozenset(k for k in values if prev is not None and prev.get(k) != values[k])
            out.append(
                Version(
                    r["record_id"],
                    r["commit_ts"],
                    values,
                    r["sha256"],
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
            prev = values
        return out

    # -- interactions ---------------------------------------------------------------------
    def has_records(self, dataset: str) -> bool:
        """Whether the archive holds any row of ``dataset`` (cheap: one index probe)."""
        row = self.conn.execute(
            "SELECT 1 FROM records WHERE dataset=? LIMIT 1", (dataset,)
        ).fetchone()
        return row is not None

    def find_interactions(self, text: str, limit: int = 200) -> list[tuple[str, str, int]]:
        """(interaction id, first segment start day, segments) whose id or values contain ``text``."""
        sql = """SELECT json_extract(values_json, '$.INTERACTION_ID') AS iid, min(row_date), count(*)
                 FROM latest WHERE dataset='interactionSegments' AND dataset_type='interval' AND values_json LIKE ?
                 GROUP BY iid ORDER BY min(row_date) DESC, iid LIMIT ?"""
        return [(r[0], r[1], r[2]) for r in self.conn.execute(sql, (f"%{text}%", limit))]

    def interaction(self, interaction_id: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """(segments by SEGMENT_NUMBER, workflow trace steps by start time), latest versions."""
        segs = [
            json.loads(v)
            for (v,) in self.conn.execute(
                "SELECT values_json FROM latest WHERE dataset='interactionSegments' AND dataset_type='interval' AND json_extract(values_json, '$.INTERACTION_ID') = ?",
                (interaction_id,),
            )
        ]
        segs.sort(key=lambda s: (int(s.get("SEGMENT_NUMBER") or 0), s.get("END_TIME", "")))
        steps = [
            json.loads(v)
            for (v,) in self.conn.execute(
                "SELECT values_json FROM latest WHERE dataset='workflowTrace' AND dataset_type='interval' AND json_extract(values_json, '$.WORKFLOWSESSION_INTERACTIONID') = ?",
                (interaction_id,),
            )
        ]
        steps.sort(key=lambda s: s.get("UPDATEHISTORYITEM_STARTTIME", ""))
        return segs, steps

    # -- coverage and audit ---------------------------------------------------------------
    def coverage(self, detail: bool = False) -> list[cov.DayCoverage]:
        """Per dataset stream and day: requested, walked, pending, … (archive/coverage.py)."""
        return cov.day_coverage(self.conn, detail=detail)

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


def _stream_order(stream: str) -> tuple[int, int]:
    dataset, dtype = parse_stream(stream)
    names = list(DATASETS)
    return (names.index(dataset) if dataset in names else len(names), dtype == DAILY)
