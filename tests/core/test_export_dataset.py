"""export-dataset against hostile values and careless paths: formula cells escaped (the
header too) reversibly, partition names that are validated dates, --out refused before any
work when it is a directory or an existing zip."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from archiver.archive import triggers
from archiver.export.csvsafe import escape_cell, unescape_cell
from archiver.export.warehouse import ExportError, _csv, export_dataset
from archiver.simulator import SimConfig, Simulator
from tests.clitools import run_cli
from tests.pulltools import params, pull

DS = "interactionSegments"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    sim = Simulator(SimConfig(rows_per_interval=2))
    sim.start()
    try:
        arc = tmp_path_factory.mktemp("ds") / "a.sqlite3"
        pull(sim, arc, params([DS], "20250201", "20250201"))
    finally:
        sim.stop()
    return arc


@pytest.fixture
def archive(shared, tmp_path):
    arc = tmp_path / "a.sqlite3"
    src, dst = sqlite3.connect(shared), sqlite3.connect(arc)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return arc


def _latest(arc) -> list[dict]:
    """The dataset's latest versions in export order (day, key, version)."""
    conn = sqlite3.connect(arc)
    found = conn.execute(
        """SELECT l.interval_start, l.row_key, l.record_id, v.values_json FROM latest l
           JOIN record_values v ON v.record_id = l.record_id WHERE l.dataset=?""",
        (DS,),
    ).fetchall()
    conn.close()
    return [json.loads(v) for *_, v in sorted(found)]


def _read(path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_csv_formulas_escaped_by_default_and_reversibly(archive, tmp_path):
    out = tmp_path / "x.csv"
    export_dataset(archive, DS, "csv", out)
    table = _read(out)
    header, body = table[0], table[1:]
    want = _latest(archive)
    cols = [unescape_cell(h) for h in header][: len(want[0])]
    escaped = 0
    for row, values in zip(body, want, strict=True):
        for c, cell in zip(cols, row, strict=False):
            assert cell == escape_cell(values[c]) and unescape_cell(cell) == values[c]
            escaped += cell != values[c]
    assert escaped  # the simulator's notes start with = + - @
    raw = tmp_path / "raw.csv"
    export_dataset(archive, DS, "csv", raw, csv_formulas="raw")
    for row, values in zip(_read(raw)[1:], want, strict=True):
        assert row[: len(cols)] == [values[c] for c in cols]


def test_header_cells_are_escaped_too():
    f = io.StringIO()
    _csv(iter([]), ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "'quoted", "A"], f, True)
    header = next(csv.reader(io.StringIO(f.getvalue())))
    assert header[:4] == ['\'=HYPERLINK("http://x")', "'+cmd|' /C calc'!A0", "''quoted", "A"]


def test_cli_csv_formulas_flag(archive, tmp_path):
    out = tmp_path / "x.csv"
    res = run_cli(
        "export-dataset",
        "--archive",
        str(archive),
        "--dataset",
        DS,
        "--format",
        "csv",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    assert any(c.startswith(("'=", "'+", "'-", "'@")) for r in _read(out) for c in r)
    res = run_cli(
        "export-dataset",
        "--archive",
        str(archive),
        "--dataset",
        DS,
        "--format",
        "csv",
        "--csv-formulas",
        "raw",
        "--out",
        str(out),
        "--overwrite",  # the same file again: said by name
    )
    assert res.returncode == 0, res.stderr
    notes = [r for r in _latest(archive) if r["INTERACTION_NOTES"].startswith("=")]
    assert notes and any(notes[0]["INTERACTION_NOTES"] in r for r in _read(out))
    events = [
        json.loads(d)
        for (e, d) in sqlite3.connect(archive).execute("SELECT event, details FROM audit_log")
        if e == "export-dataset"
    ]
    assert [e["csv_formulas"] for e in events] == ["escape", "raw"]


def test_out_that_is_a_directory_or_an_existing_zip_is_refused(archive, tmp_path):
    for fmt in ("csv", "jsonl"):
        res = run_cli(
            "export-dataset",
            "--archive",
            str(archive),
            "--dataset",
            DS,
            "--format",
            fmt,
            "--out",
            str(tmp_path),
        )
        assert res.returncode == 2 and "is a directory" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
    z = tmp_path / "b1.zip"
    z.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    res = run_cli(
        "export-dataset",
        "--archive",
        str(archive),
        "--dataset",
        DS,
        "--format",
        "csv",
        "--out",
        str(z),
    )
    assert res.returncode == 2 and "existing zip" in res.stderr
    assert z.read_bytes() == b"PK\x05\x06" + b"\0" * 18
    (tmp_path / "f").write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        export_dataset(archive, DS, "parquet", tmp_path / "f")


def _tamper_dates(arc, *dates: str) -> None:
    conn = sqlite3.connect(arc)
    for table in triggers.EVIDENCE_TABLES:
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
    ids = [
        r
        for (r,) in conn.execute(
            "SELECT record_id FROM latest ORDER BY record_id LIMIT ?", (len(dates),)
        )
    ]
    for rid, d in zip(ids, dates, strict=True):
        # the partition is the row's interval day: an edited interval must not name a path
        start = d.replace("-", "") + "0000" if d[:4].isdigit() else d
        conn.execute("UPDATE records SET interval_start = ? WHERE record_id = ?", (start, rid))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("dates", [("/../../../",), ("/../../../", "/../../..//"), ("2025-02-30",)])
def test_parquet_partition_values_are_validated_dates(archive, tmp_path, dates):
    pytest.importorskip("pyarrow.parquet")
    _tamper_dates(archive, *dates)
    out = tmp_path / "deep" / "er" / "out"
    with pytest.raises(ExportError, match="is not a YYYY-MM-DD date"):
        export_dataset(archive, DS, "parquet", out)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert written == []  # nothing outside --out, and nothing half-written inside it
    assert not list(out.iterdir())


def test_parquet_refuses_a_dataset_directory_that_exists(archive, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "pq"
    n = export_dataset(archive, DS, "parquet", out)
    files = list(out.glob(f"dataset={DS}/row_date=*/part-0.parquet"))
    assert files and sum(pq.read_table(f).num_rows for f in files) == n
    with pytest.raises(ExportError, match="exists"):
        export_dataset(archive, DS, "parquet", out)
    assert sum(pq.read_table(f).num_rows for f in files) == n
