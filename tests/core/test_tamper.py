"""Tamper evidence anchored outside the archive: chains over page metadata, checkpoints in
the audit log and the sidecar, counters that must agree with the pages present, and the
file named being the file opened."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from archiver.api import Credentials, Tenant
from archiver.archive import checkpoint as cp
from archiver.archive import schema, triggers
from archiver.archive.hashing import (
    CHAIN_BODY,
    CHAIN_BODY_META,
    GENESIS,
    chain_next,
    page_chain_next,
    page_meta_digest,
)
from archiver.archive.store import Archive
from archiver.archive.verify import verify_archive
from archiver.export import keys
from archiver.jobs import Cancel, drive
from archiver.pull.progress import Progress
from archiver.services import archive as archive_service
from archiver.services import checkpoints
from archiver.services import pull as pulls
from archiver.simulator import SimConfig, Simulator
from tests.clitools import run_cli
from tests.pulltools import FAST, QUICK_202, params

#: one pulled archive for the module's tests (the module fixture base):
#: built once, so all on one pytest-xdist worker (dev.sh runs --dist loadgroup)
pytestmark = pytest.mark.xdist_group("tamper")

ROOT = Path(__file__).resolve().parents[2]
V2 = ROOT / "tests" / "data" / "archive-v2.sqlite3"
V1 = ROOT / "tests" / "data" / "archive-v1.sqlite3"
DAY1 = ("20250201", "20250201")
DAY2 = ("20250202", "20250202")


@pytest.fixture(autouse=True)
def _no_real_key(tmp_path, monkeypatch):
    """Never the developer's signing key: the default key directory is empty."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ARCHIVER_KEY_PASSPHRASE", raising=False)


def _job(sim: Simulator, arc: Path, what: pulls.What, cancel: Cancel | None = None):
    """The pull job (as the CLI and the GUI run it): it writes a checkpoint."""
    creds = Credentials(sim.config.client_id, sim.config.client_secret)
    opts = pulls.PullOptions(workers=1, retry=FAST, not_ready=QUICK_202, quarantine_retries=20)
    return pulls.pull(arc, Tenant.from_base_url(sim.base_url), creds, what, opts, cancel)


def _pull(sim: Simulator, arc: Path, datasets, days, page_size: int = 20):
    """A range pull through the use case."""
    p = params(datasets, *days, page_size=page_size)
    return drive(_job(sim, arc, pulls.Range(p)), lambda _: None)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Two pulls (one day each) through the use case: checkpoints in the audit log and the
    sidecar, unsigned (no signing key)."""
    d = tmp_path_factory.mktemp("base")
    arc = d / "a.sqlite3"
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_DATA_HOME", str(d / "xdg"))
    try:
        with Simulator(SimConfig(rows_per_interval=8)) as sim:
            assert _pull(sim, arc, ["interactionSegments", "queue"], DAY1).exit_code == 0
            assert _pull(sim, arc, ["interactionSegments", "queue"], DAY2).exit_code == 0
    finally:
        mp.undo()
    return arc


@pytest.fixture
def arc(base, tmp_path) -> Path:
    out = tmp_path / "a.sqlite3"
    shutil.copy(base, out)
    shutil.copy(cp.sidecar_path(base), cp.sidecar_path(out))
    return out


def _edit(arc: Path, *sql: str, params: tuple = ()) -> None:
    """Behind the archive's back: triggers dropped, the edit, triggers re-created."""
    conn = sqlite3.connect(arc)
    for table in triggers.evidence_tables(conn):
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    for s in sql:
        conn.execute(s, params)
    conn.commit()
    triggers.create_triggers(conn)
    conn.commit()
    conn.close()


def _count(arc: Path, sql: str) -> int:
    conn = sqlite3.connect(arc)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def _truncate(arc: Path, keep: int) -> None:
    """Remove every page after ``keep``, its records and their values; "latest" and the
    search index made to agree (an attacker who knows the format)."""
    from archiver.archive.compact import rebuild_superseded
    from archiver.archive.searchindex import rebuild

    conn = sqlite3.connect(arc)
    vals = [t for t in triggers.evidence_tables(conn) if t.startswith("vals_")]
    conn.close()
    gone = f"SELECT record_id FROM records WHERE page_id > {keep}"
    _edit(
        arc,
        *(f"DELETE FROM {t} WHERE record_id IN ({gone})" for t in vals),
        f"DELETE FROM superseded WHERE record_id IN ({gone}) OR by_id IN ({gone})",
        f"DELETE FROM records WHERE page_id > {keep}",
        f"DELETE FROM pages WHERE page_id > {keep}",
    )
    conn = sqlite3.connect(arc)
    rebuild_superseded(conn)
    conn.commit()
    conn.execute("BEGIN")
    for _ in rebuild(conn):
        pass
    conn.commit()
    conn.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the base archive is sound ----------------------------------------------------------
def test_pulls_write_checkpoints_and_the_archive_verifies(arc):
    conn = sqlite3.connect(arc)
    logged = [
        json.loads(d)
        for (d,) in conn.execute("SELECT details FROM audit_log WHERE event='checkpoint'")
    ]
    rules = {r for (r,) in conn.execute("SELECT DISTINCT chain_rule FROM pages")}
    pages = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
    conn.close()
    assert rules == {CHAIN_BODY_META}
    assert [c["cause"] for c in logged] == ["pull", "pull"] and logged[-1]["pages"] == pages
    assert all(c["signature"] is None and c["unsigned"] == "no signing key" for c in logged)
    lines = cp.sidecar_path(arc).read_text().splitlines()
    assert [json.loads(x) for x in lines] == logged
    out = run_cli("verify-archive", "--archive", str(arc))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 unsigned" not in out.stdout and "checkpoints unsigned (no signing key)" in out.stdout


def test_outsider_recomputes_the_chain_with_the_documented_rules(arc):
    """What docs/archive-format.md tells an outsider to do, in plain Python."""
    fields = (
        "page_id run_id dataset dataset_type chunk_start query page_number request_token "
        "next_token http_status url received_at size record_count columns"
    ).split()
    chain = bytes(32)
    conn = sqlite3.connect(arc)
    conn.row_factory = sqlite3.Row
    for p in conn.execute("SELECT * FROM pages ORDER BY page_id"):
        meta = json.dumps(
            {f: p[f] for f in fields}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
        link = bytes.fromhex(p["sha256"])
        if p["chain_rule"] == 2:
            link += hashlib.sha256(meta).digest()
        chain = hashlib.sha256(chain + link).digest()
        assert chain.hex() == p["chain"]
        assert hashlib.sha256(meta).hexdigest() == page_meta_digest(p)
    conn.close()


@pytest.mark.parametrize("which", ["current", "v2"])
def test_the_documented_python_check_passes(arc, tmp_path, which):
    """docs/archive-format.md's snippet, run as written, on a new and a schema-2 archive."""
    doc = (ROOT / "docs" / "archive-format.md").read_text(encoding="utf-8")
    code = doc.split("To check with Python alone:", 1)[1].split("```python", 1)[1]
    code = code.split("```", 1)[0]
    target = arc if which == "current" else shutil.copy(V2, tmp_path / "v2.sqlite3")
    exec(code.replace('"archive.sqlite3"', repr(str(target))), {})


# -- truncation -------------------------------------------------------------------------
def test_truncation_fails_naming_the_checkpoint(arc):
    pages = _count(arc, "SELECT count(*) FROM pages")
    _truncate(arc, pages - 10)
    out = run_cli("verify-archive", "--archive", str(arc))
    assert out.returncode == 1, out.stdout
    first = out.stdout.splitlines()[0]
    assert first.startswith(f"FAILED: checkpoint pages:{pages}:")
    assert f"it records {pages} pages, the archive holds {pages - 10}" in first
    assert "(audit entry " in first and "sidecar line 2" in first and "after pull" in first
    # coverage and the run's recorded summary disagree with the pages present too
    assert "  - coverage (" in out.stdout and "its responses show" in out.stdout
    assert "(pull finished, audit entry" in out.stdout and "the archive shows" in out.stdout
    assert "Nothing was recorded: an archive that fails verification" in out.stdout
    assert _count(arc, "SELECT count(*) FROM audit_log WHERE event='verify-archive'") == 0


def test_sidecar_deleted_still_catches_truncation_and_says_so(arc):
    pages = _count(arc, "SELECT count(*) FROM pages")
    cp.sidecar_path(arc).unlink()
    _truncate(arc, pages - 10)
    out = run_cli("verify-archive", "--archive", str(arc))
    assert out.returncode == 1
    assert out.stdout.startswith(f"FAILED: checkpoint pages:{pages}:")
    assert "sidecar" not in out.stdout.splitlines()[0]
    assert f"Note: the checkpoint sidecar {arc.name}.checkpoints is missing" in out.stdout


def test_truncating_the_audit_log_too_is_caught_by_the_sidecar_and_expect_head(arc):
    """The second pull removed entirely, its audit entries, run and coverage rows too: the
    database alone is consistent again; the sidecar (or a checkpoint kept elsewhere) is not."""
    conn = sqlite3.connect(arc)
    run2, first_page = conn.execute(
        "SELECT run_id, min(page_id) FROM pages WHERE run_id = (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1)"
    ).fetchone()
    first_entry = conn.execute(
        "SELECT min(entry_id) FROM audit_log WHERE run_id=?", (run2,)
    ).fetchone()[0]
    conn.close()
    kept = cp.Checkpoint.from_dict(json.loads(cp.sidecar_path(arc).read_text().splitlines()[-1]))
    _truncate(arc, first_page - 1)
    _edit(
        arc,
        f"DELETE FROM audit_log WHERE entry_id >= {first_entry}",
        f"DELETE FROM runs WHERE run_id = '{run2}'",
        f"DELETE FROM coverage WHERE run_id = '{run2}'",
    )
    side = cp.sidecar_path(arc)
    hidden = side.with_name("elsewhere")
    side.rename(hidden)
    assert verify_archive(arc).ok  # the database alone: consistent
    side = hidden.rename(side)
    rep = verify_archive(arc)
    assert not rep.ok
    assert rep.problems[0].startswith(f"checkpoint pages:{kept.pages}:")
    assert "sidecar line 2" in rep.problems[0]
    assert any("sidecar line 2: the audit entry it was written with" in p for p in rep.problems)
    side.unlink()
    out = run_cli(
        "verify-archive", "--archive", str(arc), "--expect-head", f"{kept.pages}:{kept.chain_head}"
    )
    assert out.returncode == 1
    assert out.stdout.startswith(f"FAILED: checkpoint pages:{kept.pages}:")
    assert "(--expect-head)" in out.stdout.splitlines()[0]


# -- metadata ---------------------------------------------------------------------------
def test_metadata_edit_fails(arc):
    _edit(
        arc,
        "UPDATE pages SET received_at='2019-06-01T00:00:00.000Z', url='http://elsewhere/', "
        "request_token='forged' WHERE page_id = 7",
    )
    out = run_cli("verify-archive", "--archive", str(arc))
    assert out.returncode == 1
    first = out.stdout.splitlines()[0]
    assert first.startswith("FAILED: page 7: hash chain broken") and "metadata" in first


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("dataset_type", "'daily'"),
        ("chunk_start", "'202001010000'"),
        ("query", "'{}'"),
        ("http_status", "202"),
        ("record_count", "record_count + 1"),
        ("next_token", "'x'"),
        ("run_id", "'another'"),
    ],
)
def test_every_metadata_field_is_chained(arc, column, value):
    _edit(arc, f"UPDATE pages SET {column} = {value} WHERE page_id = 5")
    rep = verify_archive(arc)
    assert any(p.startswith("page 5: hash chain broken") for p in rep.problems), rep.problems


def test_downgrading_a_page_to_the_old_chain_rule_is_caught(arc):
    """Metadata edited, the page said to follow rule 1 and every chain value recomputed:
    the chains agree again, but rule 1 belongs only to pages stored before schema 3."""
    _edit(arc, "UPDATE pages SET url='http://elsewhere/', chain_rule=1 WHERE page_id = 3")
    conn = sqlite3.connect(arc)
    conn.row_factory = sqlite3.Row
    for t in ("update",):
        conn.execute(f"DROP TRIGGER pages_no_{t}")
    chain = GENESIS
    for p in conn.execute("SELECT * FROM pages ORDER BY page_id").fetchall():
        chain = page_chain_next(chain, p["chain_rule"], p["sha256"], page_meta_digest(p))
        conn.execute("UPDATE pages SET chain=? WHERE page_id=?", (chain, p["page_id"]))
    conn.commit()
    conn.close()
    rep = verify_archive(arc, sidecar=False)
    assert not rep.ok
    assert rep.problems[0].startswith("page 3: claims chain rule 1 (body hash only)")
    assert any("is not a prefix" in p for p in rep.problems)  # the audit log's checkpoints


# -- counters ---------------------------------------------------------------------------
def test_coverage_claiming_more_than_the_pages_fails(arc):
    _edit(arc, "UPDATE coverage SET pages = pages + 1 WHERE rowid = 3")
    rep = verify_archive(arc)  # the replay: the pages counted differ
    assert not rep.ok and rep.problems[0].startswith("coverage (")
    assert ": pages is " in rep.problems[0] and "its responses show" in rep.problems[0]
    rep = verify_archive(arc, quick=True)  # quick: no count claims more than is there
    assert not rep.ok and rep.problems[0].startswith("coverage of ")
    assert "(pages were removed)" in rep.problems[0]


def test_done_chunk_without_its_final_page_fails(arc):
    conn = sqlite3.connect(arc)
    ds, start = conn.execute(
        "SELECT dataset, chunk_start FROM coverage WHERE state='done' LIMIT 1"
    ).fetchone()
    conn.close()
    _edit(
        arc,
        f"UPDATE coverage SET pages = 0, rows = 0 WHERE chunk_start = '{start}' AND dataset = '{ds}'",
        f"UPDATE pages SET next_token = 'more' WHERE dataset='{ds}' AND chunk_start='{start}'",
    )
    rep = verify_archive(arc, quick=True)
    assert any(
        f"chunk {start} is done, but the archive holds no final page" in p for p in rep.problems
    )
    rep = verify_archive(arc)
    assert any(p.startswith(f"coverage ({ds} interval {start}): ") for p in rep.problems)


def test_run_summary_claiming_more_than_the_archive_fails(arc):
    conn = sqlite3.connect(arc)
    run_id, summary = conn.execute("SELECT run_id, summary FROM runs LIMIT 1").fetchone()
    conn.close()
    s = json.loads(summary)
    s["datasets"]["queue"]["new_versions"] += 5
    _edit(arc, "UPDATE runs SET summary = ? WHERE run_id = ?", params=(json.dumps(s), run_id))
    rep = verify_archive(arc, quick=True)
    assert not rep.ok
    assert rep.problems[0].startswith(f"run {run_id} (runs table) recorded")
    assert "new versions of queue" in rep.problems[0]
    rep = verify_archive(arc)  # the replay: the runs row is not what the entry states
    assert rep.problems[0].startswith(
        f"runs ({run_id}): summary.datasets.queue.new_versions is "
    ), rep.problems


@pytest.mark.slow
def test_legitimate_variety_verifies(sim_factory, tmp_path):
    """Quarantined responses, 202s left pending and retried, a cancelled run resumed, a
    cursor the server no longer accepts: nothing fires on a legitimate archive."""
    sim = sim_factory(garble_rate=0.2)
    arc = tmp_path / "v.sqlite3"
    drive(_job(sim, arc, pulls.Range(params(["interactionSegments"], *DAY1, page_size=20))))
    sim.set_faults(garble_rate=0.0, accepted_first=1)
    res = _pull(sim, arc, ["queue"], DAY1)
    assert res.status == "partial"
    sim.set_faults(accepted_first=0)
    drive(_job(sim, arc, pulls.RetryPending()))
    sim.set_faults(latency_ms=10)
    q = params(["workflowTrace"], *DAY2, page_size=5)  # as _pull(..., page_size=5) below
    cancel = Cancel()

    def cancel_after_three_pages(p: object) -> None:
        if isinstance(p, Progress) and p.totals().pages >= 3:
            cancel.set()

    res = drive(_job(sim, arc, pulls.Range(q), cancel), cancel_after_three_pages)
    assert res.status == "interrupted"
    sim.set_faults(latency_ms=0)  # slow answers only so that the cancel lands mid-walk
    sim._token_secret = b"rotated"  # the saved cursor is refused: the chunk is walked again
    res = _pull(sim, arc, ["workflowTrace"], DAY2, page_size=5)
    assert res.exit_code == 0
    conn = sqlite3.connect(arc)
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] > 0
    assert conn.execute("SELECT count(*) FROM pages WHERE http_status=202").fetchone()[0] > 0
    assert conn.execute("SELECT count(*) FROM audit_log WHERE event='pull resumed'").fetchone()[0]
    conn.close()
    rep = archive_service.verify(arc, via="test")
    assert rep.ok, rep.summary()
    assert rep.checkpoints >= 5


# -- checkpoints given, printed, signed -------------------------------------------------
@pytest.mark.slow
def test_expect_head(arc):
    head = checkpoints.current(arc)

    def given(text: str):
        return archive_service.verify(
            arc, via="test", read_only=True, expect=[cp.parse(text, "--expect-head")]
        )

    assert given(f"{head.pages}:{head.chain_head}").ok
    assert given(head.short()).ok  # pages and audit
    wrong = f"{head.pages - 1}:{head.chain_head}"
    out = run_cli("verify-archive", "--archive", str(arc), "--read-only", "--expect-head", wrong)
    assert out.returncode == 1
    assert out.stdout.startswith(f"FAILED: checkpoint pages:{head.pages - 1}:")
    assert "(--expect-head)" in out.stdout.splitlines()[0]
    assert f"the page chain after page {head.pages - 1:,} is now" in out.stdout
    rep = given(f"{head.pages + 1}:{head.chain_head}")
    assert not rep.ok and f"the archive holds {head.pages}" in rep.problems[0]
    rep = given(f"pages:{head.pages}:{head.chain_head}/audit:{head.audit_entries}:{'0' * 64}")
    assert not rep.ok and "the audit chain after entry" in rep.problems[0]
    out = run_cli("verify-archive", "--archive", str(arc), "--expect-head", "80:xyz")
    assert out.returncode == 2 and "N:HEX" in out.stderr


def test_parse_checkpoint_forms():
    h = "ab" * 32
    assert cp.parse(f"7:{h}").key == (7, h, None, None)
    assert cp.parse(f"pages:7:{h.upper()}/audit:3:{h}").key == (7, h, 3, h)
    for bad in ("7", f"x:{h}", f"7:{h}/7:{h}", f"7:{h[:-1]}", ""):
        with pytest.raises(cp.CheckpointError):
            cp.parse(bad)


def test_read_only_writes_nothing(arc):
    side = cp.sidecar_path(arc)
    before = (_sha(arc), _sha(side), sorted(p.name for p in arc.parent.iterdir()))
    out = run_cli("verify-archive", "--archive", str(arc), "--read-only")
    assert out.returncode == 0 and "Nothing was written (read-only verification)." in out.stdout
    assert _sha(arc) == before[0] and _sha(side) == before[1]
    # SQLite may leave its empty -wal/-shm companions of a WAL-mode file; nothing else
    extra = {p.name for p in arc.parent.iterdir()} - set(before[2])
    assert extra <= {arc.name + "-wal", arc.name + "-shm"}
    # the default records a verify-archive entry and a checkpoint, in the log and the sidecar
    out = run_cli("verify-archive", "--archive", str(arc))
    assert out.returncode == 0 and "Checkpoint recorded (unsigned: no signing key)" in out.stdout
    conn = sqlite3.connect(arc)
    events = [e for (e,) in conn.execute("SELECT event FROM audit_log ORDER BY entry_id")]
    conn.close()
    assert events[-2:] == ["verify-archive", "checkpoint"]
    assert len(side.read_text().splitlines()) == 3


def test_checkpoint_command_prints_and_writes_nothing(arc):
    before = _sha(arc)
    out = run_cli("checkpoint", "--archive", str(arc))
    assert out.returncode == 0
    short = out.stdout.splitlines()[0]
    got = cp.parse(short)
    heads = cp.heads(sqlite3.connect(arc))
    assert got.key == heads
    assert (
        "unsigned: no signing key" in out.stdout
        and f"--expect-head {heads[0]}:{heads[1]}" in out.stdout
    )
    js = run_cli("checkpoint", "--archive", str(arc), "--json")
    doc = json.loads(js.stdout)
    assert doc["format"] == cp.FORMAT and doc["pages"] == heads[0] and doc["cause"] == "checkpoint"
    assert _sha(arc) == before


@pytest.fixture
def signing(tmp_path, monkeypatch) -> keys.SigningIdentity:
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", "pw")
    return keys.create()  # in the (temporary) default key directory


@pytest.mark.slow
def test_checkpoints_are_signed_and_their_signatures_checked(arc, signing):
    rep = archive_service.verify(arc, via="test")
    assert rep.ok
    line = json.loads(cp.sidecar_path(arc).read_text().splitlines()[-1])
    assert line["signer"] == signing.fingerprint and line["alg"] == cp.ECDSA
    assert cp.signature_ok(cp.Checkpoint.from_dict(line), signing.cert)
    rep = archive_service.verify(arc, via="test", read_only=True)
    assert rep.ok and any(
        f"1 checkpoint signature verified with the local signing certificate {signing.fingerprint}"
        in n
        for n in rep.notes
    )
    # another machine, another key: noted, not failed
    other = keys.create(arc.parent / "other-key")
    rep = verify_archive(arc, certs={other.fingerprint: other.cert})
    assert rep.ok and any("signed by an unknown key" in n for n in rep.notes)
    # a forged signature in the sidecar (pages lowered to hide a truncation, re-signed by
    # someone else's key under our fingerprint)
    forged = cp.KeySigner(other.key, signing.fingerprint).sign(
        cp.Checkpoint.from_dict({**line, "at": "2020-01-01T00:00:00.000Z"})
    )
    with cp.sidecar_path(arc).open("a") as f:
        f.write(json.dumps(forged.as_dict()) + "\n")
    rep = archive_service.verify(arc, via="test", read_only=True)
    assert not rep.ok
    assert any("its signature does not verify with the certificate" in p for p in rep.problems)
    assert any("is not this checkpoint" in p for p in rep.problems)


def test_checkpoint_without_a_loadable_key_is_unsigned_and_says_why(arc, signing, monkeypatch):
    monkeypatch.delenv("ARCHIVER_KEY_PASSPHRASE")
    rep = archive_service.verify(arc, via="test")
    assert rep.ok
    line = json.loads(cp.sidecar_path(arc).read_text().splitlines()[-1])
    assert line["signature"] is None and line["unsigned"].startswith(
        "the signing key could not be loaded"
    )


def test_bundle_export_writes_a_checkpoint_signed_with_its_key(arc, signing, tmp_path):
    from datetime import UTC, datetime

    from archiver.services import bundles

    # two hours: what the export records does not depend on how much the bundle holds
    first, last = datetime(2025, 2, 1, 4, 0, tzinfo=UTC), datetime(2025, 2, 1, 5, 45, tzinfo=UTC)
    scope = bundles.Scope(first, last)
    lines = []
    gen = bundles.export(arc, scope, tmp_path / "bundle", identity=signing)
    try:
        while True:
            lines.append(next(gen))
    except StopIteration:
        pass
    assert any(x.startswith("Checkpoint recorded (signed by") for x in lines)
    conn = sqlite3.connect(arc)
    events = [e for (e,) in conn.execute("SELECT event FROM audit_log ORDER BY entry_id")]
    last = json.loads(
        conn.execute("SELECT details FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()[0]
    )
    conn.close()
    assert events[-2:] == ["export", "checkpoint"]
    assert last["cause"] == "export" and last["signer"] == signing.fingerprint


def test_unwritable_sidecar_does_not_break_verification(arc):
    side = cp.sidecar_path(arc)
    side.unlink()
    side.mkdir()  # cannot be appended to
    rep = archive_service.verify(arc, via="test")
    assert rep.ok
    assert any(r.startswith(f"Warning: the sidecar {side} was not written") for r in rep.recorded)
    assert any("cannot be read" in n for n in verify_archive(arc).notes)


def test_read_only_medium_still_verifies(arc, monkeypatch):
    def read_only(*a, **kw):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(archive_service, "Archive", read_only)
    rep = archive_service.verify(arc, via="test")
    assert rep.ok
    assert rep.recorded == [
        "Nothing was recorded in the archive (not writable: OperationalError: attempt to "
        "write a readonly database)."
    ]


# -- the file named is the file opened -------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "evidence#2025.sqlite3",
        "what?.sqlite3",
        "100%25 sure.sqlite3",
        "a b.sqlite3",
        "évidence #1?x=%20.sqlite3",
    ],
)
def test_odd_file_names_open_the_named_file(base, tmp_path, name):
    arc = tmp_path / name
    shutil.copy(base, arc)
    shutil.copy(cp.sidecar_path(base), cp.sidecar_path(arc))
    out = run_cli("verify-archive", "--archive", name, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(name)) == []
    assert len(cp.sidecar_path(arc).read_text().splitlines()) == 3
    pages = _count(arc, "SELECT count(*) FROM pages")
    assert f"Checked {pages:,} pages" in out.stdout


def test_hash_in_the_name_verifies_that_file_not_its_prefix(base, tmp_path):
    """The issue's case: ``evidence`` intact beside a tampered ``evidence#2025.sqlite3``."""
    shutil.copy(base, tmp_path / "evidence")
    named = tmp_path / "evidence#2025.sqlite3"
    shutil.copy(base, named)
    _edit(named, "UPDATE pages SET url='http://elsewhere/' WHERE page_id = 2")
    decoy = _sha(tmp_path / "evidence")
    entries = _count(named, "SELECT count(*) FROM audit_log")
    out = run_cli("verify-archive", "--archive", "evidence#2025.sqlite3", cwd=tmp_path)
    assert out.returncode == 1 and out.stdout.startswith("FAILED: page 2: hash chain broken")
    assert _count(named, "SELECT count(*) FROM audit_log") == entries  # nothing appended
    assert _sha(tmp_path / "evidence") == decoy


def test_pull_into_an_odd_name_leaves_no_stray_file(sim, tmp_path):
    name = "évidence #2025?%.sqlite3"
    res = _pull(sim, tmp_path / name, ["queue"], ("202502010000", "202502010245"))
    assert res.exit_code == 0, res.error
    made = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm")))
    # the archive, its checkpoint sidecar and its (released, emptied) pull lock: no file
    # named by a URI misreading the '#', '?' or '%'
    assert made == [name, name + ".checkpoints", name + ".lock"]
    assert (tmp_path / (name + ".lock")).read_text() == ""
    assert verify_archive(tmp_path / name).ok


# -- migrations -------------------------------------------------------------------------
def test_v2_archive_migrates_keeps_its_chain_and_verifies(sim, tmp_path):
    arc = tmp_path / "old.sqlite3"
    shutil.copy(V2, arc)
    old = sqlite3.connect(arc)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 2
    chains = old.execute("SELECT page_id, chain FROM pages ORDER BY page_id").fetchall()
    old.close()
    before = _sha(arc)
    rep = verify_archive(arc)  # verifies as it is, before any migration: a migrated copy
    assert rep.ok and any("schema version 2" in n and "not changed" in n for n in rep.notes)
    assert _sha(arc) == before
    rep = archive_service.verify(arc, via="test")  # records: migrates first (backup)
    assert rep.ok, rep.summary()
    assert len(list(tmp_path.glob("old.sqlite3.v2-*.bak"))) == 1
    conn = sqlite3.connect(arc)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 5
    assert conn.execute("SELECT page_id, chain FROM pages ORDER BY page_id").fetchall() == chains
    assert {r for (r,) in conn.execute("SELECT DISTINCT chain_rule FROM pages")} == {CHAIN_BODY}
    mig = json.loads(
        conn.execute("SELECT details FROM audit_log WHERE event='migrate'").fetchone()[0]
    )
    conn.close()
    assert mig["chain_rule_1_pages"] == len(chains) and mig["chain_head"] == chains[-1][1]
    # new pages chain their metadata, continuing from the old head
    assert _pull(sim, arc, ["queue"], ("202502020000", "202502020245")).exit_code == 0
    conn = sqlite3.connect(arc)
    conn.row_factory = sqlite3.Row
    first_new = conn.execute(
        "SELECT * FROM pages WHERE chain_rule = 2 ORDER BY page_id LIMIT 1"
    ).fetchone()
    conn.close()
    assert first_new["page_id"] == len(chains) + 1
    assert first_new["chain"] == page_chain_next(
        chains[-1][1], CHAIN_BODY_META, first_new["sha256"], page_meta_digest(first_new)
    )
    rep = archive_service.verify(arc, via="test")
    assert rep.ok, rep.summary()
    # the old pages' metadata, which their chain does not cover, is held by the migration
    _edit(arc, "UPDATE pages SET url = 'http://elsewhere/' WHERE page_id = 4")
    rep = verify_archive(arc)
    assert not rep.ok
    assert rep.problems[0].startswith(
        f"the metadata of the {len(chains)} pages stored before schema 3"
    )


def test_old_archive_read_only_finds_an_edit_and_writes_nothing(tmp_path):
    """An auditor's copy of a schema-2 archive, one value edited: --read-only checks a
    migrated copy, finds the edit, and leaves the file byte for byte as it was."""
    arc = Path(shutil.copy(V2, tmp_path / "old.sqlite3"))
    out = run_cli("verify-archive", "--archive", str(arc), "--read-only")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "schema version 2: it was checked as a temporary copy" in out.stdout
    _edit(
        arc,
        "UPDATE records SET values_json = replace(values_json, '\"2025', '\"2024') "
        "WHERE record_id = (SELECT max(record_id) FROM records)",
    )
    before = _sha(arc)
    out = run_cli("verify-archive", "--archive", str(arc), "--read-only")
    assert out.returncode == 1 and out.stdout.startswith("FAILED: vals_"), out.stdout
    assert _sha(arc) == before and not list(tmp_path.glob("*.bak"))


def test_v2_fixture_holds_the_variety(tmp_path):
    conn = sqlite3.connect(V2)
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] > 0
    assert conn.execute("SELECT count(*) FROM pages WHERE http_status = 202").fetchone()[0] > 0
    assert conn.execute("SELECT count(*) FROM audit_log WHERE event='pull resumed'").fetchone()[0]
    assert conn.execute("SELECT count(DISTINCT encoding) FROM pages").fetchone()[0] == 2
    stated = json.loads(
        conn.execute("SELECT details FROM audit_log WHERE event='verify-archive'").fetchone()[0]
    )
    conn.close()
    arc = tmp_path / "v2.sqlite3"
    shutil.copy(V2, arc)
    Archive(arc).close()
    # the old verify-archive entry states the chain head then: a checkpoint, still a prefix
    rep = verify_archive(arc)
    assert rep.ok and rep.checkpoints == 2  # that entry and the migration's
    _truncate(arc, stated["pages"] - 1)
    rep = verify_archive(arc)
    assert not rep.ok and rep.problems[0].startswith(f"checkpoint pages:{stated['pages']}:")


def test_v1_archive_through_both_migrations_verifies(tmp_path):
    arc = tmp_path / "v1.sqlite3"
    shutil.copy(V1, arc)
    Archive(arc).close()
    conn = sqlite3.connect(arc)
    n = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
    mig = json.loads(
        conn.execute("SELECT details FROM audit_log WHERE event='migrate'").fetchone()[0]
    )
    conn.close()
    assert mig["from"] == 2 and mig["to"] == 3 and mig["chain_rule_1_pages"] == n
    rep = verify_archive(arc)
    assert rep.ok, rep.summary()


def test_metadata_chain_helper_matches_the_migration(tmp_path):
    """The migration's metadata chain is chain_next over each old page's metadata digest."""
    arc = tmp_path / "v2.sqlite3"
    shutil.copy(V2, arc)
    conn = sqlite3.connect(arc)
    conn.row_factory = sqlite3.Row
    want = GENESIS
    for p in conn.execute("SELECT * FROM pages ORDER BY page_id"):
        want = chain_next(want, page_meta_digest(p))
    conn.close()
    Archive(arc).close()
    conn = sqlite3.connect(arc)
    got = json.loads(
        conn.execute("SELECT details FROM audit_log WHERE event='migrate'").fetchone()[0]
    )["metadata_chain"]
    conn.close()
    assert got == want


def test_backup_copies_the_sidecar_and_the_copy_verifies(arc, tmp_path):
    out = tmp_path / "copy" / "b.sqlite3"
    archive_service.backup(arc, out)
    assert cp.sidecar_path(out).read_text() == cp.sidecar_path(arc).read_text()
    rep = verify_archive(out)
    assert rep.ok, rep.summary()
    assert not any("missing" in n for n in rep.notes)
