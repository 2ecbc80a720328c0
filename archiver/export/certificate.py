"""Signed certificates of what was removed from an archive (a disposition, an erasure).

A certificate is three files written side by side, each a new file (archiver/outputs.py:
never over anything):

- ``<stem>.json``: the statement, as canonical JSON (sorted keys, no spaces, UTF-8): the
  kind, the certificate id, when and by which archiver it was issued, the signer's
  certificate (PEM and SHA-256 fingerprint), and the statement the caller gives (what was
  removed, under which schedule and plan, what was kept for which hold, who, when, the chain
  heads before and after);
- ``<stem>.json.p7s``: a detached CMS signature of the JSON's exact bytes, made as bundles
  sign their tag manifest (``openssl cms -verify -binary -inform DER -in X.json.p7s
  -content X.json -CAfile signer.pem -purpose any``);
- ``<stem>.pdf``: a short PAdES-signed PDF saying the same for a person: the statement's
  summary lines, its id and the SHA-256 of the JSON (also in the PDF's Subject, so
  :func:`verify_certificate` ties the two together).

:func:`verify_certificate` checks all three: the JSON is canonical, the CMS signature is
over it by the certificate it names, the PDF's signature is intact, covers the whole file,
is by the same certificate, and names this JSON; then whom the signer is trusted as (the
local key, the trust store, a revocation), as ``archiver verify`` judges a bundle.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from archiver import outputs
from archiver.export.keys import SigningIdentity, cert_fingerprint

FORMAT = "archiver-certificate/1"
JSON_SUFFIX = ".json"
SIGNATURE_SUFFIX = ".json.p7s"
PDF_SUFFIX = ".pdf"
#: what the certificate kinds are called in words
KINDS = {"disposition": "Disposition certificate", "erasure": "Erasure certificate"}


class CertificateError(Exception):
    """A certificate cannot be written or read (the message says which file and why)."""


def canonical(obj: object) -> bytes:
    """The canonical JSON bytes of a certificate: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def certificate_id_of(kind: str, statement: Mapping[str, Any]) -> str:
    """A certificate's id when the caller names none: the kind's initial and the first 16
    hex digits of the SHA-256 of the kind and statement (one statement, one id)."""
    digest = hashlib.sha256(canonical({"kind": kind, "statement": statement})).hexdigest()
    return f"{kind[:1].upper()}-{digest[:16]}"


def stem_of(kind: str, certificate_id: str, prefix: str = "") -> str:
    return f"{prefix}{kind}-certificate-{certificate_id}"


def document(
    kind: str,
    statement: Mapping[str, Any],
    identity: SigningIdentity,
    certificate_id: str,
    issued_at: str | None = None,
) -> dict[str, Any]:
    """The JSON document a certificate signs."""
    from archiver import __version__

    return {
        "format": FORMAT,
        "kind": kind,
        "certificate_id": certificate_id,
        "issued_at": issued_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool_version": __version__,
        "signer": {
            "fingerprint": identity.fingerprint,
            "subject": identity.subject,
            "certificate_pem": identity.cert_pem().decode("ascii"),
        },
        "statement": dict(statement),
    }


def write_certificate(
    kind: str,
    statement: Mapping[str, Any],
    identity: SigningIdentity,
    folder: Path,
    *,
    certificate_id: str | None = None,
    prefix: str = "",
    protect: Sequence[outputs.ArchiveSet] = (),
    issued_at: str | None = None,
) -> tuple[Path, Path, str]:
    """Write the certificate's JSON, its detached CMS signature and its signed PDF into
    ``folder`` as new files (named ``<prefix><kind>-certificate-<id>``); returns (json path,
    pdf path, certificate id). ``statement["summary"]``, a list of [label, value] pairs, is
    what the PDF shows (the JSON holds everything). Nothing is left behind on failure, and no
    existing file is touched (outputs.Refused names it)."""
    if kind not in KINDS:
        raise CertificateError(f"not a certificate kind: {kind!r}")
    cid = certificate_id or certificate_id_of(kind, statement)
    folder = Path(folder)
    stem = stem_of(kind, cid, prefix)
    paths = [folder / f"{stem}{s}" for s in (JSON_SUFFIX, SIGNATURE_SUFFIX, PDF_SUFFIX)]
    for p in paths:
        outputs.check_new(p, protect=protect, flag="the certificate")
    folder.mkdir(mode=outputs.PRIVATE_DIR, parents=True, exist_ok=True)
    doc = document(kind, statement, identity, cid, issued_at)
    data = canonical(doc)
    signature = sign_detached(data, identity)
    written: list[Path] = []
    try:
        for path, content in ((paths[0], data), (paths[1], signature)):
            with outputs.new_file(path, protect=protect, flag="the certificate") as f:
                f.write(content)
            written.append(path)
        with tempfile.TemporaryDirectory(prefix="archiver-certificate-", dir=folder) as tmp:
            plain = Path(tmp) / "plain.pdf"
            signed = Path(tmp) / "signed.pdf"
            _render_pdf(plain, doc, hashlib.sha256(data).hexdigest())
            _sign_pdf(plain, signed, identity, f"{KINDS[kind]} {cid}")
            with outputs.new_file(paths[2], protect=protect, flag="the certificate") as f:
                f.write(signed.read_bytes())
            written.append(paths[2])
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return paths[0], paths[2], cid


def sign_detached(data: bytes, identity: SigningIdentity) -> bytes:
    """A detached CMS (PKCS#7) signature of ``data``, DER (as bag.sign_tagmanifest)."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(identity.cert, identity.key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


def _subject(doc: Mapping[str, Any], json_sha256: str) -> str:
    return f"{doc['kind']} certificate {doc['certificate_id']}; statement SHA-256 {json_sha256}"


def _render_pdf(path: Path, doc: Mapping[str, Any], json_sha256: str) -> None:
    """A short PDF: the title, the id, the summary lines, and how to check it."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from archiver.export.pdf import rich, styles

    st = styles()
    kind = str(doc["kind"])
    statement = doc.get("statement") or {}
    title = KINDS.get(kind, kind)
    rows: list[tuple[str, str]] = [
        ("Certificate", str(doc["certificate_id"])),
        ("Issued (UTC)", str(doc["issued_at"])),
        ("Signed by", f"{doc['signer']['subject']}"),
        ("Signer SHA-256", str(doc["signer"]["fingerprint"])),
    ]
    for pair in statement.get("summary") or []:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            rows.append((str(pair[0]), str(pair[1])))
    rows.append(("Statement SHA-256", json_sha256))
    table = Table(
        [[Paragraph(rich(k), st["h3"]), Paragraph(rich(v), st["base"])] for k, v in rows],
        colWidths=[48 * mm, 122 * mm],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, "#cccccc"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    story: list[Any] = [Paragraph(rich(title), st["h1"])]
    lead = statement.get("headline")
    if lead:
        story += [Paragraph(rich(str(lead)), st["base"]), Spacer(1, 4 * mm)]
    story.append(table)
    for section in statement.get("sections") or []:
        if not isinstance(section, Mapping):
            continue
        story.append(Paragraph(rich(str(section.get("title") or "")), st["h2"]))
        for line in section.get("lines") or []:
            story.append(Paragraph(rich(str(line)), st["small"]))
    story += [
        Spacer(1, 5 * mm),
        Paragraph(
            rich(
                "The complete statement is the JSON file of the same name (its SHA-256 is "
                "above), signed by the detached CMS signature beside it (.json.p7s); this PDF "
                "is signed by the same certificate. Check all three with "
                "`archiver verify-certificate FILE`, or with openssl cms -verify and a PDF "
                "reader's signature panel."
            ),
            st["small"],
        ),
    ]
    pdf = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"{title} {doc['certificate_id']}",
        subject=_subject(doc, json_sha256),
        author=str(doc["signer"]["subject"]),
        creator="archiver",
    )
    pdf.build(story)


def _sign_pdf(src: Path, dst: Path, identity: SigningIdentity, reason: str) -> None:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    signer = signers.SimpleSigner.load(
        str(identity.key_path),
        str(identity.cert_path),
        key_passphrase=identity.key_passphrase(),
    )
    if signer is None:
        raise CertificateError("pyHanko could not load the signing key")
    meta = signers.PdfSignatureMetadata(
        field_name="ArchiverSignature",
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location="archiver",
    )
    with src.open("rb") as f, dst.open("w+b") as out:
        signers.sign_pdf(IncrementalPdfFileWriter(f), meta, signer=signer, output=out)


# -- verification ----------------------------------------------------------------------------
@dataclass
class CertificateReport:
    """What verify_certificate found: problems (tampering: exit 1), whom the signer is
    trusted as (untrusted: exit 3), the checks passed, and the document when readable."""

    json_path: Path | None = None
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    untrusted: list[str] = field(default_factory=list)
    fingerprint: str = ""
    trusted_by: str = ""
    document: dict[str, Any] | None = None

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def certificate_id(self) -> str:
        return str((self.document or {}).get("certificate_id") or "")

    @property
    def kind(self) -> str:
        return str((self.document or {}).get("kind") or "")

    def verdict(self) -> str:
        if self.problems:
            return "FAILED"
        return "INTACT, BUT NOT TRUSTED" if self.untrusted else "VERIFIED"


def siblings(path: Path) -> tuple[Path, Path, Path]:
    """The JSON, signature and PDF of the certificate ``path`` is one of."""
    name = path.name
    for suffix in (SIGNATURE_SUFFIX, JSON_SUFFIX, PDF_SUFFIX):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            break
    else:
        raise CertificateError(
            f"{path} is not a certificate file (a .json, .json.p7s or .pdf written by archiver)"
        )
    base = path.with_name(stem)
    return (
        Path(f"{base}{JSON_SUFFIX}"),
        Path(f"{base}{SIGNATURE_SUFFIX}"),
        Path(f"{base}{PDF_SUFFIX}"),
    )


def is_certificate(path: Path) -> bool:
    """True for a file whose JSON sibling says it is an archiver certificate."""
    try:
        js, _sig, _pdf = siblings(Path(path))
        with js.open("rb") as f:
            head = f.read(4096)
    except (CertificateError, OSError):
        return False
    return FORMAT.encode() in head


def verify_certificate(path: Path, policy: Any = None) -> CertificateReport:
    """Check a certificate given by any of its three files (``policy``: an
    export.trust.TrustPolicy; the local one when None)."""
    from archiver.export.cms import CmsError, verify_detached

    path = Path(path)
    js, sig, pdf = siblings(path)
    rep = CertificateReport(json_path=js)
    for p in (js, sig, pdf):
        if not p.is_file():
            rep.problems.append(
                f"{p.name} is missing: a certificate is its JSON, .json.p7s and PDF"
            )
    if rep.problems:
        return rep
    data = js.read_bytes()
    try:
        doc = json.loads(data)
    except ValueError as exc:
        rep.problems.append(f"{js.name} is not JSON ({exc})")
        return rep
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        rep.problems.append(f"{js.name} is not an archiver certificate ({FORMAT})")
        return rep
    rep.document = doc
    if canonical(doc) != data:
        rep.problems.append(f"{js.name} is not in canonical form (it was rewritten)")
    try:
        cert = x509.load_pem_x509_certificate(str(doc["signer"]["certificate_pem"]).encode())
    except (KeyError, TypeError, ValueError) as exc:
        rep.problems.append(f"{js.name}: the signer's certificate cannot be read ({exc})")
        return rep
    rep.fingerprint = cert_fingerprint(cert)
    if rep.fingerprint != doc["signer"].get("fingerprint"):
        rep.problems.append(f"{js.name}: the signer's fingerprint is not its certificate's")
    try:
        verify_detached(sig.read_bytes(), data, cert)
        rep.checks.append(f"{sig.name}: a valid CMS signature of {js.name} by its signer")
    except CmsError as exc:
        rep.problems.append(
            f"{sig.name}: the signature does not verify ({exc}): {js.name} was changed, or signed by another key"
        )
    _check_pdf(pdf, cert, doc, hashlib.sha256(data).hexdigest(), rep)
    if rep.problems:
        return rep
    _judge(rep, policy)
    return rep


def _check_pdf(
    pdf: Path,
    cert: x509.Certificate,
    doc: Mapping[str, Any],
    json_sha256: str,
    rep: CertificateReport,
) -> None:
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    from archiver.export.verify import _quiet_pyhanko

    with tempfile.TemporaryDirectory(prefix="archiver-certificate-") as tmp:
        pem = Path(tmp) / "signer.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        try:
            with pdf.open("rb") as f, _quiet_pyhanko():
                reader = PdfFileReader(f, strict=False)
                sigs = reader.embedded_signatures
                if len(sigs) != 1:
                    rep.problems.append(f"{pdf.name} has {len(sigs)} signatures, expected one")
                    return
                info = reader.trailer["/Info"]
                subject = str(info.get("/Subject", ""))
                vc = ValidationContext(trust_roots=[load_cert_from_pemder(str(pem))])
                status = validate_pdf_signature(sigs[0], vc)
        except Exception as exc:
            rep.problems.append(
                f"{pdf.name}: the signature cannot be validated ({type(exc).__name__}: {exc})"
            )
            return
    if not status.intact or not status.valid:
        rep.problems.append(
            f"{pdf.name}: the signature does not match the document (changed after signing)"
        )
    elif not status.trusted:
        rep.problems.append(f"{pdf.name}: signed by another certificate than the JSON's signer")
    elif status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        rep.problems.append(
            f"{pdf.name}: the signature does not cover the whole file (content was appended after signing)"
        )
    elif subject != _subject(doc, json_sha256):
        rep.problems.append(
            f"{pdf.name} does not name this JSON statement (another certificate's PDF?)"
        )
    else:
        rep.checks.append(
            f"{pdf.name}: signature intact, by the same signer, over the whole file, naming {json_sha256[:16]}…"
        )


def _judge(rep: CertificateReport, policy: Any) -> None:
    from archiver.export.trust import TrustPolicy

    pol = policy if policy is not None else TrustPolicy.local()
    verdict, why = pol.judge(rep.fingerprint)
    rev = pol.revoked.get(rep.fingerprint)
    if verdict == "mismatch":
        rep.problems.insert(0, why)
    elif rev is not None:
        rep.untrusted.append(f"the signer's certificate was revoked on {rev.when()} ({rev.reason})")
    elif verdict == "trusted":
        rep.trusted_by = why
    else:
        rep.untrusted.append(why)
