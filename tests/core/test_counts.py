"""The self-test's figures are the counts' words (archiver/counts.py) and agree with its own
archive and bundle, read back from the kept files; the vocabulary in the docs is the one in
the code."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from archiver.counts import TERMS
from tests.clitools import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_self_test_figures_name_their_counts_and_agree_with_its_archive(tmp_path):
    keep = tmp_path / "kept"
    res = run_cli("self-test", "--keep", keep)
    assert res.code == 0, res.stdout + res.stderr
    out = res.stdout
    conn = sqlite3.connect(keep / "self-test.sqlite3")
    q = lambda sql, *a: conn.execute(sql, a).fetchone()[0]  # noqa: E731
    received = q("SELECT sum(record_count) FROM pages")
    day_records = q(
        "SELECT count(*) FROM records WHERE interval_start BETWEEN '202502010000' AND '202502012345'"
    )
    all_records = q("SELECT count(*) FROM records")
    conn.close()
    assert received > all_records > day_records  # three different figures, each named
    assert f"{received:,} rows received of interactionSegments and workflowTrace" in out
    assert f"{day_records:,} records whose own interval lies on 2025-02-01" in out
    assert f"replayed into {all_records:,} records (the whole archive)" in out
    bundle = keep / "bundle" / "data" / "records.jsonl"
    rows = [json.loads(x) for x in bundle.read_text().splitlines()]
    segments = sum(r["dataset"] == "interactionSegments" for r in rows)
    traces = len(rows) - segments
    interactions = len(
        {r["values"]["INTERACTION_ID"] for r in rows if r["dataset"] == "interactionSegments"}
    )
    assert (
        f"{segments:,} interactionSegments latest records and {traces:,} workflowTrace latest "
        f"records (as in the archive), {interactions:,} interactions" in out
    )
    assert re.search(rf"\b{len(rows):,} latest records \(", out)


def test_the_docs_define_the_same_terms():
    """docs/counts.md holds the vocabulary's table: the same words and definitions."""
    text = (ROOT / "docs" / "counts.md").read_text()
    table = {
        cells[0].strip("* "): cells[1]
        for cells in (
            [c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines()
            if line.startswith("| **")
        )
    }
    assert table == {t.plural: t.definition for t in TERMS}
    readme = (ROOT / "README.md").read_text()
    assert "docs/counts.md" in readme
