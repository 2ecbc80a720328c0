"""``export-dataset``'s reads: one dataset stream's records with their provenance, in
(day, key) order, a thousand at a time."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import date, timedelta

from archiver.archive import values
from archiver.archive.columns import dataset_columns
from archiver.archive.hashing import canonical_record, sha256_hex
from archiver.archive.queries.reader import Source


@dataclass(frozen=True)
class ExportRow:
    """One record with its provenance, as the warehouse export writes it."""

    values: dict[str, str]
    row_key: str
    commit_ts: str
    row_date: str  # the row's UTC day (YYYY-MM-DD), from its own interval
    sha256: str  # of its canonical JSON (recomputed from the stored values)
    page_id: int
    page_sha256: str
    received_at: str
    conflict: int


def columns(db: Source, dataset: str) -> list[str]:
    """Every column the dataset has had in this archive, in API order ([] when none)."""
    return dataset_columns(db.conn, dataset) or []


def iter_rows(
    db: Source,
    dataset: str,
    start: date | None,
    end: date | None,
    all_versions: bool,
    dataset_type: str = "interval",
) -> Generator[ExportRow, None, None]:
    """The stream's records (latest versions unless ``all_versions``) in (day, key) order,
    read a thousand at a time (memory stays flat)."""
    conn = db.conn
    source = "records_view" if all_versions else "latest"
    sql = f"""SELECT r.record_id, r.row_key, r.interval_start, r.page_id, r.conflict,
                     p.sha256 AS page_sha256, p.received_at
              FROM {source} r JOIN pages p ON p.page_id = r.page_id
              WHERE r.dataset = ? AND r.dataset_type = ?"""
    params: list[object] = [dataset, dataset_type]
    if start:
        sql += " AND r.interval_start >= ?"
        params.append(start.strftime("%Y%m%d"))
    if end:
        sql += " AND r.interval_start < ?"
        params.append((end + timedelta(days=1)).strftime("%Y%m%d"))
    sql += " ORDER BY r.interval_start, r.row_key, r.page_id, r.row_index"  # versions: as received
    cur = conn.execute(sql, params)
    while batch := cur.fetchmany(1000):
        vals = values.fetch(conn, dataset, [r[0] for r in batch])
        for r in batch:
            v = vals.get(r[0], {})
            day = r[2][:8]
            yield ExportRow(
                v,
                r[1],
                v.get("COMMIT_TS", ""),
                f"{day[:4]}-{day[4:6]}-{day[6:8]}" if len(day) == 8 else "",
                sha256_hex(canonical_record(list(v), list(v.values())).encode()),
                r[3],
                r[5],
                r[6],
                r[4],
            )
