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

``out`` is checked before anything is written (archiver.outputs): a new file for csv and
jsonl, never a file of the archive's set (the archive, its -wal/-shm/-journal, lock or
sidecar, by resolved path or inode), a symbolic link, a FIFO, a device or a directory; an
existing file only with ``overwrite``. For parquet a directory whose ``dataset=NAME`` part
does not exist yet. A csv or jsonl file is written under a temporary name and linked into
place when complete, only where no file is (``overwrite``: renamed over the old file); the
Parquet directory likewise, renamed without replacing anything.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Callable, Generator, Iterator
from datetime import date
from pathlib import Path
from typing import TextIO

from archiver import outputs
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


def check_out(
    fmt: str,
    dataset: str,
    out: Path,
    archive: str | Path | None = None,
    overwrite: bool = False,
) -> None:
    """Refuse an ``--out`` that would fail or overwrite what it should not, before any work
    (archiver.outputs.check_new: never a file of ``archive``'s set, a link, a FIFO or a
    device; an existing file only with ``overwrite``, csv and jsonl only)."""
    protect = [outputs.ArchiveSet.of(archive)] if archive is not None else []
    if fmt == "parquet":
        _check_parquet_out(dataset, out, protect, overwrite)
        return
    if out.is_dir() and not out.is_symlink():
        raise ExportError(f"--out {out} is a directory: give the {fmt} file to write")
    if out.suffix.lower() == ".zip" and out.exists() and not out.is_symlink():
        # a bundle's zip, most likely: never replaced, not even with --overwrite
        raise ExportError(f"--out {out} is an existing zip: give the {fmt} file to write")
    try:
        outputs.check_new(
            out, protect=protect, overwrite=overwrite, hint=" (or add --overwrite to replace it)"
        )
    except outputs.Refused as exc:
        raise ExportError(str(exc)) from None


def _check_parquet_out(
    dataset: str, out: Path, protect: list[outputs.ArchiveSet], overwrite: bool
) -> None:
    """``out`` is a folder (it may exist, or be a link to one: only ``dataset=NAME`` is
    made in it), and ``dataset=NAME`` in it does not exist yet."""
    if overwrite:
        raise ExportError(
            "--overwrite replaces a csv or jsonl file, never a Parquet directory: choose "
            "another --out"
        )
    if out.exists() and not out.is_dir():
        what = outputs.kind_of(out.stat().st_mode)
        raise ExportError(f"--out {out} is {what}: parquet is written to a directory")
    part = out / f"dataset={dataset}"
    try:
        if not out.exists():
            outputs.check_new(out, protect=protect, directory=True)
        outputs.check_new(part, protect=protect, directory=True)
    except outputs.Refused as exc:
        raise ExportError(f"{exc} (a Parquet export makes {part.name} new in --out)") from None


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
    overwrite: bool = False,
) -> int:
    """Write the export of one stream (15-minute or daily rows, never mixed); returns the
    number of rows written. ``csv_formulas``: ``escape`` (the default) or ``raw``;
    ``overwrite``: an existing csv or jsonl file may be replaced (never the archive's)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if dataset_type not in ("interval", "daily"):
        raise ExportError(f"unknown dataset type {dataset_type!r}; choose interval or daily")
    if csv_formulas not in csvsafe.MODES:
        raise ExportError(f"unknown --csv-formulas {csv_formulas!r}; choose escape or raw")
    check_out(fmt, dataset, out, archive, overwrite)
    db = Reader(archive)
    rows: Generator[ExportRow, None, None] | None = None
    try:
        cols = reads.columns(db, dataset)
        if not cols:
            raise ExportError(f"The archive holds no {dataset} data yet.")
        rows = reads.iter_rows(db, dataset, start, end, all_versions, dataset_type)
        out.parent.mkdir(mode=outputs.PRIVATE_DIR, parents=True, exist_ok=True)
        target = _Target(out, [outputs.ArchiveSet.of(archive)], overwrite)
        if fmt == "jsonl":
            return _atomic(target, lambda f: _jsonl(rows, f), newline="\n")
        if fmt == "csv":
            return _atomic(target, lambda f: _csv(rows, cols, f, csv_formulas == "escape"))
        out.mkdir(mode=outputs.PRIVATE_DIR, exist_ok=True)
        return _parquet_dir(rows, cols, dataset, out)
    finally:
        if rows is not None:
            rows.close()  # before its connection: an export stopped midway leaves no cursor
        db.close()


class _Target:
    """Where a csv or jsonl export goes, and what it must never replace."""

    def __init__(self, out: Path, protect: list[outputs.ArchiveSet], overwrite: bool) -> None:
        self.out, self.protect, self.overwrite = out, protect, overwrite


def _atomic(target: _Target, write: Callable[[TextIO], int], newline: str = "") -> int:
    """Write through ``write`` to a temporary file next to the target, then link it into
    place where no file is (outputs.new_file): the target is complete or untouched."""
    try:
        with outputs.new_file(
            target.out, protect=target.protect, overwrite=target.overwrite
        ) as raw:
            f = io.TextIOWrapper(raw, encoding="utf-8", newline=newline)
            n = write(f)
            f.flush()
            f.detach()
    except outputs.Refused as exc:
        raise ExportError(str(exc)) from None
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
    work = outputs.temp_name(final)
    work.mkdir(mode=outputs.PRIVATE_DIR)
    try:
        n = _parquet(rows, cols, work)
        outputs.publish_directory(work, final)  # never replaces a directory that appeared
    except outputs.Refused as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise ExportError(str(exc)) from None
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
