"""Signed certificates (archiver/export/certificate.py): written as new files, verified by
openssl cms and pyHanko as bundles are, and by verify_certificate; any change fails."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from archiver import outputs
from archiver.export import keys
from archiver.export.certificate import (
    canonical,
    is_certificate,
    siblings,
    verify_certificate,
    write_certificate,
)
from archiver.export.trust import TrustPolicy
from tests.certtools import openssl_cms_verify, pdf_signature_status

PASSPHRASE = "correct horse battery staple"

STATEMENT = {
    "headline": "3 pages of interactionSegments disposed under schedule interactionSegments 6y.",
    "summary": [["Disposed", "3 pages, 12 records, 4,096 bytes"], ["Reason", "annual disposition"]],
    "sections": [{"title": "Kept under legal hold", "lines": ["case Smith: 1 interaction"]}],
    "pages": [1, 2, 3],
    "chain_heads": {"before": {"pages": "ab" * 32}, "after": {"pages": "ab" * 32}},
}


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        yield keys.load_or_create(tmp_path_factory.mktemp("keys") / "signing")


@pytest.fixture(scope="module")
def written(signing, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cert")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        js, pdf, cid = write_certificate("disposition", STATEMENT, signing, folder, prefix="a.")
    return folder, js, pdf, cid


def _trusting(ident: keys.SigningIdentity) -> TrustPolicy:
    return TrustPolicy.local(ident.cert_path.parent)


def _sh(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def test_three_files_named_by_the_id_and_the_json_is_canonical(written, signing):
    folder, js, pdf, cid = written
    assert js.name == f"a.disposition-certificate-{cid}.json"
    assert pdf.name == f"a.disposition-certificate-{cid}.pdf"
    assert (folder / f"a.disposition-certificate-{cid}.json.p7s").is_file()
    doc = json.loads(js.read_bytes())
    assert canonical(doc) == js.read_bytes()
    assert doc["statement"] == STATEMENT and doc["kind"] == "disposition"
    assert doc["signer"]["fingerprint"] == signing.fingerprint
    assert is_certificate(pdf) and is_certificate(js)
    assert siblings(pdf)[0] == js


def test_openssl_cms_verifies_the_json(written, signing, tmp_path):
    _folder, js, _pdf, _cid = written
    pem = tmp_path / "signer.pem"
    pem.write_bytes(signing.cert_pem())
    ok = openssl_cms_verify(f"{js}.p7s", js, pem)
    assert ok.returncode == 0, ok.stderr
    changed = tmp_path / js.name
    changed.write_bytes(js.read_bytes().replace(b'"pages":[1,2,3]', b'"pages":[1,2]'))
    bad = openssl_cms_verify(f"{js}.p7s", changed, pem)
    assert bad.returncode != 0


def test_pyhanko_validates_the_pdf(written, signing, tmp_path):
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    _folder, _js, pdf, _cid = written
    pem = tmp_path / "signer.pem"
    pem.write_bytes(signing.cert_pem())
    status = pdf_signature_status(pdf, pem)
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    text = _sh(["pdftotext", str(pdf), "-"], pdf.parent).stdout
    assert "Disposition certificate" in text and "3 pages, 12 records" in text


def test_verify_certificate_from_any_of_its_files(written, signing):
    _folder, js, pdf, cid = written
    for path in (js, pdf, Path(f"{js}.p7s")):
        rep = verify_certificate(path, _trusting(signing))
        assert rep.intact and not rep.untrusted, rep.problems
        assert rep.verdict() == "VERIFIED" and rep.certificate_id == cid


def test_an_unknown_signer_is_intact_but_not_trusted(written, tmp_path):
    _folder, js, _pdf, _cid = written
    rep = verify_certificate(js, TrustPolicy())
    assert rep.intact and rep.untrusted and rep.verdict() == "INTACT, BUT NOT TRUSTED"


@pytest.mark.parametrize(
    "what", ["json", "json-reordered", "signature", "pdf", "pdf-appended", "pdf-other"]
)
def test_any_change_fails(written, signing, tmp_path, what):
    folder, js, _pdf, _cid = written
    copy = tmp_path / "c"
    shutil.copytree(folder, copy)
    cjs, csig, cpdf = siblings(copy / js.name)
    if what == "json":
        cjs.write_bytes(cjs.read_bytes().replace(b"12 records", b"13 records"))
    elif what == "json-reordered":
        cjs.write_text(json.dumps(json.loads(cjs.read_bytes()), indent=1))
    elif what == "signature":
        data = bytearray(csig.read_bytes())
        data[-10] ^= 0xFF
        csig.write_bytes(bytes(data))
    elif what == "pdf":
        data = cpdf.read_bytes()
        i = data.index(b"/Subject")
        cpdf.write_bytes(data[:i] + b"/Subjecx" + data[i + 8 :])
    elif what == "pdf-appended":
        cpdf.write_bytes(cpdf.read_bytes() + b"\n% appended\n")
    else:  # another certificate's PDF put beside this JSON
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
            _js2, pdf2, _ = write_certificate(
                "disposition", {**STATEMENT, "pages": [9]}, signing, tmp_path / "o"
            )
        cpdf.write_bytes(pdf2.read_bytes())
    rep = verify_certificate(cjs, _trusting(signing))
    assert not rep.intact and rep.verdict() == "FAILED", what


def test_never_writes_over_an_existing_file(signing, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        js, _pdf, cid = write_certificate("erasure", STATEMENT, signing, tmp_path)
        assert cid.startswith("E-")
        pdf = tmp_path / f"erasure-certificate-{cid}.pdf"
        pdf.unlink()
        pdf.write_text("mine")
        before = js.read_bytes()
        with pytest.raises(outputs.Refused):
            write_certificate("erasure", STATEMENT, signing, tmp_path)
    assert pdf.read_text() == "mine" and js.read_bytes() == before
