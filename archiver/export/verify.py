"""``archiver verify BUNDLE``: check a bundle (directory or zip) the way VERIFY.txt does,
plus that the CSV, JSONL and raw pages agree. Names the first problem."""

from __future__ import annotations

import csv
import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from archiver.archive.hashing import canonical_record, sha256_hex
from archiver.export import bag
from archiver.export.cms import CmsError, verify_detached
from archiver.export.csvsafe import unescape_cell
from archiver.export.keys import cert_fingerprint

ALLOWED_TOP = {*bag.TAG_FILES, bag.TAGMANIFEST, bag.SIGNATURE, "data"}


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [
            "VERIFIED: the bundle is intact and signed."
            if self.ok
            else f"FAILED: {self.problems[0]}"
        ]
        lines += [f"  - {p}" for p in self.problems[1:10]]
        lines += [f"  ✓ {c}" for c in self.checks]
        if self.fingerprint:
            lines.append(f"Signer certificate SHA-256: {self.fingerprint}")
        return "\n".join(lines)


def verify_bundle(path: Path) -> BundleReport:
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    if name.startswith("/") or ".." in Path(name).parts:
                        rep = BundleReport()
                        rep.problems.append(f"zip entry {name!r} points outside the bundle")
                        return rep
                z.extractall(tmp)
            roots = [p for p in Path(tmp).iterdir()]
            root = roots[0] if len(roots) == 1 and roots[0].is_dir() else Path(tmp)
            return _verify_dir(root)
    if not path.is_dir():
        rep = BundleReport()
        rep.problems.append(f"{path} is neither a bundle directory nor a zip file")
        return rep
    return _verify_dir(path)


def _verify_dir(root: Path) -> BundleReport:
    try:
        return _checks(root)
    except Exception as exc:  # a bundle damaged in a way no check foresaw is still a failure
        rep = BundleReport()
        rep.problems.append(f"the bundle cannot be checked: {type(exc).__name__}: {exc}")
        return rep


@dataclass
class _Bundle:
    """What the checks share: the bundle's root and what earlier checks read."""

    root: Path
    manifest: dict[str, str] = field(default_factory=dict)
    tagmanifest: dict[str, str] = field(default_factory=dict)
    cert: x509.Certificate | None = None


def _check_required_files(b: _Bundle, rep: BundleReport) -> bool:
    for name in (*bag.TAG_FILES, bag.TAGMANIFEST, bag.SIGNATURE):
        if not (b.root / name).is_file():
            rep.problems.append(f"{name} is missing")
    return not rep.problems


def _check_payload_manifest(b: _Bundle, rep: BundleReport) -> bool:
    """1. Every listed payload file present and unchanged, no file unlisted."""
    try:
        b.manifest = bag.parse_manifest(b.root / bag.MANIFEST)
        b.tagmanifest = bag.parse_manifest(b.root / bag.TAGMANIFEST)
    except ValueError as exc:
        rep.problems.append(str(exc))
        return False
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
    if not rep.problems:
        rep.checks.append(f"{len(b.manifest)} payload files match {bag.MANIFEST}")
    return True


def _check_tag_manifest(b: _Bundle, rep: BundleReport) -> bool:
    """2. The tag files unchanged, every one covered, nothing added at the top."""
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
    if not rep.problems:
        rep.checks.append(f"{len(b.tagmanifest)} tag files match {bag.TAGMANIFEST}")
    return True


def _check_cms_signature(b: _Bundle, rep: BundleReport) -> bool:
    """3. The detached CMS signature over the tag manifest, by signer.pem."""
    try:
        b.cert = x509.load_pem_x509_certificate((b.root / bag.SIGNER).read_bytes())
    except ValueError:
        rep.problems.append(f"{bag.SIGNER} is not a PEM certificate")
        return False
    rep.fingerprint = cert_fingerprint(b.cert)
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


def _check_bag_info(b: _Bundle, rep: BundleReport) -> bool:
    """bag-info.txt names signer.pem's fingerprint and the payload's Payload-Oxum."""
    info = bag.read_bag_info(b.root)
    if info.get("Signer-Fingerprint-SHA256") != rep.fingerprint:
        rep.problems.append("bag-info.txt names another signer fingerprint than signer.pem's")
    oxum = bag.payload_oxum(bag.payload_files(b.root))
    if info.get("Payload-Oxum") != oxum:
        rep.problems.append(
            f"Payload-Oxum {info.get('Payload-Oxum')} does not match the payload ({oxum})"
        )
    return True


def _check_report_pdf(b: _Bundle, rep: BundleReport) -> bool:
    """4. The report's PAdES signature."""
    pdf = b.root / "data" / "report.pdf"
    if pdf.is_file():
        _verify_pdf(pdf, b.root / bag.SIGNER, rep)
    else:
        rep.problems.append("data/report.pdf is missing")
    return True


def _check_copies_agree(b: _Bundle, rep: BundleReport) -> bool:
    """5. records.jsonl, the CSV files and the raw pages agree."""
    _verify_consistency(b.root, rep)
    return True


#: The checks in order; one returning False stops the rest (they could only repeat it).
CHECKS: tuple[Callable[[_Bundle, BundleReport], bool], ...] = (
    _check_required_files,
    _check_payload_manifest,
    _check_tag_manifest,
    _check_cms_signature,
    _check_bag_info,
    _check_report_pdf,
    _check_copies_agree,
)


def _checks(root: Path) -> BundleReport:
    rep = BundleReport()
    b = _Bundle(root)
    for check in CHECKS:
        if not check(b, rep):
            break
    return rep


def _verify_pdf(pdf: Path, signer_pem: Path, rep: BundleReport) -> None:
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    try:
        with pdf.open("rb") as f:
            reader = PdfFileReader(f, strict=False)
            sigs = reader.embedded_signatures
            if len(sigs) != 1:
                rep.problems.append(f"data/report.pdf has {len(sigs)} signatures, expected 1")
                return
            vc = ValidationContext(trust_roots=[load_cert_from_pemder(str(signer_pem))])
            status = validate_pdf_signature(sigs[0], vc)
    except Exception as exc:
        rep.problems.append(
            f"data/report.pdf: the signature cannot be validated ({type(exc).__name__}: {exc})"
        )
        return
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    if not status.intact or not status.valid:
        rep.problems.append(
            "data/report.pdf: the signature does not match the document (changed after signing)"
        )
    elif not status.trusted:
        rep.problems.append("data/report.pdf: signed by a certificate other than signer.pem")
    elif status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        rep.problems.append(
            "data/report.pdf: the signature does not cover the whole file (content was appended after signing)"
        )
    else:
        rep.checks.append(
            "data/report.pdf signature is intact, by signer.pem, and covers the entire file"
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


def _verify_consistency(root: Path, rep: BundleReport) -> None:
    jsonl = root / "data" / "records.jsonl"
    if not jsonl.is_file():
        rep.problems.append("data/records.jsonl is missing")
        return
    rows = _read_records(jsonl, rep)
    if rows is None:
        return
    for ds in ("interactionSegments", "workflowTrace"):
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


def _read_records(jsonl: Path, rep: BundleReport) -> list[dict] | None:
    """The records of records.jsonl; None (and the problem named) when a line is not one."""
    rows = []
    for number, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            rep.problems.append(f"data/records.jsonl line {number} is not JSON")
            return None
        if not isinstance(obj, dict) or any(
            not isinstance(obj.get(k), t) for k, t in _RECORD_FIELDS.items()
        ):
            rep.problems.append(
                f"data/records.jsonl line {number} is not a record of this bundle format"
            )
            return None
        rows.append(obj)
    return rows


def _csv_agrees(path: Path, ds: str, rows: list[dict], rep: BundleReport) -> None:
    """The dataset's CSV holds the same rows as records.jsonl, apart from formula escaping."""
    if not path.is_file():
        rep.problems.append(f"data/{ds}.csv is missing")
        return
    with path.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    header, body = table[0], table[1:]
    mine = [r for r in rows if r["dataset"] == ds]
    if len(mine) != len(body):
        rep.problems.append(f"data/{ds}.csv has {len(body)} rows, records.jsonl {len(mine)}")
        return
    cols = header[:-3]
    for i, (csv_row, obj) in enumerate(zip(body, mine, strict=True), 2):
        values = [unescape_cell(v) for v in csv_row[: len(cols)]]
        if (
            values != [obj["values"].get(c, "") for c in cols]
            or csv_row[-3] != obj["record_sha256"]
        ):
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
