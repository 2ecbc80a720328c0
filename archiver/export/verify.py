"""``archiver verify BUNDLE``: check a bundle (directory or zip) the way VERIFY.txt does,
plus that the CSV, JSONL and raw pages agree, and whether its signer is trusted.

Four outcomes: VERIFIED (intact, and signed by a trusted signer: exit 0), INTACT BUT NOT
TRUSTED (every check holds, but anyone could have made such a bundle with a key of their
own: exit 3), INTACT, BUT THE SIGNER WAS REVOKED (its certificate was revoked here, and no
trusted timestamp proves the signature older than the revocation: exit 3), FAILED (names the
first problem: exit 1). Nothing the bundle names is read
before its layout is checked: no symbolic link or special file, no manifest path outside the
bag; a zip is checked entry by entry before anything is extracted (``bundlezip``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from archiver import exitcodes
from archiver.archive.hashing import canonical_record, sha256_hex
from archiver.export import bag, bundlezip, loadfile, timestamps
from archiver.export.cms import CmsError, verify_detached
from archiver.export.csvsafe import matches, unescape_cell
from archiver.export.keys import cert_fingerprint
from archiver.export.trust import Revocation, TrustPolicy
from archiver.safetext import safe

ALLOWED_TOP = {*bag.TAG_FILES, bag.TAGMANIFEST, bag.SIGNATURE, "data"}
TSA_FIELD = bag.TSA_FIELD
PROVENANCE_COLUMNS = ("_record_sha256", "_page_sha256", "_received_at")
#: datasets only a case production holds (each with its CSV file)
CASE_ONLY = ("transcript", "mpccdr")

VERIFIED, UNTRUSTED, REVOKED, FAILED = "verified", "untrusted", "revoked", "failed"
EXIT_CODES = {
    VERIFIED: exitcodes.OK,
    FAILED: exitcodes.FAILED,
    UNTRUSTED: exitcodes.UNTRUSTED,
    REVOKED: exitcodes.REVOKED,
}


def printable(text: str) -> str:
    """``text`` safe for a terminal or a log: control characters (ANSI escapes too) and
    bidirectional overrides shown as ``\\x..``/``\\u....`` escapes; tab and newline kept
    (:func:`archiver.safetext.safe`, the command line's and the log files' escaping)."""
    return safe(text)


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    #: why an intact bundle is not trusted (its signer, a timestamp authority)
    untrusted: list[str] = field(default_factory=list)
    fingerprint: str = ""
    signer_subject: str = ""
    #: signer.pem as found in the bundle (what `trust add` or the app's "pin" would trust)
    signer_pem: bytes = b""
    #: how the signer is trusted ("" when it is not)
    trusted_by: str = ""
    signer_trusted: bool = False
    #: bag-info.txt as read (covered by the tag manifest and its signature)
    info: dict[str, str] = field(default_factory=dict)
    #: bag-info.txt marks the bundle as simulated data (Archiver-Demo: yes)
    demo: bool = False
    #: the signer's certificate was revoked here, and nothing proves the signature older
    revoked: Revocation | None = None

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def state(self) -> str:
        if self.problems:
            return FAILED
        if self.revoked is not None:
            return REVOKED
        if not self.signer_trusted or self.untrusted:
            return UNTRUSTED
        return VERIFIED

    @property
    def ok(self) -> bool:
        """Intact and trusted: what exit 0 means."""
        return self.state == VERIFIED

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]

    def headline(self) -> str:
        """The verdict in one line; a bundle of simulated data says so first."""
        return (f"{bag.DEMO}. " if self.demo else "") + self._verdict()

    def _verdict(self) -> str:
        state = self.state
        if state == VERIFIED:
            return f"VERIFIED: the bundle is intact and {self.trusted_by}."
        if state == FAILED:
            return f"FAILED: {self.problems[0]}"
        if self.revoked is not None:
            return (
                f"INTACT, BUT THE SIGNER WAS REVOKED on {self.revoked.when()} "
                f"({self.revoked.reason})"
            )
        if not self.signer_trusted:
            return "INTACT, BUT THE SIGNER IS NOT TRUSTED: " + (
                self.untrusted[0] if self.untrusted else "no trust was given for this check"
            )
        return f"INTACT, BUT NOT TRUSTED: {self.untrusted[0]}"

    def summary(self) -> str:
        lines = [self.headline()]
        if self.demo:
            lines.append(f"  ! {bag.DEMO}: {bag.DEMO_WHY}")
        lines += [f"  - {p}" for p in self.problems[1:10]]
        lines += [f"  ✓ {c}" for c in self.checks]
        said = 1 if self.state == UNTRUSTED and self.untrusted else 0  # in the headline
        lines += [f"  ! {u}" for u in self.untrusted[said:]]
        if self.signer_subject:
            lines.append(f"Signer: {self.signer_subject}")
        if self.fingerprint:
            lines.append(f"Signer certificate SHA-256: {self.fingerprint}")
        return "\n".join(printable(line) for line in lines)


def verify_bundle(path: Path, policy: TrustPolicy | None = None) -> BundleReport:
    """Check the bundle at ``path`` (a directory or a zip); ``policy``: whom to trust
    (nobody when None: an intact bundle is then INTACT BUT NOT TRUSTED)."""
    path, policy = Path(path), policy or TrustPolicy()
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="archiver-verify-") as tmp:
            try:
                root = bundlezip.extract(path, Path(tmp))
            except (bundlezip.ZipRefused, OSError) as exc:
                rep = BundleReport()
                rep.problems.append(f"{path.name}: {exc}")
                return rep
            return _verify_dir(root, policy)
    if not path.is_dir():
        rep = BundleReport()
        rep.problems.append(f"{path} is neither a bundle directory nor a zip file")
        return rep
    return _verify_dir(path, policy)


@contextlib.contextmanager
def _quiet_pyhanko() -> Iterator[None]:
    """pyHanko logs a failed path validation as a warning with a traceback; the report
    says it in one line instead."""
    loggers = [logging.getLogger(n) for n in ("pyhanko", "pyhanko_certvalidator")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _verify_dir(root: Path, policy: TrustPolicy) -> BundleReport:
    try:
        with _quiet_pyhanko():
            return _checks(root, policy)
    except Exception as exc:  # a bundle damaged in a way no check foresaw is still a failure
        rep = BundleReport()
        rep.problems.append(f"the bundle cannot be checked: {type(exc).__name__}: {exc}")
        return rep


@dataclass
class _Bundle:
    """What the checks share: the bundle's root, the trust policy and what earlier checks
    read."""

    root: Path
    policy: TrustPolicy = field(default_factory=TrustPolicy)
    manifest: dict[str, str] = field(default_factory=dict)
    tagmanifest: dict[str, str] = field(default_factory=dict)
    cert: x509.Certificate | None = None
    info: dict[str, str] = field(default_factory=dict)
    #: the timestamp of the tag-manifest signature (None: it has none)
    signed_at: timestamps.TimestampStatus | None = None


def _check_layout(b: _Bundle, rep: BundleReport) -> bool:
    """0. Before anything is read: only directories and regular files, no symbolic link
    (a payload "replaced" by a link to a file outside the bag is not in the bag)."""
    for top, dirs, files in os.walk(b.root):
        for name in sorted(dirs + files):
            p = Path(top, name)
            mode = p.lstat().st_mode
            rel = p.relative_to(b.root).as_posix()
            if stat.S_ISLNK(mode):
                rep.problems.append(
                    f"{rel} is a symbolic link: a bundle holds regular files only (refused before reading anything)"
                )
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                rep.problems.append(
                    f"{rel} is not a regular file (refused before reading anything)"
                )
        if len(rep.problems) >= 10:
            break
    return not rep.problems


def _check_required_files(b: _Bundle, rep: BundleReport) -> bool:
    for name in (*bag.TAG_FILES, bag.TAGMANIFEST, bag.SIGNATURE):
        if not (b.root / name).is_file():
            rep.problems.append(f"{name} is missing")
    return not rep.problems


def _read_manifests(b: _Bundle, rep: BundleReport) -> bool:
    """Both manifests parse, and name only paths inside the bag: payload files under data/,
    tag files of this format. Nothing they name is read before this holds."""
    try:
        b.manifest = bag.parse_manifest(b.root / bag.MANIFEST)
        b.tagmanifest = bag.parse_manifest(b.root / bag.TAGMANIFEST)
    except (ValueError, UnicodeDecodeError) as exc:
        rep.problems.append(str(exc))
        return False
    for name in b.manifest:
        if not name.startswith("data/"):
            rep.problems.append(
                f"{bag.MANIFEST} names {name!r}, which is not under data/ (refused)"
            )
    for name in b.tagmanifest:
        if name not in bag.TAG_FILES:
            rep.problems.append(
                f"{bag.TAGMANIFEST} names {name!r}, which is not a tag file of this bundle (refused)"
            )
    return not rep.problems


def _check_payload_manifest(b: _Bundle, rep: BundleReport) -> bool:
    """Every listed payload file present and unchanged, no file unlisted."""
    before = len(rep.problems)
    for name, digest in b.manifest.items():
        p = b.root / name
        if not p.is_file():
            rep.problems.append(f"{name} is listed in {bag.MANIFEST} but missing (deleted)")
        elif bag.sha256_file(p) != digest:
            rep.problems.append(f"{name} does not match its SHA-256 in {bag.MANIFEST} (changed)")
    for p in bag.payload_files(b.root):
        rel = p.relative_to(b.root).as_posix()
        if rel not in b.manifest:
            rep.problems.append(f"{rel} is not in {bag.MANIFEST} (added after the bundle was made)")
    if len(rep.problems) == before:
        rep.checks.append(f"{len(b.manifest)} payload files match {bag.MANIFEST}")
    return True


def _check_tag_manifest(b: _Bundle, rep: BundleReport) -> bool:
    """The tag files unchanged, every one covered, nothing added at the top."""
    before = len(rep.problems)
    for name, digest in b.tagmanifest.items():
        p = b.root / name
        if not p.is_file():
            rep.problems.append(f"{name} is listed in {bag.TAGMANIFEST} but missing")
        elif bag.sha256_file(p) != digest:
            rep.problems.append(f"{name} does not match its SHA-256 in {bag.TAGMANIFEST} (changed)")
    for p in b.root.iterdir():
        if p.name not in ALLOWED_TOP:
            rep.problems.append(f"{p.name} is not part of the bundle (added after it was made)")
    for name in bag.TAG_FILES:
        if name not in b.tagmanifest:
            rep.problems.append(f"{name} is not covered by {bag.TAGMANIFEST}")
    if len(rep.problems) == before:
        rep.checks.append(f"{len(b.tagmanifest)} tag files match {bag.TAGMANIFEST}")
    b.info = bag.read_bag_info(b.root)
    return True


def _check_cms_signature(b: _Bundle, rep: BundleReport) -> bool:
    """The detached CMS signature over the tag manifest, by signer.pem."""
    try:
        b.cert = x509.load_pem_x509_certificate((b.root / bag.SIGNER).read_bytes())
    except ValueError:
        rep.problems.append(f"{bag.SIGNER} is not a PEM certificate")
        return False
    rep.fingerprint = cert_fingerprint(b.cert)
    rep.signer_subject = b.cert.subject.rfc4514_string()
    rep.signer_pem = b.cert.public_bytes(serialization.Encoding.PEM)
    try:
        verify_detached(
            (b.root / bag.SIGNATURE).read_bytes(), (b.root / bag.TAGMANIFEST).read_bytes(), b.cert
        )
        rep.checks.append(
            f"{bag.SIGNATURE} is a valid signature of {bag.TAGMANIFEST} by {bag.SIGNER}"
        )
    except CmsError as exc:
        rep.problems.append(f"{bag.SIGNATURE}: {exc}")
    return True


def _check_signature_timestamp(b: _Bundle, rep: BundleReport) -> bool:
    """The RFC 3161 timestamp token of the tag-manifest signature, when there is one (and
    there must be one when bag-info.txt names a timestamp authority)."""
    sig = (b.root / bag.SIGNATURE).read_bytes()
    try:
        status = timestamps.check_signature_token(sig, b.policy.tsa_roots)
    except (timestamps.TimestampError, ValueError) as exc:
        rep.problems.append(f"{bag.SIGNATURE}: {exc}")
        return True
    if status is None:
        if b.info.get(TSA_FIELD):
            rep.problems.append(
                f"bag-info.txt names a timestamp authority but {bag.SIGNATURE} carries no timestamp token (removed?)"
            )
        return True
    b.signed_at = status
    what = f"the signature of {bag.TAGMANIFEST} was timestamped {status.describe()}"
    _timestamp_verdict(status, what, bag.SIGNATURE, rep)
    return True


def _timestamp_verdict(
    status: timestamps.TimestampStatus, what: str, where: str, rep: BundleReport
) -> None:
    if not status.intact:
        rep.problems.append(f"{where}: the timestamp does not match what it claims to cover")
    elif status.trusted:
        rep.checks.append(what)
    else:
        rep.checks.append(f"{what} (its authority is not trusted here)")
        why = (
            f"the timestamp authority {status.tsa or '(unnamed)'} is not trusted: add its root "
            "certificate with `archiver trust add --tsa ROOT.pem` if you trust it"
        )
        if why not in rep.untrusted:
            rep.untrusted.append(why)


def _check_bag_info(b: _Bundle, rep: BundleReport) -> bool:
    """bag-info.txt names signer.pem's fingerprint and the payload's Payload-Oxum."""
    info = b.info
    rep.demo = info.get(bag.DEMO_FIELD, "").strip().lower() == "yes"
    if info.get("Signer-Fingerprint-SHA256") != rep.fingerprint:
        rep.problems.append("bag-info.txt names another signer fingerprint than signer.pem's")
    oxum = bag.payload_oxum(bag.payload_files(b.root))
    if info.get("Payload-Oxum") != oxum:
        rep.problems.append(
            f"Payload-Oxum {info.get('Payload-Oxum')} does not match the payload ({oxum})"
        )
    return True


def _check_report_pdf(b: _Bundle, rep: BundleReport) -> bool:
    """The report's PAdES signature (and its document timestamp, if any)."""
    pdf = b.root / "data" / "report.pdf"
    if pdf.is_file():
        _verify_pdf(pdf, b.root / bag.SIGNER, rep, b.policy.tsa_roots, bool(b.info.get(TSA_FIELD)))
    else:
        rep.problems.append("data/report.pdf is missing")
    return True


def _check_copies_agree(b: _Bundle, rep: BundleReport) -> bool:
    """records.jsonl, the CSV files and the raw pages agree."""
    _verify_consistency(b.root, rep)
    return True


def _check_load_file(b: _Bundle, rep: BundleReport) -> bool:
    """A case production's load file (when there is one): the DAT reads back, each of its
    documents' native and text is there, each native matches the SHA-256 the DAT states,
    and no native or text file is left unnamed. (The manifest check has already shown
    every file unchanged since the bundle was signed.)"""
    folder = b.root / loadfile.FOLDER
    declared = bool(b.info.get("Archiver-Load-File"))
    if not folder.exists():
        if declared:
            rep.problems.append(f"bag-info.txt names a load file but {loadfile.FOLDER} is missing")
        return True
    try:
        docs = loadfile.read_dat(folder / loadfile.DAT)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        rep.problems.append(f"{loadfile.FOLDER}/{loadfile.DAT}: {exc}")
        return True
    named: set[Path] = set()
    for n, doc in enumerate(docs, 2):
        for key in ("NATIVEPATH", "TEXTPATH"):
            path = loadfile.local(folder, doc[key])
            if folder not in path.resolve().parents or not path.is_file():
                rep.problems.append(
                    f"{loadfile.DAT} record {n} ({doc['BEGDOC']}): {key} {doc[key]} is missing"
                )
                return True
            named.add(path.resolve())
        if bag.sha256_file(loadfile.local(folder, doc["NATIVEPATH"])) != doc["SHA256"]:
            rep.problems.append(
                f"{loadfile.DAT} record {n} ({doc['BEGDOC']}): its native does not match SHA256"
            )
            return True
    unnamed = sorted(
        p.relative_to(b.root).as_posix()
        for sub in (loadfile.NATIVES, loadfile.TEXT)
        for p in (folder / sub).glob("*")
        if p.resolve() not in named
    )
    if unnamed:
        rep.problems.append(f"{unnamed[0]} is no document of {loadfile.DAT}")
        return True
    rep.checks.append(
        f"{loadfile.FOLDER}/{loadfile.DAT} reads back: {len(docs):,} documents, each native "
        "matching its SHA256 and each text present"
    )
    return True


def _check_signer_trust(b: _Bundle, rep: BundleReport) -> bool:
    """Whom the signature is by: the local key, the trust store, or the pinned fingerprint
    (another signer than the pinned one is a failure)."""
    if b.cert is None:
        return True
    verdict, why = b.policy.judge(rep.fingerprint)
    if verdict == "mismatch":
        rep.problems.insert(0, why)
    elif verdict == "trusted":
        rep.signer_trusted, rep.trusted_by = True, why
    else:
        rep.untrusted.insert(0, why)
    return True


def _check_revocation(b: _Bundle, rep: BundleReport) -> bool:
    """A revoked signer's bundle is trusted only when a trusted timestamp proves its
    signature older than the revocation (whoever holds the key now cannot backdate one)."""
    rev = b.policy.revoked.get(rep.fingerprint) if rep.fingerprint else None
    if rev is None:
        return True
    ts = b.signed_at
    if ts is not None and ts.intact and ts.trusted and ts.time is not None and ts.time < rev.at:
        rep.checks.append(
            f"the signer's certificate was revoked on {rev.when()} ({rev.reason}), after this "
            f"signature: a trusted timestamp proves it was made {ts.describe()}"
        )
        return True
    rep.revoked = rev
    if ts is None:
        why = "no trusted timestamp proves the signature older than the revocation"
    elif not (ts.intact and ts.trusted) or ts.time is None:
        why = "its timestamp is not from a trusted authority, so it proves no time"
    else:
        why = f"its timestamp ({ts.describe()}) is not older than the revocation"
    rep.untrusted.insert(
        0, f"the signer's certificate was revoked on {rev.when()} ({rev.reason}); {why}"
    )
    return True


#: The checks in order; one returning False stops the rest (they could only repeat it, or
#: would read what must not be read).
CHECKS: tuple[Callable[[_Bundle, BundleReport], bool], ...] = (
    _check_layout,
    _check_required_files,
    _read_manifests,
    _check_tag_manifest,
    _check_cms_signature,
    _check_signature_timestamp,
    _check_payload_manifest,
    _check_bag_info,
    _check_report_pdf,
    _check_copies_agree,
    _check_load_file,
    _check_signer_trust,
    _check_revocation,
)


def _checks(root: Path, policy: TrustPolicy) -> BundleReport:
    rep = BundleReport()
    b = _Bundle(root, policy)
    for check in CHECKS:
        if not check(b, rep):
            break
    rep.info = dict(b.info)
    return rep


def _verify_pdf(
    pdf: Path,
    signer_pem: Path,
    rep: BundleReport,
    tsa_roots: tuple[x509.Certificate, ...] = (),
    timestamp_declared: bool = False,
) -> None:
    """The report's PAdES signature by signer.pem, covering the whole file, or covering its
    revision followed only by an RFC 3161 document timestamp that covers the whole file."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        with pdf.open("rb") as f:
            sigs = PdfFileReader(f, strict=False).embedded_signatures
            kinds = [s.sig_object_type for s in sigs]
            if kinds not in (["/Sig"], ["/Sig", "/DocTimeStamp"]):
                rep.problems.append(
                    f"data/report.pdf has signatures {kinds or 'none'}: expected the report's "
                    "signature, optionally followed by a document timestamp"
                )
                return
            if len(sigs) == 1 and timestamp_declared:
                rep.problems.append(
                    "bag-info.txt names a timestamp authority but data/report.pdf has no document timestamp"
                )
            _pdf_signature(sigs[0], signer_pem, rep, timestamped=len(sigs) == 2)
            if len(sigs) == 2:
                _pdf_document_timestamp(sigs[1], rep, tsa_roots)
    except Exception as exc:
        rep.problems.append(
            f"data/report.pdf: the signature cannot be validated ({type(exc).__name__}: {exc})"
        )


def _pdf_signature(sig: Any, signer_pem: Path, rep: BundleReport, timestamped: bool) -> None:
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    vc = ValidationContext(trust_roots=[load_cert_from_pemder(str(signer_pem))])
    status = validate_pdf_signature(sig, vc)
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE or (
        timestamped
        and status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and status.modification_level is not None
        and status.modification_level <= ModificationLevel.LTA_UPDATES
    )
    if not status.intact or not status.valid:
        rep.problems.append(
            "data/report.pdf: the signature does not match the document (changed after signing)"
        )
    elif not status.trusted:
        rep.problems.append("data/report.pdf: signed by a certificate other than signer.pem")
    elif not whole:
        rep.problems.append(
            "data/report.pdf: the signature does not cover the whole file (content was appended after signing)"
        )
    else:
        rep.checks.append(
            "data/report.pdf signature is intact, by signer.pem, and covers the entire file"
            + (" up to its document timestamp" if timestamped else "")
        )


def _pdf_document_timestamp(
    sig: Any, rep: BundleReport, tsa_roots: tuple[x509.Certificate, ...]
) -> None:
    from pyhanko.sign.validation import validate_pdf_timestamp
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    status = validate_pdf_timestamp(sig, timestamps.validation_context(tsa_roots))
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        rep.problems.append(
            "data/report.pdf: the document timestamp does not cover the whole file (content was appended after it)"
        )
        return
    ts = timestamps.pdf_timestamp_status(status)
    _timestamp_verdict(
        ts, f"data/report.pdf has a document timestamp {ts.describe()}", "data/report.pdf", rep
    )


_RECORD_FIELDS = {
    "dataset": str,
    "row_key": str,
    "commit_ts": str,
    "record_sha256": str,
    "page_sha256": str,
    "values": dict,
    "redacted": list,
}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _verify_consistency(root: Path, rep: BundleReport) -> None:
    jsonl = root / "data" / "records.jsonl"
    if not jsonl.is_file():
        rep.problems.append("data/records.jsonl is missing")
        return
    rows = _read_records(jsonl, rep)
    if rows is None:
        return
    datasets = [
        "interactionSegments",
        "workflowTrace",
        *(ds for ds in CASE_ONLY if (root / "data" / f"{ds}.csv").is_file()),
    ]
    stray = sorted({r["dataset"] for r in rows} - set(datasets))
    if stray:
        rep.problems.append(
            f"data/records.jsonl holds rows of {', '.join(stray)}, which have no CSV file"
        )
        return
    for ds in datasets:
        _csv_agrees(root / "data" / f"{ds}.csv", ds, rows, rep)
    raw_dir = root / "data" / "raw"
    if raw_dir.is_dir():
        pages = _raw_pages_agree(raw_dir, rows, rep)
        if not rep.problems:
            rep.checks.append(
                f"{len(rows):,} records agree across records.jsonl, the CSV files and {pages:,} raw pages"
            )
    elif not rep.problems:
        rep.checks.append(
            f"{len(rows):,} records agree across records.jsonl and the CSV files (raw pages withheld: redacted bundle)"
        )


def _is_record(obj: object) -> bool:
    return (
        isinstance(obj, dict)
        and all(isinstance(obj.get(k), t) for k, t in _RECORD_FIELDS.items())
        and bool(_SHA256.fullmatch(obj["record_sha256"]))
        and bool(_SHA256.fullmatch(obj["page_sha256"]))
        and all(isinstance(v, str) for v in obj["values"].values())
    )


def _read_records(jsonl: Path, rep: BundleReport) -> list[dict] | None:
    """The records of records.jsonl; None (and the problem named) when a line is not one."""
    rows = []
    for number, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            rep.problems.append(f"data/records.jsonl line {number} is not JSON")
            return None
        if not _is_record(obj):
            rep.problems.append(
                f"data/records.jsonl line {number} is not a record of this bundle format"
            )
            return None
        rows.append(obj)
    return rows


def _csv_header(header: list[str], ds: str, rep: BundleReport) -> list[str] | None:
    """The column names of a bundle CSV's header (escaped like every cell), or None."""
    if len(header) < 3 or tuple(header[-3:]) != PROVENANCE_COLUMNS:
        rep.problems.append(f"data/{ds}.csv: the header does not end with the provenance columns")
        return None
    cols = [unescape_cell(h) for h in header[:-3]]
    escaped = all(matches(h, c) for h, c in zip(header[:-3], cols, strict=True))
    if not escaped or len(set(cols)) != len(cols):
        rep.problems.append(f"data/{ds}.csv: the header is not the escaped column names")
        return None
    return cols


def _csv_agrees(path: Path, ds: str, rows: list[dict], rep: BundleReport) -> None:
    """The dataset's CSV holds the same rows as records.jsonl: every cell is the record's
    value escaped by the one rule (csvsafe; or by archiver 0.1.0's, which kept no phone
    number as text), compared as escaped text."""
    if not path.is_file():
        rep.problems.append(f"data/{ds}.csv is missing")
        return
    with path.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    if not table:
        rep.problems.append(f"data/{ds}.csv is empty (no header)")
        return
    cols = _csv_header(table[0], ds, rep)
    if cols is None:
        return
    body = table[1:]
    mine = [r for r in rows if r["dataset"] == ds]
    if len(mine) != len(body):
        rep.problems.append(f"data/{ds}.csv has {len(body)} rows, records.jsonl {len(mine)}")
        return
    for i, (csv_row, obj) in enumerate(zip(body, mine, strict=True), 2):
        values = obj["values"]
        want = [values.get(c, "") for c in cols]
        want += [obj["record_sha256"], obj["page_sha256"], obj.get("received_at") or ""]
        same = len(csv_row) == len(want) and all(
            matches(cell, v) for cell, v in zip(csv_row, want, strict=True)
        )
        if not same or not set(values) <= set(cols):
            rep.problems.append(f"data/{ds}.csv line {i} differs from records.jsonl")
            return


def _raw_page_digests(raw_dir: Path, sha: str, rep: BundleReport) -> set[str] | None:
    """The record digests of one raw page; None when the page is missing."""
    p = raw_dir / f"{sha}.json"
    if not p.is_file():
        rep.problems.append(f"data/raw/{sha}.json (the page of a record) is missing")
        return None
    raw = p.read_bytes()
    if sha256_hex(raw) != sha:
        rep.problems.append(f"data/raw/{sha}.json does not match its name (changed)")
    body = json.loads(raw)
    names = [c["name"] for c in body["columnHeaders"]]
    return {sha256_hex(canonical_record(names, r).encode()) for r in body["records"]}


def _raw_pages_agree(raw_dir: Path, rows: list[dict], rep: BundleReport) -> int:
    """Every record is in its raw page and (unredacted) matches its SHA-256; returns the
    number of pages read."""
    pages: dict[str, set[str]] = {}
    for obj in rows:
        sha = obj["page_sha256"]
        if sha not in pages:
            digests = _raw_page_digests(raw_dir, sha, rep)
            pages[sha] = digests or set()
            if digests is None:
                continue
        if pages[sha] and obj["record_sha256"] not in pages[sha]:
            rep.problems.append(f"record {obj['row_key']} is not in its raw page {sha}")
            break
        if not obj["redacted"] and _values_sha256(obj["values"]) != obj["record_sha256"]:
            rep.problems.append(
                f"record {obj['row_key']} in records.jsonl does not match its SHA-256"
            )
            break
    return len(pages)


def _values_sha256(values: dict) -> str:
    return sha256_hex(json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode())
