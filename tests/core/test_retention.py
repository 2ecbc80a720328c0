"""Retention schedules and defensible disposition (issue 20 §1–§3): schedules as custody
entries, the plan and its id, apply (exactly the plan, nothing under hold, a stale id
refused), the signed certificate, space given back, and verification after disposition
(a disposed archive passes; any other removal fails).

Real parts: archives pulled over HTTP from the simulator on 127.0.0.1 into real SQLite
files; the CLI runs in-process (tests/clitools.run_cli); certificates are checked with
openssl cms and pyHanko."""

from __future__ import annotations

import json
import sqlite3
import zlib
from datetime import date
from pathlib import Path

import pytest

from archiver.archive import auditlog
from archiver.archive import retention as store
from archiver.archive.queries.review import ArchiveReader
from archiver.export import keys
from archiver.services import retention
from archiver.simulator import SimConfig, Simulator
from archiver.system import lock as locks
from tests.certtools import openssl_cms_verify, pdf_signature_status
from tests.clitools import run_cli
from tests.pulltools import params, pull

PASSPHRASE = "correct horse battery staple"
#: the archive holds 2025-02-01 and 2025-02-02; 6y as of this date: the first day is due
AS_OF = "2031-02-02"
DUE = "202502012345"  # the last interval past retention
DATASETS = ["interactionSegments", "workflowTrace", "transcript"]


def _copy(src: Path, dst: Path) -> Path:
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    with b:
        a.backup(b)
    a.close()
    b.close()
    return dst


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """Two days of three datasets, small pages: read it, never write to it."""
    arc = tmp_path_factory.mktemp("retention") / "a.sqlite3"
    sim = Simulator(SimConfig(rows_per_interval=3))
    sim.start()
    try:
        pull(sim, arc, params(DATASETS, "20250201", "20250202", page_size=40))
    finally:
        sim.stop()
    return arc


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        ident = keys.load_or_create(tmp_path_factory.mktemp("keys") / "signing")
    return ident.cert_path.parent


@pytest.fixture
def archive(shared, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
    folder = tmp_path / "arc"
    folder.mkdir()
    return _copy(shared, folder / "a.sqlite3")


def _ret(arc: Path, *args: str | Path):
    return run_cli("retention", *args, "--archive", arc)


def _plan(arc: Path, as_of: str = AS_OF) -> dict:
    r = _ret(arc, "plan", "--as-of", as_of, "--json")
    assert r.code in (0, 3), r.err
    return json.loads(r.out)


def _apply(arc: Path, key_dir: Path, plan_id: str, as_of: str = AS_OF, reason: str = "annual"):
    return _ret(
        arc, "apply", "--plan", plan_id, "--reason", reason, "--as-of", as_of, "--key-dir", key_dir
    )


def _dispose(arc: Path, key_dir: Path) -> dict:
    assert _ret(arc, "set", "interactionSegments", "6y").code == 0
    assert _ret(arc, "set", "transcript", "6y", "--dataset-type", "interval").code == 0
    p = _plan(arc)
    r = _apply(arc, key_dir, p["plan_id"])
    assert r.code == 0, r.err + r.out
    return p


def _verify(arc: Path):
    return run_cli("verify-archive", "--archive", arc)


def _q(arc: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(arc)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _tamper(arc: Path, *statements: str | tuple[str, tuple]) -> None:
    """Change the file as someone with SQLite and no scruples would: the append-only
    triggers dropped first."""
    conn = sqlite3.connect(arc)
    try:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger'"
        ).fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        for st in statements:
            sql, args = (st, ()) if isinstance(st, str) else st
            conn.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def _held_interaction(arc: Path) -> str:
    """An interaction with segment records on the first day (inside the due part)."""
    return _q(
        arc,
        """SELECT v.INTERACTION_ID FROM vals_interactionSegments v JOIN records r USING (record_id)
           WHERE r.interval_start BETWEEN '202502010600' AND '202502011200' ORDER BY 1 LIMIT 1""",
    )[0][0]


# -- §1 schedules ----------------------------------------------------------------------------
def test_schedules_are_custody_entries_shown_and_cleared(archive):
    r = _ret(archive, "show")
    assert r.code == 0 and "every dataset is kept forever" in r.out
    assert _ret(archive, "set", "interactionSegments", "6y", "--reason", "FINRA 4511").code == 0
    assert _ret(archive, "set", "transcript", "18m").code == 0
    assert _ret(archive, "set", "transcript", "90d", "--dataset-type", "daily").code == 0
    r = _ret(archive, "show")
    assert "interactionSegments: 6y (6 years)" in r.out and "FINRA 4511" in r.out
    assert "transcript: 18m (18 months)" in r.out and "transcript (daily): 90d (90 days)" in r.out
    assert "Kept forever:" in r.out and "workflowTrace" in r.out
    doc = json.loads(_ret(archive, "show", "--json").out)
    assert {(s["dataset"], s["dataset_type"], s["period"]) for s in doc["schedules"]} == {
        ("interactionSegments", None, "6y"),
        ("transcript", None, "18m"),
        ("transcript", "daily", "90d"),
    }
    assert _ret(archive, "clear", "transcript", "--dataset-type", "daily").code == 0
    events = [e for (e,) in _q(archive, "SELECT event FROM audit_log ORDER BY entry_id")]
    assert events[-4:] == [store.SET, store.SET, store.SET, store.CLEARED]
    assert store.replay_check(sqlite3.connect(archive)) == []
    # what makes no sense is a usage error or a refusal, and writes nothing
    n = len(events)
    assert _ret(archive, "set", "nosuch", "6y").code == 2
    assert _ret(archive, "set", "transcript", "6 weeks").code == 2
    assert _ret(archive, "set", "transcript", "0y").code == 2
    r = _ret(archive, "clear", "workflowTrace")
    assert r.code == 1 and "no retention schedule" in r.err
    assert len(_q(archive, "SELECT entry_id FROM audit_log")) == n


def test_nothing_is_due_without_a_schedule_or_before_its_time(archive):
    r = _ret(archive, "plan", "--as-of", AS_OF)
    assert r.code == 3 and "Nothing is past retention." in r.out and "plan id: " in r.out
    _ret(archive, "set", "interactionSegments", "6y")
    assert _ret(archive, "plan", "--as-of", "2031-02-01").code == 3  # ends on 2025-02-01's midnight
    assert _ret(archive, "plan", "--as-of", "2031-02-02").code == 0


@pytest.mark.parametrize(
    "as_of,period,cut",
    [
        ("2031-02-02", "6y", "2025-02-02"),
        ("2026-08-31", "18m", "2025-02-28"),  # the month's last day when it has fewer
        ("2025-05-03", "90d", "2025-02-02"),
    ],
)
def test_periods_count_back_from_the_plans_midnight(as_of, period, cut):
    from archiver.archive.queries.retention import cutoff

    assert cutoff(date.fromisoformat(as_of), period).date().isoformat() == cut


# -- §2 the plan and its disposition ------------------------------------------------------------
def test_a_schedule_disposes_exactly_the_intervals_due(archive, key_dir):
    before = {
        r[0]: r[1:] for r in _q(archive, "SELECT page_id, sha256, chain, query, size FROM pages")
    }
    p = _dispose(archive, key_dir)
    assert p["pages"] > 0 and p["records"] > 0 and p["bytes"] > 0
    for ds in p["datasets"]:
        assert ds["last_interval"] <= DUE and ds["kept"] == []
    gone = {r[0] for r in _q(archive, "SELECT page_id FROM pages WHERE encoding='disposed'")}
    assert len(gone) == p["pages"]
    # every disposed page held only records past retention, and asked for nothing newer
    for pid, query in _q(archive, "SELECT page_id, query FROM pages WHERE encoding='disposed'"):
        (last,) = _q(archive, "SELECT max(interval_start) FROM records WHERE page_id=?", (pid,))[0]
        assert last is None or last <= DUE
        ending = json.loads(query)["interval"].split("ending:")[1]
        assert ending <= "202502020000"
    # every page kept in the scheduled streams holds (or asked for) something not yet due
    for pid, query, ds in _q(
        archive,
        """SELECT page_id, query, dataset FROM pages WHERE encoding!='disposed' AND http_status=200
           AND dataset IN ('interactionSegments', 'transcript')""",
    ):
        (last,) = _q(archive, "SELECT max(interval_start) FROM records WHERE page_id=?", (pid,))[0]
        ending = json.loads(query)["interval"].split("ending:")[1]
        assert (last or "") > DUE or ending > "202502020000", (pid, ds)
    # the unscheduled dataset is untouched; rows, hashes, metadata and chain stay
    assert not _q(
        archive, "SELECT 1 FROM pages WHERE dataset='workflowTrace' AND encoding='disposed'"
    )
    after = {
        r[0]: r[1:] for r in _q(archive, "SELECT page_id, sha256, chain, query, size FROM pages")
    }
    assert after == before
    # the records stay, their values go: exactly those of the disposed pages
    n_rec = _q(
        archive,
        "SELECT count(*) FROM records WHERE page_id IN (SELECT page_id FROM pages WHERE encoding='disposed')",
    )[0][0]
    assert n_rec == p["records"]
    for ds in ("interactionSegments", "transcript"):
        left = _q(
            archive,
            f"""SELECT count(*) FROM vals_{ds} WHERE record_id IN (SELECT record_id FROM records
                WHERE page_id IN (SELECT page_id FROM pages WHERE encoding='disposed'))""",
        )[0][0]
        assert left == 0
        later = _q(
            archive,
            f"""SELECT count(*) FROM records r JOIN streams s USING (stream_id)
                WHERE s.dataset=? AND r.interval_start > ? AND r.record_id NOT IN
                (SELECT record_id FROM vals_{ds})""",
            (ds, DUE),
        )[0][0]
        assert later == 0  # nothing not yet due lost its values
    r = _verify(archive)
    assert r.code == 0, r.out
    assert f"{p['pages']:,} pages disposed under certificate D-" in r.out


def test_nothing_an_interaction_under_hold_touches_is_disposed(archive, key_dir):
    iid = _held_interaction(archive)
    assert (
        run_cli("case", "create", "Smith", "--reason", "complaint", "--archive", archive).code == 0
    )
    assert run_cli("case", "add", "Smith", "--interaction", iid, "--archive", archive).code == 0
    assert (
        run_cli("hold", "place", "Smith", "--reason", "litigation", "--archive", archive).code == 0
    )
    _ret(archive, "set", "interactionSegments", "6y")
    _ret(archive, "set", "transcript", "6y")
    r = _ret(archive, "plan", "--as-of", AS_OF)
    assert r.code == 0 and "kept:" in r.out and "legal hold: case 'Smith'" in r.out
    p = _plan(archive)
    kept = [k for d in p["datasets"] for k in d["kept"]]
    assert kept and all(k["cases"] == ["Smith"] for k in kept)
    assert any(k["reason"] == "legal hold" and iid in k["interactions"] for k in kept)
    assert _apply(archive, key_dir, p["plan_id"]).code == 0
    # every record of the held interaction keeps its values, in every dataset
    rids = [
        rid
        for (rid,) in _q(
            archive,
            "SELECT record_id FROM vals_interactionSegments WHERE INTERACTION_ID=?",
            (iid,),
        )
    ]
    assert rids
    held_pages = {
        pid
        for (pid,) in _q(
            archive,
            "SELECT DISTINCT page_id FROM records WHERE record_id IN ({})".format(
                ",".join(map(str, rids))
            ),
        )
    }
    assert not _q(
        archive,
        "SELECT 1 FROM pages WHERE encoding='disposed' AND page_id IN ({})".format(
            ",".join(map(str, held_pages))
        ),
    )
    # and so does every record sharing an interval with it (its pages kept whole)
    shared = _q(
        archive,
        """SELECT count(*) FROM records r WHERE r.stream_id=1 AND r.interval_start IN
           (SELECT interval_start FROM records WHERE record_id IN ({}))
           AND r.record_id NOT IN (SELECT record_id FROM vals_interactionSegments)""".format(
            ",".join(map(str, rids))
        ),
    )[0][0]
    assert shared == 0
    assert _verify(archive).code == 0
    cert = next(archive.parent.glob("*.json"))
    doc = json.loads(cert.read_bytes())
    assert "Smith" in json.dumps(doc["statement"]["sections"])


def test_a_stale_plan_is_refused_and_changes_nothing(archive, key_dir):
    _ret(archive, "set", "interactionSegments", "6y")
    p = _plan(archive)
    run_cli("case", "create", "Later", "--reason", "r", "--archive", archive)
    r = _apply(archive, key_dir, p["plan_id"])
    assert r.code == 7 and "plan again" in r.err and "stale" in r.err
    assert not _q(archive, "SELECT 1 FROM pages WHERE encoding='disposed'")
    assert not list(archive.parent.glob("*certificate*"))
    # another date is another plan
    assert _apply(archive, key_dir, p["plan_id"], as_of="2031-02-03").code == 7
    fresh = _plan(archive)
    assert fresh["plan_id"] != p["plan_id"]
    assert _apply(archive, key_dir, fresh["plan_id"]).code == 0
    assert _apply(archive, key_dir, fresh["plan_id"]).code == 7  # applied: the archive changed


def test_apply_waits_for_no_one_while_a_pull_holds_the_lock(archive, key_dir):
    _ret(archive, "set", "interactionSegments", "6y")
    p = _plan(archive)
    held = locks.acquire(archive)
    try:
        r = _apply(archive, key_dir, p["plan_id"])
    finally:
        held.release()
    assert r.code == 6 and "nothing was disposed" in r.err
    assert not _q(archive, "SELECT 1 FROM pages WHERE encoding='disposed'")


def test_an_empty_plan_and_a_missing_reason_dispose_nothing(archive, key_dir):
    p = _plan(archive)
    assert _apply(archive, key_dir, p["plan_id"]).code == 3
    _ret(archive, "set", "interactionSegments", "6y")
    p = _plan(archive)
    assert _apply(archive, key_dir, p["plan_id"], reason="  ").code == 2


def test_the_certificate_is_signed_recorded_and_verifies(archive, key_dir, tmp_path):
    _dispose(archive, key_dir)
    js = next(archive.parent.glob("a.sqlite3.disposition-certificate-*.json"))
    files = [js, js.with_suffix(".pdf"), Path(f"{js}.p7s")]
    assert all(f.is_file() for f in files)
    doc = json.loads(js.read_bytes())
    st = doc["statement"]
    assert st["chain_heads"]["before"]["pages_chain"] == st["chain_heads"]["after"]["pages_chain"]
    assert st["chain_heads"]["before"]["audit_chain"] != st["chain_heads"]["after"]["audit_chain"]
    assert st["disposition"]["reason"] == "annual" and st["applied_by"]
    (details,) = _q(archive, "SELECT details FROM audit_log WHERE event=?", (store.CERTIFIED,))[0]
    import hashlib

    assert json.loads(details)["json_sha256"] == hashlib.sha256(js.read_bytes()).hexdigest()
    r = run_cli("verify-certificate", files[1], "--key-dir", key_dir)
    assert r.code == 0 and r.out.startswith("VERIFIED"), r.out
    assert run_cli("verify-certificate", js).code == 3  # another machine: intact, not trusted
    pem = tmp_path / "signer.pem"
    pem.write_bytes((key_dir / "cert.pem").read_bytes())
    assert doc["signer"]["certificate_pem"].encode() == pem.read_bytes()
    ok = openssl_cms_verify(files[2], js, pem)
    assert ok.returncode == 0, ok.stderr
    status = pdf_signature_status(files[1], pem)
    assert status.intact and status.valid and status.trusted
    # a changed certificate fails
    js.write_bytes(js.read_bytes().replace(b'"reason":"annual"', b'"reason":"other!"'))
    assert run_cli("verify-certificate", js, "--key-dir", key_dir).code == 1


def test_the_space_comes_back(archive, key_dir):
    _ret(archive, "set", "interactionSegments", "6y")
    _ret(archive, "set", "transcript", "6y")
    _ret(archive, "set", "workflowTrace", "6y")
    p = retention.make_plan(archive, date.fromisoformat(AS_OF))
    done = retention.apply(
        archive, p.plan_id, "space", as_of=date.fromisoformat(AS_OF), key_dir=key_dir
    )
    assert done.bytes_after < done.bytes_before
    assert done.removed["values"] == p.records


# -- §3 verification after disposition -------------------------------------------------------
def _kept_page(arc: Path) -> int:
    return _q(
        arc,
        """SELECT page_id FROM pages WHERE encoding='zlib' AND http_status=200
           AND dataset='interactionSegments' ORDER BY page_id DESC LIMIT 1""",
    )[0][0]


def _disposed_page(arc: Path) -> int:
    return _q(arc, "SELECT page_id FROM pages WHERE encoding='disposed' LIMIT 1")[0][0]


def _remove_body(pid: int) -> tuple:
    return ("UPDATE pages SET body=X'', encoding='disposed' WHERE page_id=?", (pid,))


@pytest.mark.parametrize(
    "attack,words",
    [
        ("remove a body without an entry", "no disposition entry covers it"),
        ("change a kept body", "do not match its SHA-256"),
        ("change the disposition entry", "audit"),
        ("forge a disposition entry", "signature does not verify"),
        ("dispose a held page by SQL", "no disposition entry covers it"),
        ("put a disposed record's values back", "have values again"),
        ("change a disposed record's row", "records (the "),
        ("put a disposed body back", "still (or again) in the archive"),
        ("edit the disposed intervals", "disposed_intervals"),
        ("hide bytes in a disposed body", "marked disposed, but it holds bytes"),
    ],
)
def test_a_disposed_archive_passes_and_any_other_removal_fails(archive, key_dir, attack, words):
    iid = _held_interaction(archive)
    run_cli("case", "create", "Held", "--reason", "r", "--archive", archive)
    run_cli("case", "add", "Held", "--interaction", iid, "--archive", archive)
    run_cli("hold", "place", "Held", "--reason", "r", "--archive", archive)
    _dispose(archive, key_dir)
    assert _verify(archive).code == 0
    kept, gone = _kept_page(archive), _disposed_page(archive)
    if attack == "remove a body without an entry":
        _tamper(archive, _remove_body(kept))
    elif attack == "change a kept body":
        _tamper(archive, ("UPDATE pages SET body=? WHERE page_id=?", (zlib.compress(b"{}"), kept)))
    elif attack == "change the disposition entry":
        _tamper(
            archive,
            f'UPDATE audit_log SET details=replace(details, \'"reason":"annual"\', '
            f"'\"reason\":\"other\"') WHERE event='{store.APPLIED}'",
        )
    elif attack == "forge a disposition entry":
        conn = sqlite3.connect(archive)
        (d,) = conn.execute(
            "SELECT details FROM audit_log WHERE event=?", (store.APPLIED,)
        ).fetchone()
        forged = json.loads(d)
        forged["pages"] = [[kept, kept]]
        forged["records"], forged["records_digest"] = store.records_digest(conn, [kept])
        with conn:
            auditlog.append(conn, store.APPLIED, forged, None)  # a valid chain, no key
        conn.close()
        _tamper(archive, _remove_body(kept))
    elif attack == "dispose a held page by SQL":
        (rid, pid) = _q(
            archive,
            """SELECT r.record_id, r.page_id FROM vals_interactionSegments v JOIN records r
               USING (record_id) WHERE v.INTERACTION_ID=? LIMIT 1""",
            (iid,),
        )[0]
        _tamper(
            archive,
            _remove_body(pid),
            (
                "DELETE FROM vals_interactionSegments WHERE record_id IN (SELECT record_id FROM records WHERE page_id=?)",
                (pid,),
            ),
        )
    elif attack == "put a disposed record's values back":
        rid = _q(archive, "SELECT record_id FROM records WHERE page_id=? LIMIT 1", (gone,))[0][0]
        _tamper(archive, ("INSERT INTO vals_interactionSegments(record_id) VALUES (?)", (rid,)))
    elif attack == "change a disposed record's row":
        _tamper(archive, ("UPDATE records SET row_key='x' WHERE page_id=?", (gone,)))
    elif attack == "put a disposed body back":
        _tamper(
            archive,
            (
                "UPDATE pages SET body=?, encoding='zlib' WHERE page_id=?",
                (zlib.compress(b"{}"), gone),
            ),
        )
    elif attack == "hide bytes in a disposed body":
        _tamper(archive, ("UPDATE pages SET body=X'00' WHERE page_id=?", (gone,)))
    else:
        _tamper(
            archive,
            "DELETE FROM disposed_intervals WHERE interval_start = "
            "(SELECT min(interval_start) FROM disposed_intervals)",
        )
    r = _verify(archive)
    assert r.code == 1, r.out
    assert words in r.out, r.out


_SALT_ATTACKS = {
    "delete a kept row's salt": (
        "DELETE FROM record_salts WHERE page_id = (SELECT max(page_id) FROM record_salts) "
        "AND row_index = 0",
        "no `erasure applied` entry names the row nor a `disposition applied` entry its page",
    ),
    "put a disposed row's salt back": (
        "INSERT INTO record_salts(page_id, row_index, salt) SELECT page_id, row_index, "
        "randomblob(32) FROM record_commitments WHERE page_id IN (SELECT page_id FROM "
        "pages WHERE encoding='disposed') ORDER BY page_id, row_index LIMIT 1",
        "its salt was destroyed with the disposition under certificate D-",
    ),
    "add a salt of no committed row": (
        "INSERT INTO record_salts(page_id, row_index, salt) VALUES "
        "((SELECT max(page_id) FROM record_salts), 9999, randomblob(32))",
        "salts belong to no committed row",
    ),
}


@pytest.mark.parametrize("attack", sorted(_SALT_ATTACKS))
def test_a_salt_removed_kept_or_added_behind_the_archives_back_fails(archive, key_dir, attack):
    """After a disposition a row lacks its salt only where a disposition entry names its
    page (or an erasure entry the row), and a disposed page's rows have none."""
    _dispose(archive, key_dir)
    assert _verify(archive).code == 0
    sql, words = _SALT_ATTACKS[attack]
    _tamper(archive, sql)
    r = _verify(archive)
    assert r.code == 1, r.out
    assert words in r.out, r.out


def test_a_disposition_destroys_the_salts_of_the_rows_it_disposes(archive, key_dir):
    """With a disposed row's salt and its kept commitment anyone could confirm a guess of
    what was disposed: the salts go with the values, and no byte of them stays in the file."""
    salts = {(r[0], r[1]): bytes(r[2]) for r in _q(archive, "SELECT * FROM record_salts")}
    p = _dispose(archive, key_dir)
    gone = {r[0] for r in _q(archive, "SELECT page_id FROM pages WHERE encoding='disposed'")}
    destroyed = {k: v for k, v in salts.items() if k[0] in gone}
    assert len(destroyed) >= p["records"] > 0
    left = {(r[0], r[1]) for r in _q(archive, "SELECT page_id, row_index FROM record_salts")}
    assert left == set(salts) - set(destroyed)  # exactly the disposed rows' salts went
    # their commitments stay (the pages' roots still hold)
    (n,) = _q(
        archive,
        "SELECT count(*) FROM record_commitments WHERE page_id IN "
        "(SELECT page_id FROM pages WHERE encoding='disposed')",
    )[0]
    assert n == len(destroyed)
    raw = archive.read_bytes() + (
        Path(f"{archive}-wal").read_bytes() if Path(f"{archive}-wal").exists() else b""
    )
    assert not [k for k, v in destroyed.items() if v in raw]
    assert all(v in raw for k, v in list(salts.items()) if k not in destroyed)
    (d,) = _q(archive, "SELECT details FROM audit_log WHERE event=?", (store.APPLIED,))[0]
    assert json.loads(d)["salts_destroyed"] == len(destroyed)
    js = next(archive.parent.glob("a.sqlite3.disposition-certificate-*.json"))
    st = json.loads(js.read_bytes())["statement"]
    assert st["disposition"]["salts_destroyed"] == len(destroyed)
    assert f"{len(destroyed):,} record salts destroyed" in json.dumps(st["summary"])
    r = _verify(archive)
    assert r.code == 0, r.out
    assert "their bodies, values and salts are gone" in r.out


def test_a_disposition_made_before_salts_were_destroyed_still_verifies(
    archive, key_dir, monkeypatch
):
    """A disposition recorded before dispositions destroyed salts (its signed entry states no
    `salts_destroyed`) kept them: that is what it did, not a fault."""
    from archiver.archive import disposal

    sign = store.sign
    monkeypatch.setattr(disposal, "_has_salts", lambda conn: False)
    monkeypatch.setattr(
        store,
        "sign",
        lambda d, key, cert: sign(
            {k: v for k, v in d.items() if k != "salts_destroyed"}, key, cert
        ),
    )
    _dispose(archive, key_dir)
    monkeypatch.undo()
    (d,) = _q(archive, "SELECT details FROM audit_log WHERE event=?", (store.APPLIED,))[0]
    assert "salts_destroyed" not in json.loads(d)
    assert _q(
        archive,
        "SELECT count(*) FROM record_salts WHERE page_id IN "
        "(SELECT page_id FROM pages WHERE encoding='disposed')",
    )[0][0]
    r = _verify(archive)
    assert r.code == 0, r.out
    assert "their bodies and values are gone" in r.out


def test_coverage_search_browse_and_bundles_say_disposed(archive, key_dir, tmp_path):
    # a word of a record that will be disposed is found before
    (rid, text) = _q(
        archive,
        """SELECT r.record_id, v.INTERACTION_ID FROM vals_interactionSegments v JOIN records r
           USING (record_id) WHERE r.interval_start < '202502011000' ORDER BY r.record_id LIMIT 1""",
    )[0]
    find = (
        "search",
        f"interaction:{text}",
        "--dataset",
        "interactionSegments",
        "--archive",
        archive,
    )
    assert run_cli(*find).code == 0
    _dispose(archive, key_dir)
    cert = _q(archive, "SELECT certificate_id FROM dispositions")[0][0]
    r = run_cli(*find, "--json")
    assert r.code == 3, r.out  # no disposed value is found (its trace, kept forever, is)
    assert run_cli("search", f"interaction:{text}", "--archive", archive).code == 0
    r = run_cli("coverage", "--archive", archive, "--json")
    days = {(d["dataset"], d["day"]): d for d in json.loads(r.out)["days"]}
    first = days[("interactionSegments", "2025-02-01")]
    assert first["state"] == "disposed" and first["disposed"] > 0
    assert days[("interactionSegments", "2025-02-02")]["disposed"] == 0
    assert days[("workflowTrace", "2025-02-01")]["state"] == "done"
    text_out = run_cli("coverage", "--archive", archive).out
    assert "disposed" in text_out
    reader = ArchiveReader(archive)
    try:
        rows = reader.records_by_id("interactionSegments", [rid])
    finally:
        reader.close()
    assert rows[rid].values == {} and cert in rows[rid].disposed
    assert rows[rid].disposed.startswith("disposed on ")
    out = tmp_path / "bundle"
    r = run_cli(
        "export",
        "--archive",
        archive,
        "--from",
        "2025-02-01",
        "--to",
        "2025-02-01",
        "--out",
        out,
        "--allow-empty",
        "--key-dir",
        key_dir,
    )
    assert r.code == 0, r.err
    info = (out / "bag-info.txt").read_text()
    assert "disposed on " in info and "under schedule interactionSegments 6y" in info
    assert f"(certificate {cert})" in info
    assert run_cli("verify", out, "--key-dir", key_dir).code == 0


def test_the_retention_tables_are_only_those_the_registry_names(archive, key_dir):
    conn = sqlite3.connect(archive)
    before = {
        n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")
    }
    conn.close()
    _dispose(archive, key_dir)
    conn = sqlite3.connect(archive)
    after = {
        n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")
    }
    assert store.replay_check(conn) == []
    conn.close()
    assert after - before == set(store.TABLES)


def test_a_key_fallback_shown_by_a_disposed_page_still_replays(tmp_path, key_dir, monkeypatch):
    """Key fallbacks a disposed page showed are stated in its disposition's entry: the pages
    after it are read under the same rules, and an edit of the recorded fallback is found."""
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
    arc = tmp_path / "k.sqlite3"
    with Simulator(
        SimConfig(rows_per_interval=3, omit_row_id=("transcript",), shared_ids=True)
    ) as sim:
        pull(sim, arc, params(["transcript"], "20250201", "20250202", page_size=40))
    rules = _q(arc, "SELECT page_id, rule, fallback FROM key_rules")
    assert rules, "the simulator's shared ids make a key fallback"
    _ret(arc, "set", "transcript", "6y")
    p = _plan(arc)
    assert _apply(arc, key_dir, p["plan_id"]).code == 0
    gone = {r[0] for r in _q(arc, "SELECT page_id FROM pages WHERE encoding='disposed'")}
    assert {pid for pid, _r, _f in rules} & gone, "a fallback shown by a disposed page"
    assert _verify(arc).code == 0
    (details,) = _q(arc, "SELECT details FROM audit_log WHERE event=?", (store.APPLIED,))[0]
    assert json.loads(details)["key_rules"]
    _tamper(arc, "UPDATE key_rules SET fallback = 'natural' WHERE fallback != 'natural'")
    assert _verify(arc).code == 1
