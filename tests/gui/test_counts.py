"""One archive gives the same figure for the same thing on every screen, in the command
line and in the report, and every figure says which of the four counts it is
(archiver/counts.py): rows received, records (every version), latest records, interactions.

Why this matters: one dataset once showed 2,348 on the Download tab, 1,914 on Browse and
1,890 on Coverage with nothing to say why. They were rows received (a row sent twice —
the one-interval overlap between chunks — counted twice), records, and records whose own
interval lay on the requested days (the interval after the range, which an inclusive
server returns as the last chunk's `ending`, left out). Now each is labelled, and
Coverage's days include that interval (walked, received at the previous chunk's ending),
so its records add up to Browse's.

The archive: six hours of interactionSegments and workflowTrace pulled by the command line,
then a late update re-issues a share of the rows, then the same range is pulled again by
the window's Download tab (so records > latest records, and rows received > records). The
GUI side drives the real window (pytest-qt, offscreen); the report side reads the signed
PDF's text with pypdf; the expected figures are counted from the archive with plain SQL.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime

import pytest
import requests
from pypdf import PdfReader

from archiver.archive.queries.review import ArchiveReader
from archiver.counts import TERMS
from archiver.gui.workers import SyncRunner
from archiver.services import archive as archive_service
from archiver.services import bundles
from tests.clitools import run_cli

SEG, TRACE = "interactionSegments", "workflowTrace"
FROM, TO = "2025-02-01T00:00Z", "2025-02-01T05:45Z"


def _n(text: str) -> int:
    return int(text.replace(",", ""))


def _truth(arc) -> dict[str, int]:
    """Each figure counted from the archive with plain SQL, independently of the screens."""
    conn = sqlite3.connect(arc)
    q = lambda sql, *a: conn.execute(sql, a).fetchone()[0]  # noqa: E731
    out = {
        "received": q("SELECT sum(record_count) FROM pages WHERE dataset IN (?, ?)", SEG, TRACE),
        "records": q("SELECT count(*) FROM records_view WHERE dataset=?", SEG),
        "latest": q("SELECT count(*) FROM latest WHERE dataset=?", SEG),
        # the bundle's steps: those of its interactions (every archived one, here)
        "trace_latest": q(
            f"""SELECT count(*) FROM latest l JOIN vals_{TRACE} t ON t.record_id = l.record_id
                WHERE l.dataset=? AND t.WORKFLOWSESSION_INTERACTIONID IN
                (SELECT INTERACTION_ID FROM vals_{SEG})""",
            TRACE,
        ),
        "all_records": q("SELECT count(*) FROM records"),
        "interactions": q(
            f"""SELECT count(DISTINCT v.INTERACTION_ID) FROM vals_{SEG} v
                JOIN records_view r ON r.record_id = v.record_id WHERE r.dataset=?""",
            SEG,
        ),
    }
    out["run_received"] = [
        n
        for (n,) in conn.execute(
            """SELECT sum(p.record_count) FROM pages p JOIN runs r ON r.run_id = p.run_id
               GROUP BY p.run_id ORDER BY min(r.started_at)"""
        )
    ]
    out["run_new"] = [
        n
        for (n,) in conn.execute(
            """SELECT count(r.record_id) FROM records r JOIN pages p ON p.page_id = r.page_id
               JOIN runs u ON u.run_id = p.run_id GROUP BY p.run_id ORDER BY min(u.started_at)"""
        )
    ]
    conn.close()
    return out


@pytest.mark.slow
def test_one_archive_gives_the_same_figures_everywhere(
    qtbot, sim, window_factory, tmp_path, monkeypatch
):
    monkeypatch.setenv("ARCHIVER_CLIENT_ID", sim.config.client_id)
    monkeypatch.setenv("ARCHIVER_CLIENT_SECRET", sim.config.client_secret)
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", "counts test")
    arc = tmp_path / "archive.sqlite3"  # the window's archive (tests/gui/conftest.make_ctx)
    keys = tmp_path / "keys"

    # -- run 1, the command line: its summary names rows received and new records ----------
    pull = ["pull", "--base-url", sim.base_url, "--archive", str(arc)]
    pull += ["--retry-initial", "0.01", "--dataset", SEG, "--dataset", TRACE, "--from", FROM]
    pull += ["--to", TO]
    res = run_cli(*pull)
    assert res.code == 0, res.stderr
    out = res.stdout
    head = next(line for line in out.splitlines() if line.startswith("dataset"))
    assert "rows received" in head and "new records" in head
    cli_run = {
        c[0]: (_n(c[4]), _n(c[5]))
        for c in (line.split() for line in out.splitlines())
        if c and c[0] in (SEG, TRACE)
    }

    # -- a late update re-issues rows; run 2, the Download tab ------------------------------
    requests.post(
        sim.base_url + "/_simulator/late-updates",
        json={"datasets": [SEG], "share": 0.3},
        timeout=10,
    )
    w = window_factory(sim, SyncRunner())
    w.key_dir = keys
    w.download.picker.set_selected([SEG, TRACE])
    w.download.range.set_range(
        datetime(2025, 2, 1, 0, 0, tzinfo=UTC), datetime(2025, 2, 1, 5, 45, tzinfo=UTC)
    )
    w.download.start_download()
    truth = _truth(arc)
    assert truth["records"] > truth["latest"], "the late update made new versions"
    assert truth["run_received"][0] > truth["run_new"][0], "the chunk overlap sent rows twice"
    jobs = w.download.jobs
    header = [jobs.horizontalHeaderItem(c).text() for c in range(jobs.columnCount())]
    assert header[3] == "Rows received"
    tab_received = sum(_n(jobs.item(r, 3).text()) for r in jobs.rows.values())
    status = w.download.status.text()
    m = re.search(r"([\d,]+) rows received, ([\d,]+) new records\.", status)
    assert m, status
    assert (sum(r for r, _ in cli_run.values()), truth["run_received"][0]) == (
        truth["run_received"][0],
        truth["run_received"][0],
    )
    assert sum(n for _, n in cli_run.values()) == truth["run_new"][0]
    assert tab_received == _n(m.group(1)) == truth["run_received"][1]
    assert _n(m.group(2)) == truth["run_new"][1]

    # -- Browse: records per stream, and latest records when asked --------------------------
    w.tabs.setCurrentWidget(w.browse)
    w.browse.refresh()
    items = {
        w.browse.datasets.item(i).data(0x0100): w.browse.datasets.item(i).text()
        for i in range(w.browse.datasets.count())
    }
    assert items[SEG] == f"{SEG}  ({truth['records']:,} records)"
    w.browse.select_dataset(SEG)
    w.browse.latest.setChecked(True)  # runs the query (SyncRunner: at once)
    assert w.browse.count.text() == f"{truth['latest']:,} latest records match."
    w.browse.latest.setChecked(False)

    # -- Coverage: the records of its days add up to Browse's records -----------------------
    w.tabs.setCurrentWidget(w.coverage)
    cov = w.coverage
    rows = [cov.table.verticalHeaderItem(r).text() for r in range(cov.table.rowCount())]
    seg_row = rows.index(SEG)
    cells = [cov.table.item(seg_row, c).text() for c in range(cov.table.columnCount())]
    # a cell: the day's records, first ("268 · 25/96 walked" when part of it is walked)
    shown = sum(_n(m.group()) for c in cells if (m := re.match(r"[\d,]*\d", c)))
    assert shown == sum(c.records for c in cov.cells.values() if c.dataset == SEG)
    assert shown == truth["records"], cells
    assert "received at the previous chunk's ending" in cov.table.item(seg_row, 0).toolTip()

    # -- Interactions: the list says how many the archive holds -----------------------------
    w.tabs.setCurrentWidget(w.interactions)
    w.interactions.query.setText("")
    w.interactions.search()
    assert w.interactions.hint.text().startswith(
        f"{truth['interactions']:,} interactions in the archive"
    )

    # -- the command line on the same archive ----------------------------------------------
    res = run_cli("coverage", "--archive", arc, "--dataset", SEG)
    assert res.code == 0
    out = res.stdout
    table = [line.split() for line in out.splitlines() if line.startswith(SEG + " ")]
    assert sum(_n(c[-1]) for c in table if len(c) > 4) == truth["records"]
    report = archive_service.coverage(arc, dataset=SEG)
    assert sum(d.records for d in report.days) == truth["records"]
    res = run_cli("verify-archive", "--archive", arc, "--read-only")
    assert res.code == 0
    out = res.stdout
    assert f"{truth['all_records']:,} records" in out, out
    dataset_file = tmp_path / "seg.jsonl"
    res = run_cli(
        *("export-dataset", "--archive", arc, "--dataset", SEG),
        *("--format", "jsonl", "--out", dataset_file),
    )
    assert res.code == 0
    assert res.stdout.startswith(
        f"Exported {truth['latest']:,} latest records (15-minute) of {SEG}"
    )
    with ArchiveReader(arc) as r:
        assert r.dataset_counts()[SEG] == truth["records"]
        assert r.interaction_count() == truth["interactions"]

    # -- the Export dialog's default range is the archived one; the bundle and its PDF ------
    dlg = w.open_export()
    qtbot.addWidget(dlg)
    first, last = bundles.archived_range(arc)
    assert dlg.range_text.text() == "2025-02-01 00:00 – 06:00 UTC, last interval included"
    assert (first.hour, last.hour, last.minute) == (0, 6, 0)  # 06:00: the last `ending`
    dlg.out.setText(str(tmp_path / "bundle"))
    dlg.start_export()
    result = dlg.bundle_result
    assert result is not None, dlg.status.text()
    words = (
        f"{truth['interactions']:,} interactions, {truth['latest']:,} {SEG} latest records, "
        f"{truth['trace_latest']:,} {TRACE} latest records"
    )
    assert bundles.contents_line(result).startswith(words)
    assert words in dlg.status.text()
    pdf = PdfReader(result.path / "data" / "report.pdf")
    cover = " ".join(pdf.pages[0].extract_text().split())
    assert (
        f"Contents {truth['interactions']:,} interactions; {truth['latest']:,} {SEG} latest "
        f"records; {truth['trace_latest']:,} {TRACE} latest records" in cover
    ), cover
    front = " ".join(" ".join(p.extract_text().split()) for p in pdf.pages[:8])
    for received, new in zip(truth["run_received"], truth["run_new"], strict=True):
        assert f"{received:,} rows received, {new:,} new records archived" in front
    # the Audit tab words each pull as the report's chain of custody does
    w.tabs.setCurrentWidget(w.audit)
    details = [w.audit.model.index(r, 5).data() for r in range(w.audit.model.rowCount())]
    for received, new in zip(truth["run_received"], truth["run_new"], strict=True):
        assert any(
            f"{received:,} rows received, {new:,} new records archived" in d for d in details
        )

    # -- and the CLI's export names the same figures ---------------------------------------
    res = run_cli(
        *("export", "--archive", arc, "--from", FROM, "--to", "2025-02-01T06:00Z"),
        *("--out", tmp_path / "cli-bundle", "--key-dir", keys),
    )
    assert res.code == 0, res.stderr
    assert words in res.stdout


def test_every_term_is_defined_once():
    words = [t.plural for t in TERMS]
    assert words == ["rows received", "records", "latest records", "interactions", "hits"]
    assert all(t.definition and "\n" not in t.definition for t in TERMS)
    assert TERMS[1].of(1) == "1 record" and TERMS[2].of(1_890) == "1,890 latest records"
