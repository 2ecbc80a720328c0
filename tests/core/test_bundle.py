"""Signed audit bundles: round trip, standard-tool verification, tampering, redaction, keys."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from archiver.archive.auditlog import summarise
from archiver.export import bag, bundlezip, csvsafe, keys
from archiver.export.bundle import (
    BundleError,
    export_bundle,
    publish,
    zip_path_for,
)
from archiver.export.csvsafe import escape_cell, unescape_cell
from archiver.export.scope import Scope
from archiver.export.trust import TrustPolicy
from archiver.export.verify import _verify_pdf, verify_bundle
from archiver.jobs import Cancel, Cancelled, drive
from archiver.simulator import SimConfig, Simulator
from tests.clitools import run_cli
from tests.forgery import forge_record
from tests.pulltools import params, pull
from tests.tsatools import start_tsa

#: one archive, key and bundle for the module's tests (module fixtures):
#: built once, so all on one pytest-xdist worker (dev.sh runs --dist loadgroup)
pytestmark = pytest.mark.xdist_group("bundle")

DAY = date(2025, 2, 1)
#: two hours of DAY: a bundle whose size does not matter to the test is made (and verified:
#: pyHanko checks a timestamped PDF object by object) in a fraction of a day's time
TWO_HOURS = Scope(datetime(2025, 2, 1, 4, 0, tzinfo=UTC), datetime(2025, 2, 1, 5, 45, tzinfo=UTC))


PASSPHRASE = "correct horse battery staple"


# One archive and one bundle per module: building a bundle takes seconds. Tests that read
# use them as they are; tests that change files work on a copy (shutil.copytree), and tests
# that export (which appends to the archive's audit log) get their own copy of the archive.


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # pyHanko reads the passphrase when signing
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        # its own parent: the trust store next to it (keysN/trust) is this module's alone
        yield keys.load_or_create(tmp_path_factory.mktemp("keys") / "signing")


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


def _key_dir(ident: keys.SigningIdentity) -> Path:
    return ident.cert_path.parent


def _trusting(ident: keys.SigningIdentity) -> TrustPolicy:
    """The verifier's trust on the machine that holds ``ident``: its local signing key."""
    return TrustPolicy.local(_key_dir(ident))


def _sh(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True)


def _latest(archive: Path, dataset: str, day: date = DAY) -> list[dict]:
    """Latest versions of the day's 15-minute rows in export order (the pull also archived
    the interval after the day: its last chunk's overlap)."""
    conn = sqlite3.connect(archive)
    found = conn.execute(
        """SELECT l.row_key, v.values_json FROM latest l
           JOIN record_values v ON v.record_id = l.record_id
           WHERE l.dataset=? AND l.dataset_type='interval' AND l.interval_start LIKE ?""",
        (dataset, f"{day:%Y%m%d}%"),
    ).fetchall()
    conn.close()
    rows = [(key, json.loads(v)) for key, v in found]
    rows.sort(key=lambda kv: (kv[1].get("ROW_DATE_UTC", ""), kv[0], kv[1].get("COMMIT_TS", "")))
    return [v for _, v in rows]


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
                assert cell == "'" + values[c] and values[c][0] in "=+-@\t\r'0"
    assert escaped > 0  # the simulator's notes start with = + - @
    phones = [row[cols.index("SOURCE_PHONE_NUMBER")] for row in body]
    assert any(phones) and all(p.startswith("'+") for p in phones if p)  # text, + kept


def test_phone_numbers_read_back_exactly_from_the_csv(bundle, shared_archive):
    """What a spreadsheet shows as text comes back as the exact API string: one leading
    quote removed, nothing else."""
    with (bundle.path / "data" / "interactionSegments.csv").open(
        encoding="utf-8-sig", newline=""
    ) as f:
        rows = list(csv.DictReader(f))
    got = sorted(unescape_cell(r["SOURCE_PHONE_NUMBER"]) for r in rows)
    want = sorted(v["SOURCE_PHONE_NUMBER"] for v in _latest(shared_archive, "interactionSegments"))
    assert got == want and any(w.startswith("+") for w in want)


def test_a_bundle_escaped_by_the_earlier_rule_still_verifies(
    archive, signing, tmp_path, monkeypatch
):
    """archiver 0.1.0 wrote phone numbers as they are: its bundles stay verifiable."""
    from archiver.export import bundle as bundle_module

    monkeypatch.setattr(
        bundle_module, "escape_row", lambda values: [csvsafe._escape_0_1(v) for v in values]
    )
    result = _export(archive, Scope(DAY, DAY), tmp_path / "old", signing)
    with (result.path / "data" / "interactionSegments.csv").open(encoding="utf-8-sig") as f:
        assert any(r["SOURCE_PHONE_NUMBER"].startswith("+") for r in csv.DictReader(f))
    assert verify_bundle(result.path, _trusting(signing)).ok


def test_csv_cell_matches_either_rule_but_nothing_else():
    assert csvsafe.matches("'+4930123", "+4930123") and csvsafe.matches("+4930123", "+4930123")
    assert not csvsafe.matches("+4930123", "+4930124")
    assert not csvsafe.matches("=1+1", "=1+1")  # a formula left bare matches no rule
    assert not csvsafe.matches("''x", "'x'")


@pytest.mark.slow
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


def test_verify_clean_bundle_and_zip(bundle, signing, tmp_path):
    rep = verify_bundle(bundle.path, _trusting(signing))
    assert rep.ok, rep.summary()
    assert any("covers the entire file" in c for c in rep.checks)
    assert verify_bundle(bundle.zip_path, _trusting(signing)).ok
    out = run_cli("verify", str(bundle.path), "--key-dir", str(_key_dir(signing)))
    assert out.returncode == 0 and out.stdout.startswith("VERIFIED"), out.stdout
    assert "signed by the local signing key" in out.stdout
    # intact, but on a machine that does not know the signer: not VERIFIED
    rep = verify_bundle(bundle.path)
    assert rep.intact and not rep.ok and rep.state == "untrusted"
    out = run_cli("verify", str(bundle.zip_path), "--key-dir", str(tmp_path / "elsewhere"))
    assert out.returncode == 3 and out.stdout.startswith("INTACT, BUT THE SIGNER IS NOT TRUSTED")


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


@pytest.mark.slow
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
    out = run_cli("verify", root2)
    assert out.returncode == 1 and "FAILED: notes.txt" in out.stdout


def test_redaction_applies_to_the_copy_only(archive, signing, tmp_path):
    before = (
        sqlite3.connect(archive)
        .execute("SELECT count(*), sum(length(values_json)) FROM record_values")
        .fetchone()
    )
    names = {
        s["FIRST_LAST_NAME"]
        for s in _latest(archive, "interactionSegments")
        if s["FIRST_LAST_NAME"]
    }
    redacted = replace(TWO_HOURS, redact="customer-pii")  # every name of it, everywhere
    result = _export(archive, redacted, tmp_path / "red", signing)
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
    assert verify_bundle(root, _trusting(signing)).ok
    after = (
        sqlite3.connect(archive)
        .execute("SELECT count(*), sum(length(values_json)) FROM record_values")
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
    # the next day's 00:00 came back as the pull's last `ending` (the simulator reads it
    # inclusively): walked, and said so; the rest of the day was never requested
    assert (
        "Archiver-Coverage-Gap: interactionSegments 2025-02-02 00:15 – 23:45 UTC, last "
        "interval included: never requested" in text
    )
    assert "Archiver-Walked-At-Previous-Ending: interactionSegments 2025-02-02 00:00 UTC" in text
    pdf_text = PdfReader(result.path / "data" / "report.pdf").pages[0].extract_text()
    assert re.search(r"\b[\d,]+ gaps?\b", pdf_text) and "2025-02-02" in pdf_text


def test_export_refuses_a_non_empty_directory(archive, signing, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(BundleError, match="not empty"):
        _export(archive, Scope(DAY, DAY), tmp_path / "busy", signing)


def test_no_passphrase_says_how_to_provide_one(archive, tmp_path, monkeypatch):
    monkeypatch.delenv("ARCHIVER_KEY_PASSPHRASE", raising=False)
    out = run_cli(
        "export",
        "--archive",
        archive,
        "--from",
        "2025-02-01",
        "--to",
        "2025-02-01",
        "--out",
        tmp_path / "b",
        "--key-dir",
        tmp_path / "k",
        env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    )
    assert out.returncode == 4 and "ARCHIVER_KEY_PASSPHRASE" in out.stderr
    assert not (tmp_path / "b").exists()


def test_cli_export_prints_fingerprint_and_key_is_encrypted(archive, tmp_path):
    env = {"ARCHIVER_KEY_PASSPHRASE": "pw-123"}
    out = run_cli(
        "export",
        "--archive",
        archive,
        "--from",
        "20250201",
        "--to",
        "20250201",
        "--out",
        tmp_path / "b",
        "--key-dir",
        tmp_path / "k",
        "--redact",
        "customer-pii",
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "Signer certificate SHA-256:" in out.stdout
    pem = (tmp_path / "k" / "key.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in pem and "pw-123" not in pem
    show = run_cli(
        "keys", "show", "--key-dir", tmp_path / "k", env={"ARCHIVER_KEY_PASSPHRASE": None}
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
        ("1e5", "1e5"),
        ("plain", "plain"),
        ("", ""),
        ("'quoted", "''quoted"),
        ("'=SUM(A1)", "''=SUM(A1)"),
        ("'+44 20 7946 0000", "''+44 20 7946 0000"),
        ("''", "'''"),
        ("'", "''"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("+447946000000", "'+447946000000"),  # a phone number stays text, its + kept
        ("+3.5", "'+3.5"),
        ("0301234567", "'0301234567"),  # a leading zero a spreadsheet would drop
        ("007", "'007"),
        ("0", "0"),
        ("0.5", "0.5"),
        ("10", "10"),
        ("-5", "-5"),
        ("-5 apples", "'-5 apples"),
        ("-", "'-"),
        ("+", "'+"),
        ("=", "'="),
        ("@", "'@"),
        (".5", ".5"),
        ("-.5e-3", "-.5e-3"),
        ("-12\n", "'-12\n"),
        ("-٣", "'-٣"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("ünïcødé =x", "ünïcødé =x"),
        ("\u202e=x", "\u202e=x"),
        (" =1+1", " =1+1"),
        ("\n=1", "\n=1"),
    ],
)
def test_formula_escaping_rule(value, escaped):
    assert escape_cell(value) == escaped
    assert unescape_cell(escaped) == value


def test_formula_escaping_is_one_to_one():
    """Reversible on every string, and no two strings escape alike: the verifier compares
    escaped text exactly."""
    alphabet = ["", "'", "''", "=", "+", "-", "@", "\t", "\r", "1", "-1", "x", "é"]
    values = {a + b + c for a in alphabet for b in alphabet for c in alphabet}
    escaped = {escape_cell(v): v for v in values}
    assert len(escaped) == len(values)
    for e, v in escaped.items():
        assert unescape_cell(e) == v


def test_cancel_leaves_nothing_half_written(archive, signing, tmp_path):
    cancel = Cancel()
    gen = export_bundle(archive, Scope(DAY, DAY), tmp_path / "cancelled", signing, cancel=cancel)
    assert next(gen).startswith("Selecting")
    cancel.set()
    with pytest.raises(Cancelled):
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
        f"bundle {bundle.bundle_id} ({DAY} 00:00 – 23:45 UTC, last interval included, latest "
        f"versions), redaction none; {bundle.segments:,} interactionSegments latest records, "
        f"{bundle.traces:,} workflowTrace latest records "
        f"→ {entries[-1][1]['out']}; signed by {entries[-1][1]['signer_fingerprint'][:23]}…"
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
    assert "new records archived" in finished


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
            "pull finished",
            {
                "status": "finished",
                "summary": {
                    "datasets": {
                        "agent": {"rows": 2351, "new_versions": 2000, "not_entitled": False},
                        "workflowTrace": {"rows": 0, "new_versions": 0, "not_entitled": True},
                    }
                },
            },
            "finished (agent); not entitled, not archived: workflowTrace; "
            "2,351 rows received, 2,000 new records archived",
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
            "1,500 latest records (15-minute) of queue as csv, 2025-02-01 to … → /x.csv",
        ),
        (
            "export",
            {"bundle_id": "B1", "redaction": "customer-pii", "segments": 5, "traces": 9},
            "bundle B1, redaction customer-pii; 5 interactionSegments latest records, "
            "9 workflowTrace latest records",
        ),
        (
            "export",
            {
                "bundle_id": "B2",
                "out": "/evidence/b2",
                "scope": {
                    "start": "2025-02-01",
                    "end": "2025-02-03",
                    "interactions": ["i1", "i2", "i3", "i4"],
                    "agent": "u7",
                    "queue": None,
                    "channel": "voice",
                    "versions": "all",
                    "redact": "customer-pii",
                },
                "redaction": "customer-pii",
                "redacted_fields": ["FIRST_LAST_NAME", "SOURCE_EMAIL"],
                "segments": 1200,
                "traces": 3400,
                "signer_fingerprint": "AB:CD:" * 16,
            },
            "bundle B2 (2025-02-01 to 2025-02-03, interactions i1, i2, i3 and 1 "
            "more, agent u7, channel voice, all versions), redaction customer-pii (2 fields); "
            "1,200 interactionSegments records, 3,400 workflowTrace records → /evidence/b2; "
            "signed by AB:CD:AB:CD:AB:CD:AB:CD…",
        ),
        (
            "export-dataset",
            {
                "dataset": "interactionSegments",
                "dataset_type": "daily",
                "format": "csv",
                "csv_formulas": "raw",
                "out": "/w/s.csv",
                "rows": 7,
                "all_versions": True,
            },
            "7 records (daily) of interactionSegments as csv (formula cells: raw) → /w/s.csv",
        ),
        (
            "archive lock taken over",
            {
                "previous": {
                    "pid": 41,
                    "since": "2025-02-01T02:30:00Z",
                    "host": "h",
                    "command": "archiver pull",
                },
                "lock_file": "/a.sqlite3.lock",
                "by": {
                    "pid": 42,
                    "since": "2025-02-01T03:00:00Z",
                    "host": "h",
                    "command": "archiver gui",
                },
            },
            "stale lock of pid 41 on h (since 2025-02-01T02:30:00Z: archiver pull) taken over by "
            "pid 42 on h; lock file /a.sqlite3.lock",
        ),
        ("something new", {"what": "x", "n": 2, "nested": {"a": 1}}, "what=x, n=2"),
        ("something new", {}, "something new"),
    ],
)
def test_audit_summary_rule(event, details, expect):
    assert summarise(event, details) == expect


def test_a_custody_row_summarises_an_error_instead_of_pasting_it():
    error = (
        "24 chunks not archived; first: agentAux 202502030000: The API kept failing (HTTP 500: "
        "An unexpected platform error occurred.) after 12 attempts. Nothing already received is "
        "lost; run the same command again later to resume from this page. If it persists, "
        "contact Avaya Support.\n" + "x" * 5000
    )
    details = {
        "status": "failed",
        "summary": {"datasets": {"agentAux": {"failed": 24}}, "error": error},
    }
    text = summarise("pull finished", details)
    assert "24 chunks failed; first error: agentAux 202502030000: The API kept failing" in text
    assert text.endswith("…") and "Avaya Support" not in text and "\n" not in text
    assert len(text) < 200
    assert summarise("pull finished", {"status": "failed", "summary": {"error": "Disk full."}}) == (
        "failed; 0 rows received, 0 new records archived; error: Disk full."
    )


# -- signer trust: a forgery re-signed with another key --------------------------------------

FORGED = {"FIRST_LAST_NAME": "'=Mallory Forger", "SOURCE_PHONE_NUMBER": "'+44 20 7946 0000"}


@pytest.fixture(scope="module")
def forged(shared_archive, signing, tmp_path_factory):
    """A copy of the archive with one customer's name (and phone) changed in the record and
    its raw page, exported with a freshly created key B in another key directory. The new
    values start with ' (a name typed '=…, a phone typed '+44…): they must verify too."""
    base = tmp_path_factory.mktemp("forgery")
    arc = base / "copy.sqlite3"
    src, dst = sqlite3.connect(shared_archive), sqlite3.connect(arc)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    forge_record(arc, "interactionSegments", "FIRST_LAST_NAME", FORGED, DAY.isoformat())
    key_b = keys.create(base / "keysB" / "signing")
    result = _export(arc, Scope(DAY, DAY), base / "forged", key_b, make_zip=True)
    return result, key_b


def test_forged_bundle_signed_with_another_key_is_not_trusted(bundle, forged, signing, tmp_path):
    result, key_b = forged
    a, b = signing.fingerprint, key_b.fingerprint
    records = (result.path / "data" / "records.jsonl").read_text(encoding="utf-8")
    assert "'=Mallory Forger" in records  # the forgery is real, and intact:
    csv_text = (result.path / "data" / "interactionSegments.csv").read_text(encoding="utf-8-sig")
    assert "''=Mallory Forger" in csv_text and "''+44 20 7946 0000" in csv_text
    assert verify_bundle(result.path).intact
    # on the genuine signer's machine: intact, but the signer is not trusted → 3
    out = run_cli("verify", str(result.path), "--key-dir", str(_key_dir(signing)))
    assert out.returncode == 3, out.stdout
    assert out.stdout.startswith("INTACT, BUT THE SIGNER IS NOT TRUSTED")
    assert f"Signer certificate SHA-256: {b}" in out.stdout
    assert f"--expect-fingerprint {b}" in out.stdout and "archiver trust add" in out.stdout
    assert "out of band" in out.stdout
    # pinned to the genuine signer: a failure, not merely untrusted → 1
    out = run_cli(
        "verify", str(result.zip_path), "--expect-fingerprint", a, "--key-dir", str(tmp_path)
    )
    assert out.returncode == 1 and out.stdout.startswith("FAILED: the signer's certificate is not")
    assert b in out.stdout and a in out.stdout
    # pinned to B (any spelling): the bundle is what B signed → 0
    pin_b = b.replace(":", "").lower()
    out = run_cli(
        "verify", str(result.path), "--expect-fingerprint", pin_b, "--key-dir", str(tmp_path)
    )
    assert out.returncode == 0 and out.stdout.startswith("VERIFIED"), out.stdout
    # the genuine bundle with the genuine pin, on a machine with no key → 0
    out = run_cli("verify", str(bundle.path), "--expect-fingerprint", a, "--key-dir", str(tmp_path))
    assert out.returncode == 0 and out.stdout.startswith("VERIFIED"), out.stdout


def test_expect_fingerprint_that_is_not_one_is_a_usage_error(bundle):
    out = run_cli("verify", str(bundle.path), "--expect-fingerprint", "12:34")
    assert out.returncode == 2 and "not a SHA-256 fingerprint" in out.stderr
    out = run_cli("verify", str(bundle.path / "nothing-here"))
    assert out.returncode == 2 and "no such file" in out.stderr


def test_keys_create_refuses_to_replace_a_key_and_force_keeps_it_trusted(bundle, signing, tmp_path):
    kd = tmp_path / "machine" / "signing"
    kd.mkdir(parents=True)
    for name in ("key.pem", "cert.pem"):  # the machine that signed the shared bundle
        shutil.copy(_key_dir(signing) / name, kd / name)
    before = (kd / "key.pem").read_bytes(), (kd / "cert.pem").read_bytes()
    out = run_cli("keys", "create", "--key-dir", str(kd))
    assert out.returncode == 1 and "Refused to replace it" in out.stderr
    assert signing.fingerprint in out.stderr and "--force" in out.stderr
    assert ((kd / "key.pem").read_bytes(), (kd / "cert.pem").read_bytes()) == before
    with pytest.raises(keys.KeyExistsError):
        keys.create(kd)
    out = run_cli("keys", "create", "--force", "--key-dir", str(kd))
    assert (
        out.returncode == 0
        and f"Retired (kept, still trusted for verification): {signing.fingerprint}" in out.stdout
    )
    stamp = signing.fingerprint.replace(":", "")
    assert (kd / f"key-{stamp}.pem").read_bytes() == before[0]
    assert (kd / f"cert-{stamp}.pem").read_bytes() == before[1]
    assert keys.load(kd).fingerprint != signing.fingerprint
    out = run_cli("verify", str(bundle.path), "--key-dir", str(kd))
    assert out.returncode == 0 and "a retired local signing key" in out.stdout.splitlines()[0]
    show = run_cli("keys", "show", "--key-dir", str(kd))
    assert f"Retired: {signing.fingerprint}" in show.stdout


def test_keys_import_refuses_to_replace_a_key(signing, tmp_path):
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    other = keys.create(tmp_path / "other" / "signing")
    p12 = tmp_path / "id.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"id", other.key, other.cert, None, BestAvailableEncryption(b"pw")
        )
    )
    kd = tmp_path / "mine" / "signing"
    first = keys.create(kd)
    with pytest.raises(keys.KeyExistsError):
        keys.import_pkcs12(p12, "pw", kd)
    assert keys.load(kd).fingerprint == first.fingerprint
    assert keys.import_pkcs12(p12, "pw", kd, force=True).fingerprint == other.fingerprint
    assert [keys.cert_fingerprint(c) for c, _ in keys.local_certificates(kd)] == [
        other.fingerprint,
        first.fingerprint,
    ]


def test_trust_store_add_list_remove(bundle, forged, signing, tmp_path):
    result, key_b = forged
    kd = str(tmp_path / "auditor" / "signing")  # an auditor without a key of their own
    assert run_cli("verify", str(result.path), "--key-dir", kd).returncode == 3
    out = run_cli("trust", "add", str(result.path / "signer.pem"), "--key-dir", kd)
    assert out.returncode == 0 and key_b.fingerprint in out.stdout
    assert run_cli("trust", "add", str(result.path), "--key-dir", kd).returncode == 1  # already
    out = run_cli("verify", str(result.path), "--key-dir", kd)
    assert out.returncode == 0 and "a certificate in the trust store" in out.stdout
    assert (
        run_cli("trust", "add", str(bundle.zip_path), "--key-dir", kd).returncode == 0
    )  # from a zip
    listed = run_cli("trust", "list", "--key-dir", kd).stdout
    assert key_b.fingerprint in listed and signing.fingerprint in listed and "added 20" in listed
    assert "(no signing key yet)" in listed
    stored = sorted(p.name for p in (tmp_path / "auditor" / "trust").iterdir())
    assert stored == sorted(
        f"{fp.replace(':', '')}.pem" for fp in (key_b.fingerprint, signing.fingerprint)
    )
    out = run_cli("trust", "remove", key_b.fingerprint.replace(":", "").lower(), "--key-dir", kd)
    assert out.returncode == 0 and "No longer trusted" in out.stdout
    assert run_cli("verify", str(result.path), "--key-dir", kd).returncode == 3
    assert run_cli("verify", str(bundle.path), "--key-dir", kd).returncode == 0
    out = run_cli("trust", "remove", key_b.fingerprint, "--key-dir", kd)
    assert out.returncode == 1 and "not in the trust store" in out.stderr
    assert run_cli("trust", "remove", "xyz", "--key-dir", kd).returncode == 2
    own = run_cli("trust", "remove", signing.fingerprint, "--key-dir", str(_key_dir(signing)))
    assert own.returncode == 1 and "always trusted" in own.stderr


def test_verify_text_says_to_compare_the_fingerprint_first(bundle):
    text = (bundle.path / "VERIFY.txt").read_text()
    first, cms = text.index("out of band"), text.index("openssl cms -verify")
    assert first < cms and text.index("openssl x509 -in signer.pem") < cms


# -- trusted time: RFC 3161 timestamps from a local TSA --------------------------------------


@pytest.fixture(scope="module")
def tsa():
    server = start_tsa()
    yield server
    server.stop()


def test_timestamped_bundle(archive, signing, tsa, tmp_path):
    result = _export(archive, TWO_HOURS, tmp_path / "ts", signing, tsa_url=tsa.url)
    root = result.path
    assert f"Archiver-Timestamp-Authority: {tsa.url}" in (root / "bag-info.txt").read_text()
    assert "Trusted time (RFC 3161" in (root / "VERIFY.txt").read_text()
    cms = _sh(
        "openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content tagmanifest-sha256.txt -CAfile signer.pem -purpose any -out /dev/null",
        root,
    )
    assert cms.returncode == 0, cms.stderr
    # the TSA is not trusted yet: intact, not trusted (its words say why)
    kd = tmp_path / "verifier" / "signing"
    kd.mkdir(parents=True)
    shutil.copy(_key_dir(signing) / "cert.pem", kd / "cert.pem")
    rep = verify_bundle(root, TrustPolicy.local(kd))
    assert rep.state == "untrusted" and rep.signer_trusted, rep.summary()
    assert "timestamp authority" in rep.headline() and "Test TSA" in rep.headline()
    root_pem = tsa.root_pem(tmp_path / "root.pem")
    out = run_cli("trust", "add", "--tsa", str(root_pem), "--key-dir", str(kd))
    assert out.returncode == 0, out.stderr
    out = run_cli("verify", str(root), "--key-dir", str(kd))
    assert out.returncode == 0, out.stdout
    assert "data/report.pdf has a document timestamp" in out.stdout
    assert "the signature of tagmanifest-sha256.txt was timestamped" in out.stdout
    # a TSA root never makes a signer trusted
    assert (
        run_cli(
            "verify", str(root), "--key-dir", str(kd), "--expect-fingerprint", "00" * 32
        ).returncode
        == 1
    )
    # the token removed from the signature (it is outside the manifests): found
    stripped = tmp_path / "stripped"
    shutil.copytree(root, stripped)
    from asn1crypto import cms as asn1_cms

    info = asn1_cms.ContentInfo.load((stripped / bag.SIGNATURE).read_bytes())
    del info["content"]["signer_infos"][0]["unsigned_attrs"]
    (stripped / bag.SIGNATURE).write_bytes(info.dump(force=True))
    rep = verify_bundle(stripped, TrustPolicy.local(kd))
    assert not rep.intact and "no timestamp token" in rep.problems[0]
    # a timestamp token of another signature: found
    other = tmp_path / "other"
    shutil.copytree(root, other)
    info = asn1_cms.ContentInfo.load((other / bag.SIGNATURE).read_bytes())
    si = info["content"]["signer_infos"][0]
    si["signature"] = bytes(reversed(si["signature"].native))
    (other / bag.SIGNATURE).write_bytes(info.dump(force=True))
    rep = verify_bundle(other, TrustPolicy.local(kd))
    assert not rep.intact and bag.SIGNATURE in rep.problems[0]


def test_unreachable_tsa_stops_the_export(archive, signing, tmp_path):
    with pytest.raises(BundleError, match="timestamp authority"):
        _export(archive, Scope(DAY, DAY), tmp_path / "b", signing, tsa_url="http://127.0.0.1:9/")
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.partial-*"))


# -- hostile bundles ---------------------------------------------------------------------------


def _zip_of(bundle_dir: Path, out: Path, extra=()) -> Path:
    """The bundle as a zip (entries under its directory name), plus ``extra`` entries:
    (ZipInfo or name, bytes)."""
    import warnings

    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(bundle_dir.rglob("*")):
            if p.is_file():
                z.write(p, f"bundle/{p.relative_to(bundle_dir).as_posix()}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name": that is the point
            for info, data in extra:
                z.writestr(info, data)
    return out


def _refused(zip_path: Path, tmp_path: Path) -> str:
    """The message of a zip refused before extraction (nothing was written)."""
    dest = tmp_path / "dest"
    dest.mkdir(exist_ok=True)
    with pytest.raises(bundlezip.ZipRefused) as caught:
        bundlezip.extract(zip_path, dest)
    assert not any(dest.iterdir())
    rep = verify_bundle(zip_path)
    assert not rep.intact and str(caught.value) in rep.problems[0]
    return str(caught.value)


def test_zip_bomb_is_refused_before_extraction(bundle, tmp_path):
    bomb = zipfile.ZipInfo("bundle/data/raw/" + "0" * 64 + ".json")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    zip_path = _zip_of(bundle.path, tmp_path / "bomb.zip", [(bomb, b"\0" * (64 * 2**20))])
    assert zip_path.stat().st_size < 2 * 2**20
    message = _refused(zip_path, tmp_path)
    assert "MAX_RATIO" in message and "zip bomb" in message
    out = run_cli("verify", str(zip_path))
    assert out.returncode == 1 and "MAX_RATIO" in out.stdout


def test_zip_limits_name_the_limit(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(bundlezip, "MAX_TOTAL_BYTES", 10_000)
    assert "MAX_TOTAL_BYTES" in _refused(bundle.zip_path, tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(bundlezip, "MAX_ENTRIES", 3)
    assert "MAX_ENTRIES" in _refused(bundle.zip_path, tmp_path)


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("bundle/data/records.jsonl", "appears twice"),
        ("bundle/DATA/records.jsonl", "appears twice"),
        ("../evil.txt", "outside the bundle"),
        ("/etc/evil.txt", "outside the bundle"),
        ("bundle/data/../../evil.txt", "outside the bundle"),
        ("bundle\\data\\evil.txt", "backslash"),
        ("bundle/data/extra.csv", "not named in the bundle's manifests"),
        ("bundle/notes.txt", "not named in the bundle's manifests"),
    ],
)
def test_hostile_zip_entries_are_refused(bundle, tmp_path, name, expect):
    zip_path = _zip_of(bundle.path, tmp_path / "b.zip", [(name, b'{"other": "content"}\n')])
    assert expect in _refused(zip_path, tmp_path)


def test_symlink_zip_entry_is_refused(bundle, tmp_path):
    link = zipfile.ZipInfo("bundle/data/raw/link.json")
    link.create_system = 3
    link.external_attr = 0o120777 << 16
    zip_path = _zip_of(bundle.path, tmp_path / "b.zip", [(link, b"/etc/passwd")])
    assert "symbolic link" in _refused(zip_path, tmp_path)


def test_manifest_path_outside_the_bag_is_refused_before_hashing(bundle, tmp_path, monkeypatch):
    root = tmp_path / "copy"
    shutil.copytree(bundle.path, root)
    with (root / "manifest-sha256.txt").open("a") as f:
        f.write(f"{'0' * 64}  data/../../../../etc/passwd\n")
    hashed = []
    real = bag.sha256_file
    monkeypatch.setattr(bag, "sha256_file", lambda p: hashed.append(p) or real(p))
    rep = verify_bundle(root)
    assert not rep.intact and "manifest-sha256.txt" in rep.problems[0]
    assert "leaves its directory" in rep.problems[0] and not hashed


def test_symlinked_payload_is_refused_before_hashing(bundle, tmp_path, monkeypatch):
    root = tmp_path / "copy"
    shutil.copytree(bundle.path, root)
    victim = next((root / "data" / "raw").glob("*.json"))
    outside = tmp_path / "outside.json"
    shutil.copy(victim, outside)  # identical bytes: every hash would match
    victim.unlink()
    victim.symlink_to(outside)
    hashed = []
    real = bag.sha256_file
    monkeypatch.setattr(bag, "sha256_file", lambda p: hashed.append(p) or real(p))
    rep = verify_bundle(root)
    assert not rep.intact and "symbolic link" in rep.problems[0] and not hashed
    out = run_cli("verify", str(root))
    assert out.returncode == 1 and "is a symbolic link" in out.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_file_in_a_bundle_is_refused(bundle, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(bundle.path, root)
    os.mkfifo(root / "data" / "pipe.json")  # hashing it would wait forever
    rep = verify_bundle(root)
    assert not rep.intact and "not a regular file" in rep.problems[0]


def test_names_from_a_bundle_are_printed_with_control_characters_escaped(bundle, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(bundle.path, root)
    (root / "data" / "\x1b[2J\x1b[32mVERIFIED\u202e.csv").write_text("x")
    out = run_cli("verify", str(root))
    assert out.returncode == 1 and "\x1b" not in out.stdout and "\u202e" not in out.stdout
    assert "\\x1b[2J\\x1b[32mVERIFIED\\u202e.csv" in out.stdout


def test_zip_is_named_after_the_directory_and_never_replaces_a_file(archive, signing, tmp_path):
    assert zip_path_for(tmp_path / "b1.final") == tmp_path / "b1.final.zip"
    unrelated = tmp_path / "b1.zip"
    unrelated.write_bytes(b"someone else's zip")
    work = tmp_path / ".work"
    (work / "data").mkdir(parents=True)
    (work / "bagit.txt").write_text("x")
    assert publish(work, tmp_path / "b1.final", True) == tmp_path / "b1.final.zip"
    assert unrelated.read_bytes() == b"someone else's zip"
    (tmp_path / "b2.zip").write_bytes(b"taken")
    with pytest.raises(BundleError, match=r"b2\.zip exists"):
        _export(archive, Scope(DAY, DAY), tmp_path / "b2", signing, make_zip=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="not a directory"):
        _export(archive, Scope(DAY, DAY), tmp_path / "file", signing)
