"""Case productions (issue 19 §4): `archiver export --case NAME [--load-file concordance]`
makes the same signed bundle scoped to a case's interactions, whatever their dates, with the
case on the cover and in bag-info, the coverage gaps of the intervals those interactions
span, and an eDiscovery load file whose every row is checked here against the archive.

Real parts: archives pulled over HTTP from the simulator on 127.0.0.1, real SQLite files,
real signatures (the bundle is checked with `archiver verify`), real PDFs read back."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from archiver.archive import auditlog
from archiver.archive.queries import cases as q
from archiver.archive.queries import coverage, interactions
from archiver.archive.queries.reader import Reader
from archiver.archive.queries.review import ArchiveReader
from archiver.datasets import DATASET_NAMES
from archiver.export import bag, derive, keys, loadfile
from archiver.export.production import CASE_DATASETS
from archiver.simulator import SimConfig, Simulator
from archiver.timerange import parse_api_bound
from tests.clitools import run_cli
from tests.pulltools import params, pull

#: its module fixtures are built once, on one xdist worker
pytestmark = pytest.mark.xdist_group("case_production")

PASSPHRASE = "correct horse battery staple"
COLUMN = interactions.INTERACTION_COLUMN
DAY1 = ("202502010000", "202502010045")  # every dataset
DAY3 = ("202502030000", "202502030045")  # interactionSegments and workflowTrace only


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        ident = keys.load_or_create(tmp_path_factory.mktemp("keys") / "signing")
        yield ident.cert_path.parent


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    arc = tmp_path_factory.mktemp("production") / "a.sqlite3"
    sim = Simulator(SimConfig(rows_per_interval=5))
    sim.start()
    try:
        pull(sim, arc, params(DATASET_NAMES, *DAY1, page_size=200))
        pull(sim, arc, params(["interactionSegments", "workflowTrace"], *DAY3, page_size=200))
    finally:
        sim.stop()
    return arc


def _copy(src: Path, dst: Path) -> Path:
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    with b:
        a.backup(b)
    a.close()
    b.close()
    return dst


def _sql(arc: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(arc)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _case_ids(arc: Path) -> list[str]:
    """Two interactions of day 1 with a transcript (one with a CDR too, when there is one)
    and two of day 3 (no transcript or CDR pulled there)."""
    day1 = [
        r[0]
        for r in _sql(
            arc,
            """SELECT DISTINCT t.INTERACTION_ID FROM vals_transcript t
               JOIN vals_interactionSegments s ON s.INTERACTION_ID = t.INTERACTION_ID
               ORDER BY (SELECT count(*) FROM vals_mpccdr c WHERE c.INTERACTION_ID = t.INTERACTION_ID) DESC, 1
               LIMIT 2""",
        )
    ]
    day3 = [
        r[0]
        for r in _sql(
            arc,
            """SELECT DISTINCT v.INTERACTION_ID FROM vals_interactionSegments v
               JOIN records r ON r.record_id = v.record_id
               WHERE r.interval_start LIKE '20250203%' ORDER BY 1 LIMIT 2""",
        )
    ]
    return day1 + day3


@pytest.fixture(scope="module")
def made(shared, signing, tmp_path_factory):
    """A held case of four interactions on two days, its production with a load file."""
    work = tmp_path_factory.mktemp("made")
    arc = _copy(shared, work / "a.sqlite3")
    ids = _case_ids(arc)
    a = ("--archive", arc)
    assert (
        run_cli(
            "case",
            "create",
            "Smith v. Acme",
            "--reason",
            "regulator request 9",
            "--reference",
            "REG-9",
            *a,
        ).code
        == 0
    )
    assert (
        run_cli(
            "case", "add", "Smith v. Acme", *[x for i in ids[1:] for x in ("--interaction", i)], *a
        ).code
        == 0
    )
    assert (
        run_cli("case", "add", "Smith v. Acme", "--search", f"interaction:{ids[0]}", *a).code == 0
    )
    assert run_cli("hold", "place", "Smith v. Acme", "--reason", "litigation", *a).code == 0
    out = work / "prod"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        res = run_cli(
            "export",
            "--case",
            "smith v. acme",
            "--load-file",
            "concordance",
            "--out",
            out,
            "--key-dir",
            signing,
            *a,
        )
    assert res.code == 0, res.err
    return arc, ids, out, res


def _records(root: Path) -> list[dict]:
    return [
        json.loads(line)
        for line in (root / "data" / "records.jsonl").read_text(encoding="utf-8").splitlines()
    ]


def test_the_production_verifies_and_holds_every_row_of_the_cases_interactions(made, signing):
    arc, ids, out, res = made
    assert "Case production of case 'Smith v. Acme'" in res.out
    checked = run_cli("verify", out, "--key-dir", signing)
    assert checked.code == 0, checked.out
    assert "loadfile.dat reads back: 4 documents" in checked.out
    got = _records(out)
    for ds in CASE_DATASETS:
        (n,) = _sql(
            arc,
            f"""SELECT count(*) FROM latest r JOIN vals_{ds} v ON v.record_id = r.record_id
                WHERE r.dataset_type = 'interval' AND v.{COLUMN[ds]} IN ({",".join("?" * len(ids))})""",
            *ids,
        )[0]
        assert n and sum(1 for r in got if r["dataset"] == ds) == n, ds
    assert {r["dataset"] for r in got} == set(CASE_DATASETS)  # day 1 brought a transcript and CDR
    assert {r["values"][COLUMN[r["dataset"]]] for r in got} == set(ids)
    # whatever their dates: both days are in
    days = {r["values"].get("ROW_DATE_UTC") for r in got}
    assert {"2025-02-01", "2025-02-03"} <= days
    for ds in CASE_DATASETS:
        assert (out / "data" / f"{ds}.csv").is_file()


def test_the_cover_and_bag_info_state_the_case(made):
    _arc, ids, out, _ = made
    cover = PdfReader(out / "data" / "report.pdf").pages[0].extract_text()
    flat = " ".join(cover.split())
    for words in (
        "Case production: Smith v. Acme",
        "regulator request 9",
        "REG-9",
        f"'interaction:{ids[0]}'",
        "UNDER LEGAL HOLD",
        "litigation",
        "added by hand",
    ):
        assert words in flat, words
    info = bag.read_bag_info(out)
    assert info["Archiver-Case"] == "Smith v. Acme (open)"
    assert info["Archiver-Case-Reason"] == "regulator request 9"
    assert info["Archiver-Case-Reference"] == "REG-9"
    assert info["Archiver-Legal-Hold"].startswith("UNDER LEGAL HOLD")
    assert f"interaction:{ids[0]}" in info["Archiver-Case-Search"]
    assert info["Archiver-Interactions"] == "4" and info["Archiver-Held-Interactions"] == "4"
    text = "\n".join(p.extract_text() for p in PdfReader(out / "data" / "report.pdf").pages)
    assert text.count("LEGAL HOLD · case 'Smith v. Acme'") == 4


def test_the_gap_statement_is_the_coverage_modules_for_the_intervals_spanned(made):
    arc, ids, out, _ = made
    info_gaps = [
        line.split(": ", 1)[1]
        for line in (out / "bag-info.txt").read_text(encoding="utf-8").splitlines()
        if line.startswith("Archiver-Coverage-Gap: ")
    ]
    spans = []
    with Reader(arc) as r:
        found = interactions.interaction_records(r, ids)
        for iid in ids:
            keys_ = [k for ds in found for _, k in found[ds].get(iid, [])]
            spans.append((parse_api_bound(min(keys_)), parse_api_bound(max(keys_))))
        spans.sort()
        merged = []
        for a, b in spans:
            if merged and a <= merged[-1][1] + (
                parse_api_bound("202502010015") - parse_api_bound("202502010000")
            ):
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        want = []
        for ds in CASE_DATASETS:
            missing = {}
            for a, b in merged:
                missing.update(
                    {
                        t: w
                        for t, (st, w) in coverage.stream_states(r, ds, a, b).items()
                        if st != "done"
                    }
                )
            want += coverage.spans(ds, missing)
    assert info_gaps == want
    assert any(g.startswith("transcript 2025-02-03") for g in info_gaps)
    assert any(g.startswith("mpccdr 2025-02-03") for g in info_gaps)
    assert not any("2025-02-02" in g for g in info_gaps)  # a day no interaction spans
    assert not any(g.startswith(("interactionSegments", "workflowTrace")) for g in info_gaps)


def _archive_facts(arc: Path, iid: str) -> dict:
    with Reader(arc) as r:
        segs, steps = interactions.interaction(r, iid)
        messages = interactions.transcript(r, iid)
    starts = [derive.segment_start(s) for s in segs]
    starts += [derive.parse_utc(t.get("UPDATEHISTORYITEM_STARTTIME")) for t in steps]
    start = min(t for t in starts if t)
    return {
        "segments": segs,
        "messages": [line for m in messages for line in m["TRANSCRIPT_TEXT"].split("\n")],
        "start": start,
    }


def test_the_load_file_reads_back_and_every_row_agrees_with_the_archive(made):
    arc, ids, out, _ = made
    folder = out / loadfile.FOLDER
    raw = (folder / loadfile.DAT).read_bytes()
    assert raw.startswith("\ufeff".encode()) and raw.endswith(b"\r\n")
    assert "\u00fe".encode() in raw and b"\x14" in raw
    docs = loadfile.read_dat(folder / loadfile.DAT)
    assert [d["BEGDOC"] for d in docs] == [f"SMITHVACME-{n:06d}" for n in range(1, 5)]
    assert {d["INTERACTIONID"] for d in docs} == set(ids)
    manifest = bag.parse_manifest(out / bag.MANIFEST)
    for d in docs:
        facts = _archive_facts(arc, d["INTERACTIONID"])
        first = facts["segments"][0]
        assert d["ENDDOC"] == d["BEGDOC"] and d["CASE"] == "Smith v. Acme"
        assert d["DATE"] == f"{facts['start']:%Y%m%d}" and d["TIME"] == f"{facts['start']:%H:%M:%S}"
        assert d["CHANNEL"] == first["COMM_TYPE"]
        assert d["SUBJECT"] == loadfile.value(first.get("INTERACTION_SUBJECT", ""))
        assert d["NOTES"] == loadfile.value(first.get("INTERACTION_NOTES", ""))
        assert first["FIRST_LAST_NAME"] in d["PARTICIPANTS"]
        assert (first.get("QUEUE_NAME") or first["QUEUE_ID"]) in d["QUEUE"]
        assert d["LEGALHOLD"].startswith("case 'Smith v. Acme'")
        assert f"interactionSegments {len(facts['segments'])}" in d["RECORDS"]
        native = loadfile.local(folder, d["NATIVEPATH"])
        text = loadfile.local(folder, d["TEXTPATH"])
        assert d["NATIVEPATH"] == f"NATIVES\\{d['BEGDOC']}.pdf"
        assert bag.sha256_file(native) == d["SHA256"]
        for f in (native, text):
            rel = f.relative_to(out).as_posix()
            assert manifest[rel] == bag.sha256_file(f)  # covered by the bag's manifest
        pages = "\n".join(p.extract_text() for p in PdfReader(native).pages)
        assert f"Interaction {d['INTERACTIONID']}" in pages and "LEGAL HOLD" in pages
        body = text.read_text(encoding="utf-8")
        assert d["INTERACTIONID"] in body
        if facts["messages"]:
            shown = body.split("in the order the API delivered them):\n", 1)[1].splitlines()
            assert shown == facts["messages"]
        else:
            assert "No transcript is archived" in body


def test_the_export_is_in_the_access_log_naming_the_case_and_its_interactions(made):
    arc, ids, _out, _ = made
    (details,) = _sql(
        arc, "SELECT details FROM audit_log WHERE event = 'export' ORDER BY entry_id DESC LIMIT 1"
    )[0:1]
    d = json.loads(details[0])
    assert d["case"] == "Smith v. Acme" and sorted(d["interactions"]) == sorted(ids)
    assert d["load_file"] == "concordance" and d["documents"] == 4


def test_a_changed_native_is_found(made, signing, tmp_path):
    _arc, _ids, out, _ = made
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    native = next((copy / loadfile.FOLDER / loadfile.NATIVES).glob("*.pdf"))
    native.write_bytes(native.read_bytes() + b"%")
    res = run_cli("verify", copy, "--key-dir", signing)
    assert res.code == 1
    assert f"{native.relative_to(copy).as_posix()} does not match its SHA-256" in res.out
    assert "its native does not match SHA256" in res.out


def test_case_exports_refuse_what_makes_no_sense(shared, signing, tmp_path):
    arc = _copy(shared, tmp_path / "a.sqlite3")
    a = ("--archive", arc, "--key-dir", signing)
    run_cli("case", "create", "Empty", "--reason", "r", "--archive", arc)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        both = run_cli(
            "export",
            "--case",
            "Empty",
            "--from",
            "20250201",
            "--to",
            "20250201",
            "--out",
            tmp_path / "x",
            *a,
        )
        assert both.code == 2 and "--from" in both.err
        lf = run_cli(
            "export",
            "--from",
            "20250201",
            "--to",
            "20250201",
            "--load-file",
            "concordance",
            "--out",
            tmp_path / "x",
            *a,
        )
        assert lf.code == 2 and "--case" in lf.err
        nobody = run_cli("export", "--case", "Nobody", "--out", tmp_path / "x", *a)
        assert nobody.code == 2 and "no case named 'Nobody'" in nobody.err
        empty = run_cli("export", "--case", "Empty", "--out", tmp_path / "x", *a)
        assert empty.code == 3 and "holds no interaction" in empty.err
        norange = run_cli("export", "--out", tmp_path / "x", *a)
        assert norange.code == 2 and "--from and --to" in norange.err
    assert not (tmp_path / "x").exists()


def test_a_held_interaction_is_marked_in_a_date_range_bundle_too(shared, signing, tmp_path):
    arc = _copy(shared, tmp_path / "a.sqlite3")
    (iid,) = _sql(
        arc,
        """SELECT v.INTERACTION_ID FROM vals_interactionSegments v JOIN records r USING (record_id)
           WHERE r.interval_start LIKE '20250203%' ORDER BY 1 LIMIT 1""",
    )[0]
    run_cli("case", "create", "H", "--reason", "r", "--archive", arc)
    run_cli("case", "add", "H", "--interaction", iid, "--archive", arc)
    run_cli("hold", "place", "H", "--reason", "keep", "--archive", arc)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        res = run_cli(
            "export",
            "--from",
            "20250203",
            "--to",
            "20250203",
            "--out",
            tmp_path / "b",
            "--archive",
            arc,
            "--key-dir",
            signing,
        )
    assert res.code == 0, res.err
    assert "1 interaction under legal hold" in res.out
    text = "\n".join(
        p.extract_text() for p in PdfReader(tmp_path / "b" / "data" / "report.pdf").pages
    )
    assert "LEGAL HOLD · case 'H'" in text and text.count("LEGAL HOLD · ") == 1
    assert bag.read_bag_info(tmp_path / "b")["Archiver-Held-Interactions"] == "1"
    # the access log: this date-range export held the interaction, so it is about it
    with ArchiveReader(arc) as r:
        about = q.entries_about(r, iid)
        exports = [e.entry_id for e in r.audit_log() if e.event == "export"]
        (other,) = _sql(
            arc,
            """SELECT v.INTERACTION_ID FROM vals_interactionSegments v JOIN records r USING (record_id)
               WHERE r.interval_start LIKE '20250201%' LIMIT 1""",
        )[0]
        assert exports and exports[0] in about
        assert not set(exports) & set(q.entries_about(r, other))


def test_the_dat_carries_any_value_through_concordances_delimiters(tmp_path):
    values = ["þorn þ", "a\x14b", "®", "two\r\nlines\nand\rthree", "plain", "", '"quoted", ¶']
    row = values + [""] * (len(loadfile.FIELD_NAMES) - len(values))
    path = tmp_path / "x.dat"
    path.write_bytes(
        (loadfile.BOM + loadfile.record(loadfile.FIELD_NAMES) + loadfile.record(row)).encode()
    )
    (doc,) = loadfile.read_dat(path)
    got = [doc[f] for f in loadfile.FIELD_NAMES[: len(values)]]
    assert got == ["thorn th", "a b", "(R)", "two®lines®and®three", "plain", "", '"quoted", ¶']
    assert (
        loadfile.prefix("Smith v. Ácme 2025") == "SMITHVACME2025"
        and loadfile.prefix("日本") == "CASE"
    )
    broken = tmp_path / "y.dat"
    broken.write_bytes((loadfile.BOM + "þaþ\x14b" + "\r\n").encode())
    with pytest.raises(ValueError, match="record 1"):
        loadfile.read_dat(broken)


def test_case_scope_is_stated_in_words(made):
    _arc, _ids, out, _ = made
    info = bag.read_bag_info(out)
    assert info["Archiver-Scope"].startswith("the 4 interactions of case 'Smith v. Acme'")
    assert "whatever its date" in info["Archiver-Scope"]
    assert datetime(2025, 2, 1, tzinfo=UTC).strftime("%Y-%m-%d") in info["Archiver-Scope"]


def test_docs_list_the_load_files_fields():
    """docs/cases.md's table of the DAT's fields is loadfile.FIELDS, in order."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "cases.md").read_text(encoding="utf-8")
    table = text.split("| field | what it holds |", 1)[1].split("\n\n", 1)[0]
    rows = [
        line.split(" | ")
        for line in table.splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    assert [(r[0][2:], r[1].rstrip(" |")) for r in rows] == list(loadfile.FIELDS)


def test_long_typed_text_never_stops_an_export(shared, signing, tmp_path):
    """A query has at most 2000 characters, as a reason does; an archive whose log holds a
    longer one (an earlier archiver took any length) still exports: an audit entry's line
    (chain of custody) or a cover fact taller than a page is split across pages, not a
    LayoutError that stopped every later export of the archive."""
    arc = _copy(shared, tmp_path / "a.sqlite3")
    a = ("--archive", arc)
    long_query = "refund " * 3000
    refused = run_cli("search", long_query, *a)
    assert refused.code == 2 and "at most 2000 characters" in refused.err
    conn = sqlite3.connect(arc, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    auditlog.append(conn, "search", {"query": long_query, "hits": 1, "records": 1}, None)
    conn.execute("COMMIT")
    conn.close()
    ids = _case_ids(arc)[:1]
    reason = ("The customer wrote again about it. " * 60)[:2000]
    assert run_cli("case", "create", "Long", "--reason", reason, *a).code == 0
    assert run_cli("case", "add", "Long", "--interaction", ids[0], *a).code == 0
    assert run_cli("hold", "place", "Long", "--reason", reason, *a).code == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        for name, scope in (
            ("case", ("--case", "Long", "--load-file", "concordance")),
            ("range", ("--from", DAY1[0], "--to", DAY1[1])),
        ):
            res = run_cli("export", *scope, "--out", tmp_path / name, "--key-dir", signing, *a)
            assert res.code == 0, res.err
            assert run_cli("verify", tmp_path / name, "--key-dir", signing).code == 0
            text = "".join(
                p.extract_text() for p in PdfReader(tmp_path / name / "data" / "report.pdf").pages
            )
            assert text.count("refund") >= 3000, name  # the whole query, on as many pages
