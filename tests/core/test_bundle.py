"""Signed audit bundles: round trip, standard-tool verification, tampering, redaction, keys."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import zipfile
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from archiver.archive.auditlog import summarise
from archiver.export import keys
from archiver.export.bundle import BundleError, ExportCancelled, export_bundle
from archiver.export.csvsafe import escape_cell, unescape_cell
from archiver.export.scope import Scope
from archiver.export.verify import _verify_pdf, verify_bundle
from archiver.jobs import Cancel, drive
from archiver.simulator import SimConfig, Simulator
from tests.pulltools import params, pull

DAY = date(2025, 2, 1)


PASSPHRASE = "correct horse battery staple"


# One archive and one bundle per module: building a bundle takes seconds. Tests that read
# use them as they are; tests that change files work on a copy (shutil.copytree), and tests
# that export (which appends to the archive's audit log) get their own copy of the archive.


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # pyHanko reads the passphrase when signing
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        yield keys.load_or_create(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def shared_archive(tmp_path_factory):
    """The archive the shared bundle is made of (its export is the last audit entry): read
    it, never write to it."""
    sim = Simulator(SimConfig(rows_per_interval=2))
    sim.start()
    try:
        arc = tmp_path_factory.mktemp("archive") / "a.sqlite3"
        pull(sim, arc, params(["interactionSegments", "workflowTrace"], "20250201", "20250201"))
    finally:
        sim.stop()
    return arc


@pytest.fixture
def archive(shared_archive, tmp_path):
    """A copy of the shared archive for a test that writes to it (an export audits)."""
    arc = tmp_path / "a.sqlite3"
    src = sqlite3.connect(shared_archive)
    dst = sqlite3.connect(arc)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return arc


@pytest.fixture(scope="module")
def bundle(shared_archive, signing, tmp_path_factory):
    """The shared bundle: tests that change its files copy it first."""
    out = tmp_path_factory.mktemp("bundle") / "bundle"
    return _export(shared_archive, Scope(DAY, DAY), out, signing, make_zip=True)


def _export(*args, **kwargs):
    return drive(export_bundle(*args, **kwargs))


def _sh(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True)


def _latest(archive: Path, dataset: str, day: date = DAY) -> list[dict]:
    """Latest versions of the day's 15-minute rows (the pull also archived the interval
    after the day: its last chunk's overlap)."""
    conn = sqlite3.connect(archive)
    rows = [
        json.loads(v)
        for (v,) in conn.execute(
            """SELECT values_json FROM latest WHERE dataset=? AND dataset_type='interval'
               AND row_date=? ORDER BY row_date, row_key, commit_ts""",
            (dataset, day.isoformat()),
        )
    ]
    conn.close()
    return rows


def test_bundle_layout(bundle):
    root = bundle.path
    names = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "raw/" not in p.as_posix()
    )
    assert names == [
        "VERIFY.txt",
        "bag-info.txt",
        "bagit.txt",
        "data/interactionSegments.csv",
        "data/records.jsonl",
        "data/report.pdf",
        "data/workflowTrace.csv",
        "manifest-sha256.txt",
        "signer.pem",
        "tagmanifest-sha256.txt",
        "tagmanifest-sha256.txt.p7s",
    ]
    assert list((root / "data" / "raw").glob("*.json"))
    info = (root / "bag-info.txt").read_text()
    assert (
        "Payload-Oxum: " in info
        and "Archiver-Chain-Head: " in info
        and "Signer-Fingerprint-SHA256: " in info
    )
    assert bundle.zip_path and zipfile.is_zipfile(bundle.zip_path)


def test_records_jsonl_equals_archive(bundle, shared_archive):
    rows = [
        json.loads(line)
        for line in (bundle.path / "data" / "records.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
    ]
    for ds in ("interactionSegments",):
        assert [r["values"] for r in rows if r["dataset"] == ds] == _latest(shared_archive, ds)
    segs = {r["values"]["INTERACTION_ID"] for r in rows if r["dataset"] == "interactionSegments"}
    traces = [r for r in rows if r["dataset"] == "workflowTrace"]
    assert traces and all(r["values"]["WORKFLOWSESSION_INTERACTIONID"] in segs for r in traces)
    expected = [
        t
        for t in _latest(shared_archive, "workflowTrace")
        if t["WORKFLOWSESSION_INTERACTIONID"] in segs
    ]
    assert sorted(json.dumps(r["values"], sort_keys=True) for r in traces) == sorted(
        json.dumps(t, sort_keys=True) for t in expected
    )


def test_csv_equals_rows_apart_from_escaping(bundle, shared_archive):
    raw = (bundle.path / "data" / "interactionSegments.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    with (bundle.path / "data" / "interactionSegments.csv").open(
        encoding="utf-8-sig", newline=""
    ) as f:
        table = list(csv.reader(f))
    header, body = table[0], table[1:]
    assert header[-3:] == ["_record_sha256", "_page_sha256", "_received_at"]
    want = _latest(shared_archive, "interactionSegments")
    assert len(body) == len(want)
    cols = header[:-3]
    escaped = 0
    for row, values in zip(body, want, strict=True):
        for c, cell in zip(cols, row, strict=False):
            assert unescape_cell(cell) == values[c]
            if cell != values[c]:
                escaped += 1
                assert cell == "'" + values[c] and values[c][0] in "=+-@\t\r"
    assert escaped > 0  # the simulator's notes start with = + - @


def test_pdf_text_has_each_interaction_and_its_values(bundle, shared_archive):
    text = "\n".join(
        page.extract_text() for page in PdfReader(bundle.path / "data" / "report.pdf").pages
    )
    flat = " ".join(text.split())  # table cells wrap at spaces
    segs = _latest(shared_archive, "interactionSegments")
    for s in segs:
        assert s["INTERACTION_ID"] in text
    for s in segs[:20]:
        assert s["END_TIME"] in text and " ".join(s["QUEUE_NAME"].split()) in flat
    assert "Page 1 of" in text and bundle.bundle_id in text
    assert "Chain of custody" in text and "pull started" in text


def test_verify_clean_bundle_and_zip(bundle):
    rep = verify_bundle(bundle.path)
    assert rep.ok, rep.summary()
    assert any("covers the entire file" in c for c in rep.checks)
    assert verify_bundle(bundle.zip_path).ok
    out = subprocess.run(
        [sys.executable, "-m", "archiver", "verify", str(bundle.path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and out.stdout.startswith("VERIFIED")


def test_standard_tools_verify_it(bundle):
    root = bundle.path
    assert _sh("sha256sum -c manifest-sha256.txt", root).returncode == 0
    assert _sh("sha256sum -c tagmanifest-sha256.txt", root).returncode == 0
    cms = _sh(
        "openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content tagmanifest-sha256.txt -CAfile signer.pem -purpose any -out /dev/null",
        root,
    )
    assert cms.returncode == 0, cms.stderr
    fp = _sh("openssl x509 -in signer.pem -noout -fingerprint -sha256", root).stdout
    assert fp.strip().split("=", 1)[1] in (root / "bag-info.txt").read_text()
    pyhanko = Path(sys.executable).parent / "pyhanko"
    val = subprocess.run(
        [
            str(pyhanko),
            "sign",
            "validate",
            "--pretty-print",
            "--trust",
            "signer.pem",
            "data/report.pdf",
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert val.returncode == 0 and "judged VALID" in val.stdout, val.stdout + val.stderr
    bagit = subprocess.run(
        [str(Path(sys.executable).parent / "bagit.py"), "--validate", "."],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert bagit.returncode == 0 and "is valid" in bagit.stderr, bagit.stderr[-500:]
    for line in (root / "VERIFY.txt").read_text().splitlines():
        if line.startswith("    sha256sum") or line.startswith("    openssl cms"):
            assert _sh(line.strip(), root).returncode == 0, line


@pytest.mark.parametrize(
    "target",
    [
        "data/report.pdf",
        "data/interactionSegments.csv",
        "data/workflowTrace.csv",
        "data/records.jsonl",
        "RAW",
        "bag-info.txt",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
        "tagmanifest-sha256.txt.p7s",
        "signer.pem",
        "VERIFY.txt",
    ],
)
def test_one_flipped_byte_is_found(bundle, tmp_path, target):
    root = tmp_path / "copy"
    shutil.copytree(bundle.path, root)
    if target == "RAW":
        target = next((root / "data" / "raw").glob("*.json")).relative_to(root).as_posix()
    path = root / target
    data = bytearray(path.read_bytes())
    pos = len(data) // 2
    data[pos] = data[pos] ^ 0x20 if chr(data[pos]).isalpha() else (data[pos] + 1) % 256
    path.write_bytes(bytes(data))
    rep = verify_bundle(root)
    assert not rep.ok
    name = Path(target).name
    assert name in rep.problems[0] or (target == "signer.pem" and "signer" in rep.problems[0]), (
        rep.problems
    )
    # the standard tools fail too
    checks = [
        _sh("sha256sum -c manifest-sha256.txt", root).returncode,
        _sh("sha256sum -c tagmanifest-sha256.txt", root).returncode,
        _sh(
            "openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content tagmanifest-sha256.txt -CAfile signer.pem -purpose any -out /dev/null",
            root,
        ).returncode,
    ]
    assert any(checks), f"no standard check noticed a change to {target}"


def test_incremental_update_appended_to_the_pdf_is_found(bundle, tmp_path):
    from pyhanko.pdf_utils.generic import pdf_name, pdf_string
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    root = tmp_path / "copy"
    shutil.copytree(bundle.path, root)
    pdf = root / "data" / "report.pdf"
    with pdf.open("r+b") as f:
        w = IncrementalPdfFileWriter(f)
        info = w.trailer["/Info"].get_object() if "/Info" in w.trailer else None
        if info is not None:
            info[pdf_name("/Title")] = pdf_string("Altered after signing")
            w.update_container(info)
        else:
            w.root[pdf_name("/Lang")] = pdf_string("fr")
            w.update_root()
        w.write_in_place()
    rep = verify_bundle(root)
    assert not rep.ok and "data/report.pdf" in rep.problems[0]
    from archiver.export.verify import BundleReport

    only_pdf = BundleReport()
    _verify_pdf(pdf, root / "signer.pem", only_pdf)
    assert only_pdf.problems and "appended after signing" in only_pdf.problems[0]
    pyhanko = Path(sys.executable).parent / "pyhanko"
    val = subprocess.run(
        [
            str(pyhanko),
            "sign",
            "validate",
            "--pretty-print",
            "--trust",
            "signer.pem",
            "data/report.pdf",
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert (
        "judged VALID" not in val.stdout
        or "not cover the entire file" in val.stdout
        or val.returncode != 0
    )


def test_deleted_and_added_files_are_found(bundle, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(bundle.path, root)
    victim = next((root / "data" / "raw").glob("*.json"))
    victim.unlink()
    rep = verify_bundle(root)
    assert not rep.ok and victim.name in rep.problems[0] and "deleted" in rep.problems[0]
    assert _sh("sha256sum -c manifest-sha256.txt", root).returncode != 0
    root2 = tmp_path / "copy2"
    shutil.copytree(bundle.path, root2)
    (root2 / "data" / "extra.csv").write_text("a,b\n")
    rep = verify_bundle(root2)
    assert not rep.ok and "data/extra.csv" in rep.problems[0] and "added" in rep.problems[0]
    (root2 / "data" / "extra.csv").unlink()
    (root2 / "notes.txt").write_text("x")
    rep = verify_bundle(root2)
    assert not rep.ok and "notes.txt" in rep.problems[0]
    out = subprocess.run(
        [sys.executable, "-m", "archiver", "verify", str(root2)], capture_output=True, text=True
    )
    assert out.returncode == 1 and "FAILED: notes.txt" in out.stdout


def test_redaction_applies_to_the_copy_only(archive, signing, tmp_path):
    before = (
        sqlite3.connect(archive)
        .execute("SELECT count(*), sum(length(values_json)) FROM records")
        .fetchone()
    )
    names = {
        s["FIRST_LAST_NAME"]
        for s in _latest(archive, "interactionSegments")
        if s["FIRST_LAST_NAME"]
    }
    result = _export(archive, Scope(DAY, DAY, redact="customer-pii"), tmp_path / "red", signing)
    root = result.path
    assert not (root / "data" / "raw").exists()
    for f in ("records.jsonl", "interactionSegments.csv", "workflowTrace.csv"):
        text = (root / "data" / f).read_text(encoding="utf-8-sig")
        assert not any(n in text for n in names), f
        assert "[REDACTED]" in text or f == "workflowTrace.csv"
    pdf_text = "\n".join(
        p.extract_text() for p in PdfReader(root / "data" / "report.pdf").pages[:30]
    )
    assert not any(n in pdf_text for n in names)
    assert "customer-pii" in (root / "bag-info.txt").read_text() and "customer-pii" in pdf_text
    assert verify_bundle(root).ok
    after = (
        sqlite3.connect(archive)
        .execute("SELECT count(*), sum(length(values_json)) FROM records")
        .fetchone()
    )
    assert before == after
    last = (
        sqlite3.connect(archive)
        .execute("SELECT event, details FROM audit_log ORDER BY entry_id DESC LIMIT 1")
        .fetchone()
    )
    assert last[0] == "export" and json.loads(last[1])["redaction"] == "customer-pii"


def test_filters_and_gaps_are_stated(archive, signing, tmp_path):
    iid = _latest(archive, "interactionSegments")[0]["INTERACTION_ID"]
    result = _export(
        archive, Scope(DAY, date(2025, 2, 2), interactions=(iid,)), tmp_path / "one", signing
    )
    assert result.interactions == 1
    assert any("2025-02-02" in g for g in result.gaps)
    text = (result.path / "bag-info.txt").read_text()
    assert "Archiver-Coverage-Gap: interactionSegments 2025-02-02 00:00" in text
    pdf_text = PdfReader(result.path / "data" / "report.pdf").pages[0].extract_text()
    assert "gap(s)" in pdf_text and "2025-02-02" in pdf_text


def test_export_refuses_a_non_empty_directory(archive, signing, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(BundleError, match="not empty"):
        _export(archive, Scope(DAY, DAY), tmp_path / "busy", signing)


def test_no_passphrase_says_how_to_provide_one(archive, tmp_path, monkeypatch):
    monkeypatch.delenv("ARCHIVER_KEY_PASSPHRASE", raising=False)
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("ARCHIVER_KEY_PASSPHRASE", None)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "archiver",
            "export",
            "--archive",
            str(archive),
            "--from",
            "2025-02-01",
            "--to",
            "2025-02-01",
            "--out",
            str(tmp_path / "b"),
            "--key-dir",
            str(tmp_path / "k"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 4 and "ARCHIVER_KEY_PASSPHRASE" in out.stderr
    assert not (tmp_path / "b").exists()


def test_cli_export_prints_fingerprint_and_key_is_encrypted(archive, tmp_path):
    env = dict(os.environ, ARCHIVER_KEY_PASSPHRASE="pw-123")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "archiver",
            "export",
            "--archive",
            str(archive),
            "--from",
            "20250201",
            "--to",
            "20250201",
            "--out",
            str(tmp_path / "b"),
            "--key-dir",
            str(tmp_path / "k"),
            "--redact",
            "customer-pii",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "Signer certificate SHA-256:" in out.stdout
    pem = (tmp_path / "k" / "key.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in pem and "pw-123" not in pem
    show = subprocess.run(
        [sys.executable, "-m", "archiver", "keys", "show", "--key-dir", str(tmp_path / "k")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert show.returncode == 0 and show.stdout.split("fingerprint: ")[1].split()[0] in out.stdout


def test_import_pkcs12(tmp_path, monkeypatch):
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", "x")
    made = keys.create(tmp_path / "a")
    p12 = tmp_path / "id.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"id", made.key, made.cert, None, BestAvailableEncryption(b"p12pw")
        )
    )
    imported = keys.import_pkcs12(p12, "p12pw", tmp_path / "b")
    assert imported.fingerprint == made.fingerprint
    assert keys.load(tmp_path / "b").fingerprint == made.fingerprint


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1 555", "'+1 555"),
        ("-- x", "'-- x"),
        ("@sup", "'@sup"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-12", "-12"),
        ("+3.5", "+3.5"),
        ("1e5", "1e5"),
        ("plain", "plain"),
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)
def test_formula_escaping_rule(value, escaped):
    assert escape_cell(value) == escaped
    assert unescape_cell(escaped) == value


@pytest.mark.parametrize("token", [threading.Event, Cancel])
def test_cancel_leaves_nothing_half_written(archive, signing, tmp_path, token):
    cancel = token()
    gen = export_bundle(archive, Scope(DAY, DAY), tmp_path / "cancelled", signing, cancel=cancel)
    assert next(gen).startswith("Selecting")
    cancel.set()
    with pytest.raises(ExportCancelled):
        for _ in gen:
            pass
    assert not (tmp_path / "cancelled").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cancelled")]


def test_custody_summaries_say_what_each_entry_records(bundle, shared_archive):
    """Every audit entry of the archive gets an informative one-line summary, the same in
    the report and in the app (archiver.archive.auditlog)."""
    conn = sqlite3.connect(shared_archive)
    entries = [(e, json.loads(d)) for e, d in conn.execute("SELECT event, details FROM audit_log")]
    conn.close()
    assert entries[-1][0] == "export" and entries[-1][1]["bundle_id"] == bundle.bundle_id
    assert summarise(*entries[-1]) == (
        f"bundle {bundle.bundle_id}, redaction none; "
        f"{bundle.segments:,} segment rows, {bundle.traces:,} trace rows"
    )
    entries = entries[:-1]  # the bundle's own export is recorded after its report was made
    assert {e for e, _ in entries} >= {"pull started", "pull finished"}
    pages = PdfReader(bundle.path / "data" / "report.pdf").pages
    front = [p.extract_text() for p in pages[:12]]
    front = front[: next(i for i, t in enumerate(front) if "Interactions of 2025" in t)]
    text = " ".join(" ".join(t.split()) for t in front)  # the front matter
    for event, details in entries:
        line = summarise(event, details)
        assert line and line != event
        assert " ".join(line.split()) in text
    started = summarise(*next(x for x in entries if x[0] == "pull started"))
    assert "interactionSegments, workflowTrace 2025-02-01T00:00 → 2025-02-01T23:45" in started
    finished = summarise(*next(x for x in entries if x[0] == "pull finished"))
    assert finished.startswith("finished") and "rows received" in finished
    assert "new row versions archived" in finished


@pytest.mark.parametrize(
    ("event", "details", "expect"),
    [
        ("pull resumed", {}, "interrupted run resumed with its original parameters"),
        (
            "pull started",
            {"tenant": "t", "params": {"description": "retry failed", "chunks": 3}},
            "retry failed (3 chunks); tenant t",
        ),
        (
            "key fallback",
            {
                "dataset": "agent",
                "dataset_type": "interval",
                "rule": "ROW_ID",
                "fallback": "natural",
                "page_id": 7,
                "reason": "ROW_ID repeats",
            },
            "agent (interval): key ROW_ID replaced by natural at page 7: ROW_ID repeats",
        ),
        (
            "verify-archive",
            {"result": "ok", "pages": 1200, "records": 34000, "chain_head": "ab" * 32},
            "ok: 1,200 pages, 34,000 records checked; chain head abababababababab…",
        ),
        ("backup", {"to": "/b/a.sqlite3"}, "copy written to /b/a.sqlite3"),
        (
            "export-dataset",
            {
                "dataset": "queue",
                "format": "csv",
                "out": "/x.csv",
                "rows": 1500,
                "all_versions": False,
                "dataset_type": "interval",
                "from": "2025-02-01",
                "to": None,
            },
            "1,500 15-minute rows of queue (latest versions) as csv, 2025-02-01 to … → /x.csv",
        ),
        (
            "export",
            {"bundle_id": "B1", "redaction": "customer-pii", "segments": 5, "traces": 9},
            "bundle B1, redaction customer-pii; 5 segment rows, 9 trace rows",
        ),
        ("something new", {"what": "x", "n": 2, "nested": {"a": 1}}, "what=x, n=2"),
        ("something new", {}, "something new"),
    ],
)
def test_audit_summary_rule(event, details, expect):
    assert summarise(event, details) == expect
