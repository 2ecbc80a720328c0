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

from archiver.archive.export import dataset_columns
from archiver.archive.store import open_reader
from archiver.datasets import DATASETS


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


@dataclass(frozen=True)
class CoverageCell:
    dataset: str
    day: str  # YYYY-MM-DD
    states: dict[str, int]  # state → chunks
    rows: int
    messages: tuple[str, ...]

    @property
    def state(self) -> str:
        """The worst state of the day: failed > not_entitled > pending > in_progress > done."""
        for s in ("failed", "not_entitled", "pending", "in_progress", "done"):
            if self.states.get(s):
                return s
        return "none"


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
        """Row versions per dataset (every dataset of the registry, 0 when absent)."""
        counts = dict.fromkeys(DATASETS, 0)
        for name, n in self.conn.execute("SELECT dataset, count(*) FROM records GROUP BY dataset"):
            counts[name] = n
        return counts

    def columns(self, dataset: str) -> list[tuple[str, str]]:
        """(name, type) of every column the dataset has had, in API order."""
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
        self, dataset: str, after: tuple[str, int] | None, limit: int
    ) -> list[sqlite3.Row]:
        """Records in (row_date, record_id) order after the keyset ``after``: instant on any size."""
        if after is None:
            sql = "SELECT record_id, row_date, values_json, commit_ts, conflict FROM records WHERE dataset=? ORDER BY row_date, record_id LIMIT ?"
            return self.conn.execute(sql, (dataset, limit)).fetchall()
        sql = """SELECT record_id, row_date, values_json, commit_ts, conflict FROM records
                 WHERE dataset=? AND (row_date > ? OR (row_date = ? AND record_id > ?))
                 ORDER BY row_date, record_id LIMIT ?"""
        return self.conn.execute(sql, (dataset, after[0], after[0], after[1], limit)).fetchall()

    def record_ids(
        self,
        dataset: str,
        *,
        sort: str | None = None,
        descending: bool = False,
        column_filter: tuple[str, str] | None = None,
        search: str | None = None,
        latest_only: bool = False,
    ) -> array:
        """Ids of the matching records in display order (run in a worker: it may scan)."""
        src = "latest" if latest_only else "records"
        where = ["dataset = ?"]
        params: list[Any] = [dataset]
        if column_filter and column_filter[1]:
            where.append("json_extract(values_json, ?) LIKE ?")
            params += [f'$."{column_filter[0]}"', f"%{column_filter[1]}%"]
        if search:
            where.append("values_json LIKE ?")
            params.append(f"%{search}%")
        order = "row_date, record_id"
        if sort:
            typ = dict(self.columns(dataset)).get(sort, "string")
            expr = "json_extract(values_json, ?)"
            if typ == "number":
                expr = f"CAST(NULLIF({expr}, '') AS REAL)"
            order = f"{expr} {'DESC' if descending else 'ASC'}, record_id"
            params.append(f'$."{sort}"')
        sql = f"SELECT record_id FROM {src} WHERE {' AND '.join(where)} ORDER BY {order}"
        ids = array("q")
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
        """Every archived version of the record's key, oldest first, with provenance."""
        row = self.conn.execute(
            "SELECT dataset, row_key FROM records WHERE record_id=?", (record_id,)
        ).fetchone()
        if row is None:
            return []
        rows = self.conn.execute(
            """SELECT r.record_id, r.commit_ts, r.values_json, r.sha256, r.conflict, r.page_id, r.row_index,
                      p.sha256 AS page_sha256, p.received_at, p.chain, p.url, p.run_id
               FROM records r JOIN pages p ON p.page_id = r.page_id
               WHERE r.dataset=? AND r.row_key=? ORDER BY r.commit_ts, r.record_id""",
            (row["dataset"], row["row_key"]),
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
    def find_interactions(self, text: str, limit: int = 200) -> list[tuple[str, str, int]]:
        """(interaction id, first segment start day, segments) whose id or values contain ``text``."""
        sql = """SELECT json_extract(values_json, '$.INTERACTION_ID') AS iid, min(row_date), count(*)
                 FROM latest WHERE dataset='interactionSegments' AND values_json LIKE ?
                 GROUP BY iid ORDER BY min(row_date) DESC, iid LIMIT ?"""
        return [(r[0], r[1], r[2]) for r in self.conn.execute(sql, (f"%{text}%", limit))]

    def interaction(self, interaction_id: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """(segments by SEGMENT_NUMBER, workflow trace steps by start time), latest versions."""
        segs = [
            json.loads(v)
            for (v,) in self.conn.execute(
                "SELECT values_json FROM latest WHERE dataset='interactionSegments' AND json_extract(values_json, '$.INTERACTION_ID') = ?",
                (interaction_id,),
            )
        ]
        segs.sort(key=lambda s: (int(s.get("SEGMENT_NUMBER") or 0), s.get("END_TIME", "")))
        steps = [
            json.loads(v)
            for (v,) in self.conn.execute(
                "SELECT values_json FROM latest WHERE dataset='workflowTrace' AND json_extract(values_json, '$.WORKFLOWSESSION_INTERACTIONID') = ?",
                (interaction_id,),
            )
        ]
        steps.sort(key=lambda s: s.get("UPDATEHISTORYITEM_STARTTIME", ""))
        return segs, steps

    # -- coverage and audit ---------------------------------------------------------------
    def coverage(self) -> list[CoverageCell]:
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        for r in self.conn.execute(
            "SELECT dataset, chunk_start, state, rows, message FROM coverage ORDER BY dataset, chunk_start"
        ):
            s = r["chunk_start"]
            day = f"{s[:4]}-{s[4:6]}-{s[6:8]}"
            c = cells.setdefault((r["dataset"], day), {"states": {}, "rows": 0, "messages": []})
            c["states"][r["state"]] = c["states"].get(r["state"], 0) + 1
            c["rows"] += r["rows"]
            if r["message"] and r["message"] not in c["messages"]:
                c["messages"].append(r["message"])
        return [
            CoverageCell(d, day, v["states"], v["rows"], tuple(v["messages"]))
            for (d, day), v in sorted(cells.items())
        ]

    def audit_log(self) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT entry_id, at, event, os_user, tool_version, run_id, details, chain FROM audit_log ORDER BY entry_id DESC"
        ).fetchall()

    def unfinished_runs(self) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT run_id, started_at, params FROM runs WHERE status IN ('running','interrupted') ORDER BY started_at DESC"
        ).fetchall()

    def chain_head(self) -> sqlite3.Row:
        return self.conn.execute("SELECT * FROM chain_head").fetchone()
