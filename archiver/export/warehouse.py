"""``archiver export-dataset``: rows for data warehouses, exact API strings.

- jsonl: one object per row version, the dataset's columns with their exact strings, plus
  provenance under names starting with ``_``.
- csv: RFC 4180, UTF-8, CRLF line ends, a header row; formula cells escaped by the one
  reversible rule of ``csvsafe`` (header cells too), or exactly as archived with
  ``csv_formulas="raw"``.
- 15-minute (``interval``) and ``daily`` rows of a dataset are separate streams: one
  export holds one of them.
- parquet (needs pyarrow: ``pip install archiver[parquet]``): every column a string,
  hive-partitioned as ``dataset=NAME/row_date=YYYY-MM-DD/part-0.parquet`` so DuckDB and
  Spark read the directory directly (``row_date`` is the row's UTC day from its own time
  column, the archive's ``interval_start`` — never a value copied from the response, so no
  response can name a directory); a partition that is not a YYYY-MM-DD date stops the export.
- ``--from``/``--to`` select rows by that UTC day.

``out`` is checked before anything is written: a file for csv and jsonl (not a directory),
a directory for parquet whose ``dataset=NAME`` part does not exist yet. A csv or jsonl file
is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Generator, Iterator
from datetime import date
from pathlib import Path
from typing import TextIO

from archiver.archive.queries import warehouse as reads
from archiver.archive.queries.reader import Reader
from archiver.archive.queries.warehouse import ExportRow
from archiver.export import csvsafe

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


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def partition_date(value: object) -> str:
    """A row date as a partition directory name: a real YYYY-MM-DD date, or ExportError."""
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise ExportError(
        f"a row's date {value!r} is not a YYYY-MM-DD date: it cannot name a partition "
        "(run archiver verify-archive; nothing was written)"
    )


def check_out(fmt: str, dataset: str, out: Path) -> None:
    """Refuse an ``--out`` that would fail or overwrite what it should not, before any work."""
    if fmt == "parquet":
        if out.exists() and not out.is_dir():
            raise ExportError(f"--out {out} is a file: parquet is written to a directory")
        part = out / f"dataset={dataset}"
        if part.exists():
            raise ExportError(
                f"{part} exists: choose another --out, or remove it to export {dataset} again"
            )
        return
    if out.is_dir():
        raise ExportError(f"--out {out} is a directory: give the {fmt} file to write")
    if out.suffix.lower() == ".zip" and out.exists():
        raise ExportError(f"--out {out} is an existing zip: give the {fmt} file to write")


def _provenance(row: ExportRow) -> dict[str, str]:
    return {
        "_row_key": row.row_key,
        "_commit_ts": row.commit_ts,
        "_record_sha256": row.sha256,
        "_page_id": str(row.page_id),
        "_page_sha256": row.page_sha256,
        "_received_at": row.received_at,
        "_conflict": str(row.conflict),
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
    csv_formulas: str = "escape",
) -> int:
    """Write the export of one stream (15-minute or daily rows, never mixed); returns the
    number of rows written. ``csv_formulas``: ``escape`` (the default) or ``raw``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if dataset_type not in ("interval", "daily"):
        raise ExportError(f"unknown dataset type {dataset_type!r}; choose interval or daily")
    if csv_formulas not in csvsafe.MODES:
        raise ExportError(f"unknown --csv-formulas {csv_formulas!r}; choose escape or raw")
    check_out(fmt, dataset, out)
    db = Reader(archive)
    rows: Generator[ExportRow, None, None] | None = None
    try:
        cols = reads.columns(db, dataset)
        if not cols:
            raise ExportError(f"The archive holds no {dataset} data yet.")
        rows = reads.iter_rows(db, dataset, start, end, all_versions, dataset_type)
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "jsonl":
            return _atomic(out, lambda f: _jsonl(rows, f), newline="\n")
        if fmt == "csv":
            return _atomic(out, lambda f: _csv(rows, cols, f, csv_formulas == "escape"))
        return _parquet_dir(rows, cols, dataset, out)
    finally:
        if rows is not None:
            rows.close()  # before its connection: an export stopped midway leaves no cursor
        db.close()


def _atomic(out: Path, write: Callable[[TextIO], int], newline: str = "") -> int:
    """Write through ``write`` to a temporary file next to ``out``, then rename it into
    place: ``out`` is complete or untouched."""
    tmp = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        with tmp.open("x", encoding="utf-8", newline=newline) as f:
            n = write(f)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _jsonl(rows: Iterator[ExportRow], f: TextIO) -> int:
    n = 0
    for row in rows:
        obj = row.values | _provenance(row)
        f.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


def _csv(rows: Iterator[ExportRow], cols: list[str], f: TextIO, escape: bool) -> int:
    """Every cell, header cells included, escaped by csvsafe's rule (unless ``escape`` is
    False: the exact strings, for tools that never evaluate formulas)."""
    cell: Callable[[str], str] = csvsafe.escape_cell if escape else str
    n = 0
    w = csv.writer(f, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow([cell(c) for c in cols + list(PROVENANCE)])
    for row in rows:
        prov = _provenance(row)
        w.writerow(
            [cell(row.values.get(c, "")) for c in cols] + [cell(prov[p]) for p in PROVENANCE]
        )
        n += 1
    return n


def _parquet_dir(rows: Iterator[ExportRow], cols: list[str], dataset: str, out: Path) -> int:
    """The partitions are written in a hidden directory (readers skip it) renamed to
    ``out/dataset=NAME`` when complete; a failure removes it."""
    final = out / f"dataset={dataset}"
    work = out / f".dataset={dataset}.partial-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        n = _parquet(rows, cols, work)
        os.rename(work, final)  # fails rather than replace a directory that appeared
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return n


def _partition_file(root: Path, row_date: object) -> Path:
    """``root/row_date=YYYY-MM-DD/part-0.parquet``, created new (rows come ordered by
    date, so a partition is opened once: one found means a duplicate date)."""
    part = root / f"row_date={partition_date(row_date)}"
    part.mkdir(parents=True, exist_ok=True)
    target = part / "part-0.parquet"
    if target.exists():
        raise ExportError(f"{target} exists already: refusing to overwrite it")
    return target


def _parquet(rows: Iterator[ExportRow], cols: list[str], out: Path) -> int:
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
            if row.row_date != current:
                flush()
                if writer is not None:
                    writer.close()
                current = row.row_date
                writer = pq.ParquetWriter(_partition_file(out, current), schema)
            prov = _provenance(row)
            for c in cols:
                batch[c].append(row.values.get(c, ""))
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
