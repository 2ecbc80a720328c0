"""``archiver export-dataset``: rows for data warehouses, exact API strings.

- jsonl: one object per row version, the dataset's columns with their exact strings, plus
  provenance under names starting with ``_``.
- csv: RFC 4180, UTF-8, CRLF line ends, a header row; values exactly as archived.
- 15-minute (``interval``) and ``daily`` rows of a dataset are separate streams: one
  export holds one of them.
- parquet (needs pyarrow: ``pip install archiver[parquet]``): every column a string,
  hive-partitioned as ``dataset=NAME/row_date=YYYY-MM-DD/part-0.parquet`` so DuckDB and
  Spark read the directory directly (``row_date`` is ROW_DATE_UTC, or the chunk's day for
  datasets without that column).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from archiver.archive.columns import dataset_columns
from archiver.archive.store import open_reader

FORMATS = ("csv", "jsonl", "parquet")
PROVENANCE = (
    "_row_key",
    "_commit_ts",
    "_record_sha256",
    "_page_id",
    "_page_sha256",
    "_received_at",
    "_conflict",
)


class ExportError(Exception):
    pass


def iter_rows(
    conn: sqlite3.Connection,
    dataset: str,
    start: date | None,
    end: date | None,
    all_versions: bool,
    dataset_type: str = "interval",
) -> Iterator[sqlite3.Row]:
    source = "records" if all_versions else "latest"
    sql = f"""SELECT r.row_key, r.commit_ts, r.row_date, r.values_json, r.sha256, r.page_id, r.conflict,
                     p.sha256 AS page_sha256, p.received_at
              FROM {source} r JOIN pages p ON p.page_id = r.page_id
              WHERE r.dataset = ? AND r.dataset_type = ?"""
    params: list[object] = [dataset, dataset_type]
    if start:
        sql += " AND r.row_date >= ?"
        params.append(start.isoformat())
    if end:
        sql += " AND r.row_date <= ?"
        params.append(end.isoformat())
    sql += " ORDER BY r.row_date, r.row_key, r.commit_ts, r.record_id"
    yield from conn.execute(sql, params)


def _provenance(row: sqlite3.Row) -> dict[str, str]:
    return {
        "_row_key": row["row_key"],
        "_commit_ts": row["commit_ts"],
        "_record_sha256": row["sha256"],
        "_page_id": str(row["page_id"]),
        "_page_sha256": row["page_sha256"],
        "_received_at": row["received_at"],
        "_conflict": str(row["conflict"]),
    }


def export_dataset(
    archive: str | Path,
    dataset: str,
    fmt: str,
    out: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    all_versions: bool = False,
    dataset_type: str = "interval",
) -> int:
    """Write the export of one stream (15-minute or daily rows, never mixed); returns the
    number of rows written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if dataset_type not in ("interval", "daily"):
        raise ExportError(f"unknown dataset type {dataset_type!r}; choose interval or daily")
    conn = open_reader(archive)
    try:
        cols = dataset_columns(conn, dataset)
        if not cols:
            raise ExportError(f"The archive holds no {dataset} data yet.")
        rows = iter_rows(conn, dataset, start, end, all_versions, dataset_type)
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "jsonl":
            return _jsonl(rows, out)
        if fmt == "csv":
            return _csv(rows, cols, out)
        return _parquet(rows, cols, dataset, out)
    finally:
        conn.close()


def _jsonl(rows: Iterator[sqlite3.Row], out: Path) -> int:
    n = 0
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            obj = json.loads(row["values_json"]) | _provenance(row)
            f.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n


def _csv(rows: Iterator[sqlite3.Row], cols: list[str], out: Path) -> int:
    n = 0
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(cols + list(PROVENANCE))
        for row in rows:
            values = json.loads(row["values_json"])
            prov = _provenance(row)
            w.writerow([values.get(c, "") for c in cols] + [prov[p] for p in PROVENANCE])
            n += 1
    return n


def _parquet(rows: Iterator[sqlite3.Row], cols: list[str], dataset: str, out: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError(
            "Parquet export needs pyarrow: pip install 'archiver[parquet]'."
        ) from None
    names = cols + list(PROVENANCE)
    schema = pa.schema([(c, pa.string()) for c in names])
    n = 0
    writer = None
    current = None
    batch: dict[str, list[str]] = {c: [] for c in names}

    def flush() -> None:
        if writer is not None and batch[names[0]]:
            writer.write_table(pa.table(batch, schema=schema))
            for c in names:
                batch[c].clear()

    try:
        for row in rows:
            if row["row_date"] != current:
                flush()
                if writer is not None:
                    writer.close()
                current = row["row_date"]
                part = out / f"dataset={dataset}" / f"row_date={current}"
                part.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(part / "part-0.parquet", schema)
            values = json.loads(row["values_json"])
            prov = _provenance(row)
            for c in cols:
                batch[c].append(values.get(c, ""))
            for p in PROVENANCE:
                batch[p].append(prov[p])
            n += 1
            if len(batch[names[0]]) >= 10_000:
                flush()
        flush()
    finally:
        if writer is not None:
            writer.close()
    return n
