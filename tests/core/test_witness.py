"""Bundles as witnesses: every bundle carries the archive's chain heads with their counts,
and ``verify-archive --witness BUNDLE`` checks that the archive still begins with them."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from archiver.archive import checkpoint as cp
from archiver.archive import searchindex, triggers
from archiver.export import bag, keys
from archiver.export.bundle import export_bundle
from archiver.export.scope import Scope
from archiver.jobs import drive
from archiver.simulator import SimConfig, Simulator
from tests.clitools import run_cli
from tests.pulltools import params, pull

PASSPHRASE = "witness passphrase"
DAY1, DAY2 = date(2025, 2, 1), date(2025, 2, 2)
NO_EXTERNAL = "compare with --expect-head or --witness"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """An archive and two bundles of it: one after the first day's pull, one (zipped) after
    the second's."""
    d = tmp_path_factory.mktemp("witness")
    arc = d / "a.sqlite3"
    with pytest.MonkeyPatch.context() as mp, Simulator(SimConfig(rows_per_interval=2)) as sim:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        mp.setenv("XDG_DATA_HOME", str(d / "xdg"))
        ident = keys.load_or_create(d / "keys" / "signing")
        ds = ["interactionSegments", "workflowTrace"]
        pull(sim, arc, params(ds, "20250201", "20250201"))
        first = drive(export_bundle(arc, Scope(DAY1, DAY1), d / "bundles" / "first", ident))
        pull(sim, arc, params(ds, "20250202", "20250202"))
        second = drive(
            export_bundle(arc, Scope(DAY2, DAY2), d / "bundles" / "second", ident, make_zip=True)
        )
        shutil.rmtree(second.path)  # the zip is what was handed out
    return arc, first.path, second.zip_path, ident


@pytest.fixture
def env(made, tmp_path, monkeypatch):
    arc, first, second, ident = made
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    copy = tmp_path / "a.sqlite3"
    src, dst = sqlite3.connect(arc), sqlite3.connect(copy)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return copy, first, second, ident


def _verify(arc: Path, *witnesses: Path, key_dir: Path | None = None):
    args = ["verify-archive", "--archive", str(arc), "--read-only"]
    for w in witnesses:
        args += ["--witness", str(w)]
    return run_cli(*args)


def test_bundles_carry_both_heads_and_their_counts(made):
    arc, first, _second, _ident = made
    info = bag.read_bag_info(first)
    pages, entries = int(info["Archiver-Chain-Length"]), int(info["Archiver-Audit-Chain-Length"])
    conn = sqlite3.connect(arc)
    head = conn.execute("SELECT chain FROM pages WHERE page_id=?", (pages,)).fetchone()[0]
    ahead = conn.execute("SELECT chain FROM audit_log WHERE entry_id=?", (entries,)).fetchone()[0]
    conn.close()
    assert info["Archiver-Chain-Head"] == head and info["Archiver-Audit-Chain-Head"] == ahead


def test_an_ok_without_an_outside_checkpoint_says_what_it_cannot_prove(env):
    arc, *_ = env
    out = _verify(arc)
    assert out.returncode == 0
    assert "chains extend 0 external checkpoints" in out.stdout and NO_EXTERNAL in out.stdout


def test_witnesses_a_folder_a_zip_and_a_folder_of_bundles(env):
    arc, first, second, _ident = env
    out = _verify(arc, first, second)
    assert out.returncode == 0, out.stdout
    assert (
        out.stdout.startswith("OK: replayed ")
        and "chains extend 2 external checkpoints." in out.stdout
    )
    assert NO_EXTERNAL not in out.stdout
    out = _verify(arc, first.parent)  # the folder holding both
    assert out.returncode == 0 and "chains extend 2 external checkpoints" in out.stdout


def _rebuild(arc: Path, keep: int) -> None:
    """A consistent rebuild by someone holding the archive: every page after ``keep`` and
    everything after the audit entries of that time removed, sidecar cut to match."""
    conn = sqlite3.connect(arc)
    for t in triggers.evidence_tables(conn):
        conn.execute(f"DROP TRIGGER IF EXISTS {t}_no_update")
        conn.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete")
    gone = f"SELECT record_id FROM records WHERE page_id > {keep}"
    vals = [t for t in triggers.evidence_tables(conn) if t.startswith("vals_")]
    for t in vals:
        conn.execute(f"DELETE FROM {t} WHERE record_id IN ({gone})")
    conn.execute(f"DELETE FROM superseded WHERE record_id IN ({gone}) OR by_id IN ({gone})")
    conn.execute(f"DELETE FROM records WHERE page_id > {keep}")
    conn.execute(f"DELETE FROM pages WHERE page_id > {keep}")
    (first_run,) = conn.execute(
        "SELECT min(entry_id) FROM audit_log WHERE event='export'"
    ).fetchone()
    conn.execute(f"DELETE FROM audit_log WHERE entry_id >= {first_run}")
    conn.execute("DELETE FROM coverage WHERE chunk_start LIKE '20250202%'")
    conn.execute(
        "DELETE FROM runs WHERE run_id NOT IN (SELECT run_id FROM audit_log WHERE run_id IS NOT NULL)"
    )
    conn.commit()
    conn.execute("BEGIN")  # the search index made to agree (an attacker who knows the format)
    for _ in searchindex.rebuild(conn):
        pass
    conn.commit()
    conn.close()
    side = cp.sidecar_path(arc)
    if side.exists():
        side.write_text(side.read_text().splitlines()[0] + "\n")


def test_a_consistent_rebuild_passes_alone_and_fails_against_a_witness(env):
    arc, first, second, _ident = env
    keep = int(bag.read_bag_info(first)["Archiver-Chain-Length"])
    _rebuild(arc, keep)
    alone = _verify(arc)
    assert alone.returncode == 0, alone.stdout  # nothing inside the archive can tell
    assert NO_EXTERNAL in alone.stdout
    out = _verify(arc, first, second)
    assert out.returncode == 1
    first_line = out.stdout.splitlines()[0]
    assert first_line.startswith("FAILED: checkpoint pages:"), first_line
    assert (
        f"witness {second.name}" in first_line and "is not a prefix of this archive" in first_line
    )


def test_a_bundle_of_another_archive_is_named_and_refused(env, tmp_path):
    _arc, first, _second, _ident = env
    other = tmp_path / "other.sqlite3"
    with Simulator(SimConfig(rows_per_interval=1)) as sim:
        pull(sim, other, params(["queue"], "202502010000", "202502010045"))
    out = _verify(other, first)
    assert out.returncode == 1
    assert f"FAILED: witness {first.name} is a bundle of another archive" in out.stdout
    assert "refused" in out.stdout.splitlines()[0]


def test_a_damaged_bundle_cannot_vouch(env, tmp_path):
    arc, first, _second, _ident = env
    copy = Path(shutil.copytree(first, tmp_path / "damaged"))
    info = (copy / "bag-info.txt").read_text()
    (copy / "bag-info.txt").write_text(
        info.replace("Archiver-Chain-Length: ", "Archiver-Chain-Length: 1")
    )
    out = _verify(arc, copy)
    assert out.returncode == 1
    assert out.stdout.startswith("FAILED: witness damaged: the bundle does not verify")


def test_a_folder_without_bundles_is_named(env, tmp_path):
    arc, *_ = env
    (tmp_path / "empty").mkdir()
    out = _verify(arc, tmp_path / "empty")
    assert out.returncode == 1 and "no bundle there" in out.stdout


def test_a_bundle_made_before_counts_were_stated_still_witnesses(env, tmp_path):
    """An older bundle names its heads without counts: the chains must pass through them."""
    arc, first, _second, ident = env
    old = Path(shutil.copytree(first, tmp_path / "old"))
    lines = (old / "bag-info.txt").read_text(encoding="utf-8").splitlines()
    kept = [
        ln
        for ln in lines
        if not ln.startswith(("Archiver-Chain-Length", "Archiver-Audit-Chain-Length"))
    ]
    (old / "bag-info.txt").write_text("\n".join(kept) + "\n", encoding="utf-8")
    bag.write_manifest(old, [old / n for n in bag.TAG_FILES], bag.TAGMANIFEST)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        bag.sign_tagmanifest(old, ident)
    out = _verify(arc, old)
    assert out.returncode == 0, out.stdout
    assert "chains extend 1 external checkpoint." in out.stdout
    assert "made before bundles stated their chain lengths" in out.stdout
    keep = int(bag.read_bag_info(first)["Archiver-Chain-Length"])
    _rebuild(arc, keep - 1)
    out = _verify(arc, old)
    assert out.returncode == 1 and "the page chain never has the value" in out.stdout
