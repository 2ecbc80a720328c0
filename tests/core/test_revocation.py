"""Revocation (issue 18 §10): `archiver trust revoke` for any signer, retired local keys
included; a revoked signer's bundles are INTACT, BUT THE SIGNER WAS REVOKED (exit 3) unless a
trusted timestamp proves the signature older; `archiver keys destroy-retired`."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from archiver.export import trust
from archiver.export.bundle import Scope, export_bundle
from archiver.jobs import drive
from archiver.services import keys
from archiver.simulator import SimConfig, Simulator
from tests.clitools import run_cli
from tests.pulltools import params, pull
from tests.tsatools import start_tsa

#: its module fixtures are built once, on one xdist worker
pytestmark = pytest.mark.xdist_group("revocation")

PASSPHRASE = "correct horse battery staple"
DAY = date(2025, 2, 1)
REVOKED = re.compile(
    r"INTACT, BUT THE SIGNER WAS REVOKED on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(key leaked\)"
)


@pytest.fixture(autouse=True)
def passphrase(monkeypatch):
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    sim = Simulator(SimConfig(rows_per_interval=1))
    sim.start()
    try:
        arc = tmp_path_factory.mktemp("archive") / "a.sqlite3"
        pull(
            sim,
            arc,
            params(["interactionSegments", "workflowTrace"], "202502010000", "202502010045"),
        )
    finally:
        sim.stop()
    return arc


@pytest.fixture(scope="module")
def tsa():
    server = start_tsa()
    yield server
    server.stop()


def export(archive: Path, out: Path, ident: keys.SigningIdentity, **kw) -> Path:
    start = datetime(2025, 2, 1, 0, 0, tzinfo=UTC)
    end = datetime(2025, 2, 1, 0, 45, tzinfo=UTC)
    return drive(export_bundle(archive, Scope(start, end), out, ident, workers=0, **kw)).path


def key_dir(tmp_path: Path, name: str = "me") -> Path:
    return tmp_path / name / "signing"


def verify(bundle: Path, kd: Path):
    return run_cli("verify", bundle, "--key-dir", kd)


def test_a_retired_local_key_can_be_revoked(archive, tmp_path):
    """It used to stay trusted forever: `trust remove` refuses it, and there was no revoke."""
    kd = key_dir(tmp_path)
    old = keys.load_or_create(kd)
    bundle = export(archive, tmp_path / "b1", old)
    assert run_cli("keys", "create", "--force", "--key-dir", kd).code == 0
    assert verify(bundle, kd).code == 0  # a retired local key: trusted
    assert run_cli("trust", "remove", old.fingerprint, "--key-dir", kd).code == 1
    out = run_cli("trust", "revoke", old.fingerprint, "--reason", "key leaked", "--key-dir", kd)
    assert out.code == 0, out.err
    assert old.fingerprint in out.out and "key leaked" in out.out
    checked = verify(bundle, kd)
    assert checked.code == 3, checked.out
    assert REVOKED.search(checked.out.splitlines()[0]), checked.out
    assert "no trusted timestamp proves the signature older" in checked.out
    listed = run_cli("trust", "list", "--key-dir", kd)
    assert "Revoked" in listed.out and old.fingerprint in listed.out and "key leaked" in listed.out
    again = run_cli("trust", "revoke", old.fingerprint, "--reason", "again", "--key-dir", kd)
    assert again.code == 1 and "revoked already" in again.err
    # the revocation is a file of the trust store, next to the trust entries
    (path,) = trust.revoked_dir(kd).glob("*.json")
    doc = json.loads(path.read_text())
    assert doc["fingerprint"] == old.fingerprint and doc["reason"] == "key leaked"
    assert doc["certificate"].startswith("-----BEGIN CERTIFICATE-----")


def test_a_trusted_signer_can_be_revoked(archive, tmp_path):
    theirs = keys.load_or_create(key_dir(tmp_path, "them"))
    bundle = export(archive, tmp_path / "b", theirs)
    mine = key_dir(tmp_path, "me")
    keys.load_or_create(mine)
    assert verify(bundle, mine).code == 3  # not trusted yet
    assert run_cli("trust", "add", bundle, "--key-dir", mine).code == 0
    assert verify(bundle, mine).code == 0
    out = run_cli(
        "trust", "revoke", theirs.fingerprint, "--reason", "key leaked", "--key-dir", mine
    )
    assert out.code == 0, out.err
    checked = verify(bundle, mine)
    assert checked.code == 3 and REVOKED.search(checked.out), checked.out
    # pinned by its fingerprint: still revoked (a pin names the signer, not its standing)
    pinned = run_cli(
        "verify", bundle, "--key-dir", mine, "--expect-fingerprint", theirs.fingerprint
    )
    assert pinned.code == 3 and REVOKED.search(pinned.out)
    # the zip of the same bundle: the same verdict
    shutil.make_archive(str(tmp_path / "b"), "zip", tmp_path, "b")
    assert verify(tmp_path / "b.zip", mine).code == 3


def test_a_trusted_timestamp_older_than_the_revocation_keeps_a_bundle(archive, tsa, tmp_path):
    kd = key_dir(tmp_path)
    ident = keys.load_or_create(kd)
    bundle = export(archive, tmp_path / "b", ident, tsa_url=tsa.url)
    root = tsa.root_pem(tmp_path / "root.pem")
    # revoked before the signature was timestamped: the timestamp proves nothing for it
    early = trust.revoke(
        ident.fingerprint, "key leaked", kd, now=datetime.now(UTC) - timedelta(hours=1)
    )
    assert run_cli("trust", "add", "--tsa", root, "--key-dir", kd).code == 0
    out = verify(bundle, kd)
    assert out.code == 3 and REVOKED.search(out.out), out.out
    assert "is not older than the revocation" in out.out
    early.path.unlink()
    # revoked after it: a trusted timestamp proves the signature older, the bundle stands
    trust.revoke(ident.fingerprint, "key leaked", kd, now=datetime.now(UTC) + timedelta(seconds=1))
    out = verify(bundle, kd)
    assert out.code == 0, out.out
    assert "revoked on" in out.out and "a trusted timestamp proves it was made" in out.out
    # ...but only when the timestamp authority is trusted
    (tsa_entry,) = [e for e in trust.entries(kd) if e.kind == trust.TSA]
    tsa_entry.path.unlink()
    out = verify(bundle, kd)
    assert out.code == 3 and REVOKED.search(out.out)
    assert "not from a trusted authority" in out.out


def test_a_revoked_key_signs_nothing_more(archive, tmp_path):
    kd = key_dir(tmp_path)
    ident = keys.load_or_create(kd)
    assert (
        run_cli(
            "trust", "revoke", ident.fingerprint, "--reason", "key leaked", "--key-dir", kd
        ).code
        == 0
    )
    arc = tmp_path / "a.sqlite3"
    shutil.copyfile(archive, arc)
    out = run_cli(
        "export",
        "--archive",
        arc,
        "--from",
        "202502010000",
        "--to",
        "202502010045",
        "--out",
        tmp_path / "b",
        "--key-dir",
        kd,
    )
    assert out.code == 4 and "was revoked" in out.err, out.err
    assert not (tmp_path / "b").exists()
    from archiver.services import checkpoints

    signer, why = checkpoints.signer(key_dir=kd)
    assert signer is None and "revoked" in why


def test_revoke_usage(tmp_path):
    kd = key_dir(tmp_path)
    ident = keys.load_or_create(kd)
    assert run_cli("trust", "revoke", "nope", "--reason", "x", "--key-dir", kd).code == 2
    assert (
        run_cli("trust", "revoke", ident.fingerprint, "--reason", "  ", "--key-dir", kd).code == 2
    )
    assert run_cli("trust", "revoke", ident.fingerprint, "--key-dir", kd).code == 2  # no --reason
    unknown = run_cli("trust", "revoke", "AB" * 32, "--reason", "x", "--key-dir", kd)
    assert unknown.code == 1 and "not a signer known here" in unknown.err
    assert not trust.revoked_dir(kd).exists()


def test_destroy_retired_keeps_the_certificates(archive, tmp_path):
    kd = key_dir(tmp_path)
    first = keys.load_or_create(kd)
    bundle = export(archive, tmp_path / "b", first)
    assert run_cli("keys", "create", "--force", "--key-dir", kd).code == 0
    name = first.fingerprint.replace(":", "")
    retired_key, retired_cert = kd / f"key-{name}.pem", kd / f"cert-{name}.pem"
    assert retired_key.exists() and retired_cert.exists()
    dry = run_cli("keys", "destroy-retired", "--dry-run", "--key-dir", kd)
    assert dry.code == 0 and "Would remove" in dry.out and retired_key.exists()
    out = run_cli("keys", "destroy-retired", "--key-dir", kd)
    assert out.code == 0 and str(retired_key) in out.out, out.out
    assert not retired_key.exists() and retired_cert.exists()
    assert (kd / "key.pem").exists() and (kd / "cert.pem").exists()  # the current key: untouched
    assert verify(bundle, kd).code == 0  # still verifies against the kept certificate
    assert "No retired private keys." in run_cli("keys", "destroy-retired", "--key-dir", kd).out
    # a retired key without its certificate is kept: nothing else says whose it was
    orphan = kd / "key-unreadable-20250101T000000Z.pem"
    orphan.write_text("an old key")
    kept = run_cli("keys", "destroy-retired", "--key-dir", kd)
    assert kept.code == 1 and "certificate" in kept.err and orphan.exists()
