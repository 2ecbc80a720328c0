"""Simulated data never passes for evidence: a run against the embedded simulator is
recorded as simulated with the run, and every bundle of that archive says
``DEMO — simulated data`` on the report's cover and running header, in bag-info.txt
(``Archiver-Demo: yes``), in VERIFY.txt and in the verdict of ``archiver verify``."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from archiver.archive.auditlog import summarise
from archiver.export import keys
from archiver.export.bundle import export_bundle
from archiver.export.scope import Scope
from archiver.export.trust import TrustPolicy
from archiver.export.verify import VERIFIED, verify_bundle
from archiver.jobs import drive
from tests.clitools import run_cli
from tests.pulltools import engine_for, params

DEMO = "DEMO — simulated data"


def _pull(sim, archive, *, simulated: bool, day: str = "20250201") -> None:
    eng = engine_for(sim, archive)
    if simulated:
        eng.tenant = replace(eng.tenant, simulated=True)
        eng.run_labels["simulated"] = True  # what PullEngine does for a simulated tenant
    for _ in eng.run(eng.plan(params(["interactionSegments", "workflowTrace"], day, day))):
        pass


@pytest.fixture
def signing(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHIVER_KEY_PASSPHRASE", "demo tests")
    return keys.load_or_create(tmp_path / "keys")


@pytest.fixture
def sim(sim_factory):
    return sim_factory(rows_per_interval=2)


def _bundle(archive, signing, out):
    """A bundle of two hours of 2025-02-01: the marks do not depend on how much it holds,
    and a whole day's report takes seconds to render and verify."""
    first, last = datetime(2025, 2, 1, 4, 0, tzinfo=UTC), datetime(2025, 2, 1, 5, 45, tzinfo=UTC)
    return drive(export_bundle(archive, Scope(first, last), out, signing, workers=0))


def test_a_simulated_tenant_is_recorded_with_its_run(sim, tmp_path):
    from archiver.api import Credentials, Tenant
    from archiver.pull.engine import PullEngine

    arc = tmp_path / "a.sqlite3"
    t = replace(Tenant.from_base_url(sim.base_url), simulated=True)
    eng = PullEngine(arc, t, Credentials(sim.config.client_id, sim.config.client_secret))
    assert eng.run_labels == {"simulated": True}
    _pull(sim, arc, simulated=True)
    conn = sqlite3.connect(arc)
    (details,) = conn.execute("SELECT details FROM audit_log WHERE event='pull started'").fetchone()
    conn.close()
    assert json.loads(details)["params"]["simulated"] is True
    assert "(simulated: demo data)" in summarise("pull started", json.loads(details))


def test_a_bundle_of_simulated_rows_says_demo_everywhere(sim, signing, tmp_path):
    arc = tmp_path / "a.sqlite3"
    _pull(sim, arc, simulated=True)
    result = _bundle(arc, signing, tmp_path / "b")
    assert result.demo
    info = (result.path / "bag-info.txt").read_text(encoding="utf-8")
    assert "\nArchiver-Demo: yes\n" in info
    assert f"External-Description: {DEMO}:" in info
    assert DEMO in (result.path / "VERIFY.txt").read_text(encoding="utf-8")
    pdf = PdfReader(result.path / "data" / "report.pdf")
    cover = pdf.pages[0].extract_text()
    assert DEMO in cover and cover.index(DEMO) < cover.index("Audit bundle:")  # above the title
    assert len(pdf.pages) > 3
    assert all(DEMO in page.extract_text() for page in pdf.pages[1:])  # the running header
    assert DEMO in pdf.metadata.title
    rep = verify_bundle(result.path, TrustPolicy.local(signing.cert_path.parent))
    assert rep.state == VERIFIED and rep.demo  # intact, trusted: and simulated
    assert rep.headline().startswith(f"{DEMO}. VERIFIED")
    out = run_cli("verify", result.path, "--expect-fingerprint", signing.fingerprint)
    assert out.code == 0 and out.stdout.startswith(f"{DEMO}. VERIFIED"), out.stdout


def test_a_tenant_bundle_carries_no_demo_mark(sim, signing, tmp_path):
    arc = tmp_path / "a.sqlite3"
    _pull(sim, arc, simulated=False)
    result = _bundle(arc, signing, tmp_path / "b")
    assert "Archiver-Demo" not in (result.path / "bag-info.txt").read_text(encoding="utf-8")
    text = "".join(p.extract_text() for p in PdfReader(result.path / "data" / "report.pdf").pages)
    assert "DEMO" not in text
    rep = verify_bundle(result.path, TrustPolicy.local(signing.cert_path.parent))
    assert rep.ok and not rep.demo and "DEMO" not in rep.summary()


def test_one_simulated_run_marks_the_archive_bundles(sim, signing, tmp_path):
    """Simulated rows beside real ones: which is which is not for a bundle to guess."""
    arc = tmp_path / "a.sqlite3"
    _pull(sim, arc, simulated=False)
    _pull(sim, arc, simulated=True, day="20250202")
    result = _bundle(arc, signing, tmp_path / "b")
    assert "Archiver-Demo: yes" in (result.path / "bag-info.txt").read_text(encoding="utf-8")


def test_the_demo_mark_is_signed(sim, signing, tmp_path):
    """Removing the mark from bag-info.txt breaks the tag manifest: the bundle fails."""
    arc = tmp_path / "a.sqlite3"
    _pull(sim, arc, simulated=True)
    result = _bundle(arc, signing, tmp_path / "b")
    info = result.path / "bag-info.txt"
    info.write_text(info.read_text(encoding="utf-8").replace("Archiver-Demo: yes\n", ""))
    rep = verify_bundle(result.path, TrustPolicy.local(signing.cert_path.parent))
    assert rep.state == "failed" and "bag-info.txt" in rep.problems[0]


def test_a_throwaway_key_lives_in_memory_and_its_predecessor_stays_trusted(tmp_path, monkeypatch):
    """The demo's key: a new one each session, its passphrase never stored (no keyring, no
    environment); the previous one's certificate stays trusted there, its key file goes."""
    from archiver.services import keys as key_service

    monkeypatch.delenv("ARCHIVER_KEY_PASSPHRASE", raising=False)  # and the keyring fails
    first = key_service.throwaway(tmp_path / "signing", "demo")
    second = key_service.throwaway(tmp_path / "signing", "demo")
    assert first.fingerprint != second.fingerprint
    names = sorted(p.name for p in (tmp_path / "signing").iterdir())
    assert names == sorted(
        ["key.pem", "cert.pem", f"cert-{first.fingerprint.replace(':', '')}.pem"]
    )
    trusted = {keys.cert_fingerprint(c) for c, _ in keys.local_certificates(tmp_path / "signing")}
    assert trusted == {first.fingerprint, second.fingerprint}
    assert second.key_passphrase()  # carried by the identity, from nowhere else
