"""Erasing one person (issue 20 §4): per-record commitments made at receipt and at the
migration to version 6, `archiver erase plan|apply`, and verify-archive proving every other
record after an erasure. Real parts: archives pulled over HTTP from the simulator on
127.0.0.1 into real SQLite files, the CLI in-process (tests/clitools.run_cli), certificates
checked with openssl cms and pyHanko, a bundle made before the erasure verified after it."""

from __future__ import annotations

import json
import shutil
import sqlite3
import zlib
from pathlib import Path

import pytest

from archiver.archive import commitments, erasure, schema
from archiver.archive.rekey import page_body
from archiver.archive.store import Archive
from archiver.archive.verify import verify_archive
from archiver.datasets import DATASET_NAMES
from archiver.export import keys
from archiver.export.certificate import verify_certificate
from archiver.export.trust import TrustPolicy
from archiver.simulator import SimConfig, Simulator
from tests.certtools import openssl_cms_verify, pdf_signature_status
from tests.clitools import run_cli
from tests.pulltools import params, pull

#: the module's archive and key are built once: its tests stay on one xdist worker
pytestmark = pytest.mark.xdist_group("erase")

PASSPHRASE = "correct horse battery staple"
HOUR = ("202502010000", "202502010045")
ROOT = Path(__file__).resolve().parents[2]
V2 = ROOT / "tests" / "data" / "archive-v2.sqlite3"


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        ident = keys.load_or_create(tmp_path_factory.mktemp("keys") / "signing")
        yield ident


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """Every dataset, one hour, small pages (a page holds several people's records)."""
    arc = tmp_path_factory.mktemp("erase") / "a.sqlite3"
    sim = Simulator(SimConfig(rows_per_interval=6))
    sim.start()
    try:
        pull(sim, arc, params(DATASET_NAMES, *HOUR, page_size=20))
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


@pytest.fixture
def archive(shared, tmp_path) -> Path:
    return _copy(shared, tmp_path / "a.sqlite3")


def _customer(arc: Path) -> tuple[str, str, str]:
    """(interaction id, phone, name) of a phone customer sharing a page with others."""
    conn = sqlite3.connect(arc)
    try:
        return conn.execute(
            """SELECT v.INTERACTION_ID, v.SOURCE_PHONE_NUMBER, v.FIRST_LAST_NAME
               FROM vals_interactionSegments v JOIN records r ON r.record_id = v.record_id
               JOIN pages p ON p.page_id = r.page_id
               WHERE v.SOURCE_PHONE_NUMBER != '' AND p.record_count > 3
               AND (SELECT count(*) FROM vals_interactionSegments w
                    WHERE w.FIRST_LAST_NAME = v.FIRST_LAST_NAME) = 1
               ORDER BY v.record_id LIMIT 1"""
        ).fetchone()
    finally:
        conn.close()


def _plan(arc: Path, subject: str) -> dict:
    out = run_cli("erase", "plan", "--subject", subject, "--json", "--archive", arc)
    assert out.code == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def _apply(arc: Path, plan_id: str, signing, request: str = "DSR-1"):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        return run_cli(
            "erase",
            "apply",
            "--plan",
            plan_id,
            "--request-id",
            request,
            "--reason",
            "GDPR art. 17 request",
            "--key-dir",
            signing.cert_path.parent,
            "--json",
            "--archive",
            arc,
        )


def _edit(arc: Path, *sql: str, args: tuple = ()) -> None:
    conn = sqlite3.connect(arc)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
    for s in sql:
        conn.execute(s, args)
    conn.commit()
    conn.close()


# -- commitments at receipt ---------------------------------------------------------------
def test_every_page_row_has_a_salted_commitment_under_its_chained_root(shared):
    conn = sqlite3.connect(shared)
    rows = conn.execute("SELECT sum(record_count) FROM pages WHERE http_status=200").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM record_commitments").fetchone()[0] == rows > 0
    assert conn.execute("SELECT count(*) FROM record_salts").fetchone()[0] == rows
    assert {r for (r,) in conn.execute("SELECT DISTINCT chain_rule FROM pages")} == {3}
    # the definition, by hand: SHA-256(salt ‖ canonical row), root over the ordered list
    pid, enc, body, root = conn.execute(
        "SELECT page_id, encoding, body, commit_root FROM pages WHERE record_count > 2 LIMIT 1"
    ).fetchone()
    page = json.loads(page_body(enc, body))
    names = [c["name"] for c in page["columnHeaders"]]
    made = []
    for i, rec in enumerate(page["records"]):
        (salt,) = conn.execute(
            "SELECT salt FROM record_salts WHERE page_id=? AND row_index=?", (pid, i)
        ).fetchone()
        canon = json.dumps(
            dict(zip(names, rec, strict=False)), ensure_ascii=False, separators=(",", ":")
        )
        import hashlib

        made.append(hashlib.sha256(bytes(salt) + canon.encode()).digest())
        assert len(salt) == 32
    assert hashlib.sha256(b"".join(made)).hexdigest() == root
    conn.close()
    rep = verify_archive(shared, sidecar=False)
    assert rep.ok, rep.summary()
    assert any(f"proved {rows:,} page rows" in n for n in rep.notes), rep.notes


def test_a_changed_commitment_root_or_salt_fails(archive):
    _edit(archive, "UPDATE pages SET commit_root = ? WHERE page_id = 3", args=("0" * 64,))
    rep = verify_archive(archive, sidecar=False)
    assert any("page 3: hash chain broken" in p for p in rep.problems), rep.problems
    assert any(
        p.startswith("record_commitments (page 3): the page's commitments do not give")
        for p in rep.problems
    ), rep.problems


def test_a_deleted_salt_without_an_erasure_fails(archive):
    _edit(archive, "DELETE FROM record_salts WHERE page_id = 4 AND row_index = 1")
    rep = verify_archive(archive, sidecar=False)
    assert any(
        p.startswith("record_salts (page 4, row 1,") and "no `erasure applied` entry" in p
        for p in rep.problems
    ), rep.problems


# -- plan and apply ----------------------------------------------------------------------
def test_erasing_one_customer_leaves_every_other_record_provable(archive, signing):
    iid, phone, name = _customer(archive)
    plan = _plan(archive, f"customer:{iid}")
    assert f"phone:{phone}" in plan["subjects"] and f"name:{name}" in plan["subjects"]
    assert plan["records"] and all(r["fields"] for r in plan["records"])
    assert plan["scan_found"] >= plan["index_found"] > 0
    text = run_cli("erase", "plan", "--subject", f"customer:{iid}", "--archive", archive)
    assert f"plan id: {plan['plan_id']}" in text.stdout
    pages = plan["pages"]
    conn = sqlite3.connect(archive)
    before = {
        pid: (sha, chain)
        for pid, sha, chain in conn.execute("SELECT page_id, sha256, chain FROM pages")
    }
    others = conn.execute(
        f"SELECT count(*) FROM record_commitments WHERE page_id IN ({','.join('?' * len(pages))})",
        pages,
    ).fetchone()[0] - sum(len(r["pages"]) for r in plan["records"])
    conn.close()
    assert others > 0  # the pages hold other people's records too

    out = _apply(archive, plan["plan_id"], signing)
    assert out.code == 0, out.stdout + out.stderr
    done = json.loads(out.stdout)
    assert done["records"] == len(plan["records"]) and done["pages"] == len(pages)

    conn = sqlite3.connect(archive)
    # the received hashes, metadata and chain stay; the bodies say [erased]
    assert {
        pid: (sha, chain)
        for pid, sha, chain in conn.execute("SELECT page_id, sha256, chain FROM pages")
    } == before
    for pid in pages:
        enc, body = conn.execute(
            "SELECT encoding, body FROM pages WHERE page_id=?", (pid,)
        ).fetchone()
        raw = page_body(enc, body).decode()
        assert phone not in raw and "[erased]" in raw
    # the salts of the erased rows are gone, their commitments kept
    for r in plan["records"]:
        for at in r["pages"]:
            key = (at["page_id"], at["row"])
            assert not conn.execute(
                "SELECT 1 FROM record_salts WHERE page_id=? AND row_index=?", key
            ).fetchone()
            assert conn.execute(
                "SELECT 1 FROM record_commitments WHERE page_id=? AND row_index=?", key
            ).fetchone()
    (entry,) = conn.execute(
        "SELECT details FROM audit_log WHERE event='erasure applied'"
    ).fetchone()
    conn.close()
    details = json.loads(entry)
    assert details["request_id"] == "DSR-1" and details["certificate_id"] == done["certificate_id"]
    assert phone not in entry and name not in entry  # the subject is never recorded
    # nothing of the subject is left in the file (values, index, freed pages, WAL)
    data = archive.read_bytes()
    assert phone.encode() not in data
    assert phone[2:].encode() not in data  # the index's token (digits)
    assert (
        not Path(f"{archive}-wal").exists()
        or phone.encode() not in Path(f"{archive}-wal").read_bytes()
    )
    # the customer's name is gone from the customer's columns; an agent of the same name
    # (the simulator draws both from one list) is someone else and keeps theirs
    conn = sqlite3.connect(archive)
    assert not conn.execute(
        "SELECT 1 FROM vals_interactionSegments WHERE FIRST_LAST_NAME = ?", (name,)
    ).fetchone()
    conn.close()
    # every remaining record proves against its page's root
    rep = verify_archive(archive, sidecar=False)
    assert rep.ok, rep.summary()
    erased_rows = sum(len(r["pages"]) for r in plan["records"])
    assert any(
        f"erased under request DSR-1 (certificate {done['certificate_id']})" in n
        and n.startswith(f"{erased_rows:,} page row")
        for n in rep.notes
    ), rep.notes
    cli = run_cli("verify-archive", "--archive", archive)
    assert cli.code == 0 and "erased under request DSR-1" in cli.stdout, cli.stdout
    # search finds nothing of the subject any more
    assert run_cli("search", f"phone:{phone}", "--archive", archive).code == 3


def _erased(archive: Path, signing) -> tuple[dict, dict]:
    iid, _phone, _name = _customer(archive)
    plan = _plan(archive, f"customer:{iid}")
    out = _apply(archive, plan["plan_id"], signing)
    assert out.code == 0, out.stderr
    return plan, json.loads(out.stdout)


@pytest.mark.parametrize("how", ["value", "body", "salt", "commitment"])
def test_a_change_to_any_remaining_record_still_fails(archive, signing, how):
    plan, _done = _erased(archive, signing)
    pid = plan["pages"][0]
    erased_rows = {at["row"] for r in plan["records"] for at in r["pages"] if at["page_id"] == pid}
    conn = sqlite3.connect(archive)
    row, rid = conn.execute(
        f"SELECT row_index, record_id FROM record_commitments WHERE page_id=? AND row_index NOT IN "
        f"({','.join('?' * len(erased_rows))}) ORDER BY row_index LIMIT 1",
        (pid, *erased_rows),
    ).fetchone()
    ds, enc, body = conn.execute(
        "SELECT dataset, encoding, body FROM pages WHERE page_id=?", (pid,)
    ).fetchone()
    conn.close()
    if how == "value":  # the stored value of another person's record
        _edit(
            archive,
            f"UPDATE vals_{ds} SET COMMIT_TS = '2030-01-01T00:00:00Z' WHERE record_id = ?",
            args=(rid,),
        )
    elif how == "body":  # the rewritten page's bytes, another record's value changed
        page = page_body(enc, body)
        doc = json.loads(page)
        old = doc["records"][row][1]
        new = page.replace(json.dumps(old).encode(), json.dumps(old + "x").encode(), 1)
        assert new != page
        _edit(
            archive, "UPDATE pages SET body = ? WHERE page_id = ?", args=(zlib.compress(new), pid)
        )
    elif how == "salt":
        _edit(
            archive,
            "UPDATE record_salts SET salt = zeroblob(32) WHERE page_id=? AND row_index=?",
            args=(pid, row),
        )
    else:
        _edit(
            archive,
            "UPDATE record_commitments SET commitment = zeroblob(32) WHERE page_id=? AND row_index=?",
            args=(pid, row),
        )
    rep = verify_archive(archive, sidecar=False)
    assert not rep.ok, how
    assert any(str(pid) in p for p in rep.problems), rep.problems


def test_an_erased_value_put_back_fails(archive, signing):
    """Restoring what was erased in a values table (the page says [erased]) is a change."""
    plan, _done = _erased(archive, signing)
    r = plan["records"][0]
    _edit(
        archive,
        f"UPDATE vals_{r['dataset']} SET {r['fields'][0]} = 'someone else' WHERE record_id = ?",
        args=(r["record_id"],),
    )
    rep = verify_archive(archive, sidecar=False)
    assert not rep.ok and any(str(r["record_id"]) in p for p in rep.problems), rep.problems


def test_a_held_subject_is_refused_naming_the_case(archive, signing):
    iid, phone, _name = _customer(archive)
    a = ("--archive", archive)
    assert run_cli("case", "create", "Smith v. Acme", "--reason", "litigation", *a).code == 0
    assert run_cli("case", "add", "Smith v. Acme", "--interaction", iid, *a).code == 0
    assert run_cli("hold", "place", "Smith v. Acme", "--reason", "litigation", *a).code == 0
    before = archive.read_bytes()
    out = run_cli("erase", "plan", "--subject", f"phone:{phone}", *a)
    assert out.code == 1 and "Smith v. Acme" in out.stderr and "legal hold" in out.stderr
    assert not list(archive.parent.glob("*.erase-plan-*"))
    assert archive.read_bytes() == before
    # released: the plan is made; placed again after planning: apply refuses
    assert run_cli("hold", "release", "Smith v. Acme", "--reason", "settled", *a).code == 0
    plan = _plan(archive, f"phone:{phone}")
    assert run_cli("hold", "place", "Smith v. Acme", "--reason", "appeal", *a).code == 0
    out = _apply(archive, plan["plan_id"], signing)
    assert out.code == 1 and "refused" in out.stderr


def test_a_stale_plan_is_refused(archive, signing):
    _iid, phone, _name = _customer(archive)
    plan = _plan(archive, f"phone:{phone}")
    assert run_cli("case", "create", "Other", "--reason", "x", "--archive", archive).code == 0
    out = _apply(archive, plan["plan_id"], signing)
    assert out.code == 1 and "plan again" in out.stderr, out.stderr
    conn = sqlite3.connect(archive)
    assert not conn.execute("SELECT 1 FROM audit_log WHERE event='erasure applied'").fetchone()
    conn.close()
    assert not list(archive.parent.glob("*erasure-certificate*"))
    # an id never planned
    out = _apply(archive, "ab" * 32, signing)
    assert out.code == 2 and "erase plan" in out.stderr


def test_nothing_names_the_subject(archive):
    out = run_cli(
        "erase", "plan", "--subject", "email:nobody@example.invalid", "--archive", archive
    )
    assert out.code == 3, out.stderr
    bad = run_cli("erase", "plan", "--subject", "ssn:123", "--archive", archive)
    assert bad.code == 2 and "phone, email, name, customer" in bad.stderr


@pytest.mark.slow
def test_the_exact_scan_finds_what_the_index_misses(tmp_path, signing):
    """The number written another way in a note the server adds to one dataset's rows: the
    index's words (285, 385, 5594) do not match the number, the exact scan does."""
    arc = tmp_path / "a.sqlite3"
    sim = Simulator(
        SimConfig(
            rows_per_interval=3,
            extra_columns=(("CALLBACK_NOTE", "call back on (285) 385-5594 please"),),
            extra_column_datasets=("transcript",),
        )
    )
    sim.start()
    try:
        pull(sim, arc, params(["transcript", "queue"], *HOUR, page_size=20))
    finally:
        sim.stop()
    plan = _plan(arc, "phone:+12853855594")
    notes = [r for r in plan["records"] if r["dataset"] == "transcript"]
    assert notes and all(r["fields"] == ["CALLBACK_NOTE"] for r in notes)
    assert plan["index_missed"] == len(notes) and plan["scan_found"] >= len(notes)
    assert _apply(arc, plan["plan_id"], signing).code == 0
    conn = sqlite3.connect(arc)
    assert {v for (v,) in conn.execute("SELECT DISTINCT CALLBACK_NOTE FROM vals_transcript")} == {
        "call back on [erased] please"
    }
    conn.close()
    assert verify_archive(arc, sidecar=False).ok


def test_how_values_are_matched():
    phone = erasure.Subject("phone", "+12853855594")
    assert erasure.erase_value("call me at (285) 385-5594 tomorrow", [phone]) == (
        "call me at [erased] tomorrow"
    )
    assert erasure.erase_value("+12853855594", [erasure.Subject("phone", "2853855594")]) == (
        "[erased]"
    )
    assert erasure.erase_value("+442853855594", [phone]) is None  # another country's number
    assert erasure.erase_value("12853855594000", [phone]) is None
    mail = erasure.Subject("email", "Jo.Smith@Example.invalid")
    assert erasure.erase_value("write to jo.smith@example.invalid.", [mail]) == (
        "write to [erased]."
    )
    assert erasure.erase_value("xjo.smith@example.invalid", [mail]) is None
    name = erasure.Subject("name", "Anaïs Zhang")
    assert erasure.erase_value("ANAÏS  ZHANG", [name]) == "[erased]"
    assert erasure.erase_value("Anaïs Zhangova", [name]) is None
    assert (
        erasure.erase_value("山田太郎さん", [erasure.Subject("name", "山田太郎")]) == "[erased]さん"
    )
    with pytest.raises(erasure.SubjectError):
        erasure.parse_subject("phone:12")


def test_the_certificate_verifies_with_openssl_and_pyhanko(archive, signing, tmp_path):
    _plan_, done = _erased(archive, signing)
    js, pdf = Path(done["certificate_json"]), Path(done["certificate_pdf"])
    assert js.parent == archive.parent and js.name.startswith("a.sqlite3.erasure-certificate-")
    pem = tmp_path / "signer.pem"
    pem.write_bytes(signing.cert_pem())
    ok = openssl_cms_verify(f"{js}.p7s", js, pem)
    assert ok.returncode == 0, ok.stderr
    status = pdf_signature_status(pdf, pem)
    assert status.intact and status.valid and status.trusted
    doc = json.loads(js.read_bytes())
    st = doc["statement"]
    assert doc["kind"] == "erasure" and doc["certificate_id"] == done["certificate_id"]
    assert st["request_id"] == "DSR-1" and st["plan_id"] == _plan_["plan_id"]
    assert st["chain_heads"]["after"]["audit_chain"] == done["audit_chain"]
    rep = verify_certificate(js, TrustPolicy.local(signing.cert_path.parent))
    assert rep.intact and not rep.untrusted, rep.problems


def test_a_bundle_made_before_the_erasure_still_verifies(archive, signing, tmp_path):
    _iid, phone, _name = _customer(archive)
    out = tmp_path / "bundle"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        made = run_cli(
            "export",
            "--from",
            HOUR[0],
            "--to",
            HOUR[1],
            "--out",
            out,
            "--key-dir",
            signing.cert_path.parent,
            "--archive",
            archive,
        )
    assert made.code == 0, made.stderr
    assert any(phone in p.read_text(errors="replace") for p in out.rglob("*.csv"))
    _erased(archive, signing)
    checked = run_cli("verify", out, "--key-dir", signing.cert_path.parent)
    assert checked.code == 0, checked.stdout + checked.stderr
    assert verify_archive(archive, sidecar=False).ok


# -- the migration to version 6 -----------------------------------------------------------
@pytest.mark.slow
def test_a_version_5_archive_gets_its_commitments_at_migration(tmp_path, monkeypatch, signing):
    arc = shutil.copy(V2, tmp_path / "old.sqlite3")
    with monkeypatch.context() as mp:  # a genuine version-5 file, by the real migrations
        mp.setattr(schema, "SCHEMA_VERSION", 5)
        Archive(arc).close()
    for bak in tmp_path.glob("old.sqlite3.v*.bak"):
        bak.unlink()
    conn = sqlite3.connect(arc)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
    assert "record_commitments" not in {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master")
    }
    rows = conn.execute("SELECT sum(record_count) FROM pages WHERE http_status=200").fetchone()[0]
    pages = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
    conn.close()
    Archive(arc).close()
    backups = list(tmp_path.glob("old.sqlite3.v5-*.bak"))
    assert len(backups) == 1
    assert sqlite3.connect(backups[0]).execute("PRAGMA user_version").fetchone()[0] == 5
    conn = sqlite3.connect(arc)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 6
    assert conn.execute("SELECT count(*) FROM record_salts").fetchone()[0] == rows > 0
    (mig,) = conn.execute(
        "SELECT details FROM audit_log WHERE event='migrate' ORDER BY entry_id DESC LIMIT 1"
    ).fetchone()
    conn.close()
    mig = json.loads(mig)
    assert mig["from"] == 5 and mig["to"] == 6
    assert mig["commitments"] == "computed at migration, not at receipt"
    assert mig["commitment_pages"] == pages and mig["commitment_records"] == rows
    rep = verify_archive(arc, sidecar=False)
    assert rep.ok, rep.summary()
    # a root of an old page changed afterwards: the migration's chain over them finds it
    _edit(arc, "UPDATE pages SET commit_root = ? WHERE page_id = 2", args=(commitments.EMPTY_ROOT,))
    rep = verify_archive(arc, sidecar=False)
    assert any("differ from what the migration to version 6 recorded" in p for p in rep.problems), (
        rep.problems
    )


def test_a_customers_name_is_erased_only_in_their_own_interactions(archive):
    """Two customers of one name: customer:ID takes the name only where the customer's own
    interactions carry it; name:"…" takes it everywhere."""
    conn = sqlite3.connect(archive)
    row = conn.execute(
        """SELECT a.INTERACTION_ID, b.INTERACTION_ID, a.FIRST_LAST_NAME
           FROM vals_interactionSegments a JOIN vals_interactionSegments b
             ON a.FIRST_LAST_NAME = b.FIRST_LAST_NAME AND a.INTERACTION_ID < b.INTERACTION_ID
           WHERE a.SOURCE_PHONE_NUMBER != '' AND a.SOURCE_PHONE_NUMBER != b.SOURCE_PHONE_NUMBER
           AND a.SOURCE_EMAIL = '' LIMIT 1"""
    ).fetchone()
    conn.close()
    assert row, "the simulator gave no two customers of one name"
    mine, other, name = row
    plan = _plan(archive, f"customer:{mine}")
    got = {r["interaction"] for r in plan["records"] if r["dataset"] == "interactionSegments"}
    assert mine in got and other not in got
    everyone = _plan(archive, f'name:"{name}"')
    got = {r["interaction"] for r in everyone["records"] if r["dataset"] == "interactionSegments"}
    assert {mine, other} <= got


def test_an_erased_page_is_erased_to_every_reader(archive, signing):
    from archiver.archive import removal

    plan, done = _erased(archive, signing)
    conn = sqlite3.connect(archive)
    try:
        assert removal.body_state(conn, plan["pages"][0]) == removal.ERASED
        (kept,) = conn.execute(
            f"SELECT min(page_id) FROM pages WHERE page_id NOT IN ({','.join('?' * len(plan['pages']))})",
            plan["pages"],
        ).fetchone()
        assert removal.body_state(conn, kept) == removal.KEPT
        gone = removal.removals(conn)[plan["pages"][0]]
        assert f"under request DSR-1 (certificate {done['certificate_id']})" in gone.describe()
    finally:
        conn.close()
    log = run_cli("verify-archive", "--archive", archive)
    assert "erased under request DSR-1" in log.stdout
