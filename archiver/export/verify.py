"""``archiver verify BUNDLE``: check a bundle (directory or zip) the way VERIFY.txt does,
plus that the CSV, JSONL and raw pages agree. Names the first problem."""

from __future__ import annotations

import csv
import json
import tempfile
import zipfile
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


def _checks(root: Path) -> BundleReport:
    rep = BundleReport()
    for name in (*bag.TAG_FILES, bag.TAGMANIFEST, bag.SIGNATURE):
        if not (root / name).is_file():
            rep.problems.append(f"{name} is missing")
    if rep.problems:
        return rep
    # 1. payload manifest: every listed file present and unchanged, no file unlisted
    try:
        manifest = bag.parse_manifest(root / bag.MANIFEST)
        tagmanifest = bag.parse_manifest(root / bag.TAGMANIFEST)
    except ValueError as exc:
        rep.problems.append(str(exc))
        return rep
    for name, digest in manifest.items():
        p = root / name
        if not p.is_file():
            rep.problems.append(f"{name} is listed in {bag.MANIFEST} but missing (deleted)")
        elif bag.sha256_file(p) != digest:
            rep.problems.append(f"{name} does not match its SHA-256 in {bag.MANIFEST} (changed)")
    for p in bag.payload_files(root):
        rel = p.relative_to(root).as_posix()
        if rel not in manifest:
            rep.problems.append(f"{rel} is not in {bag.MANIFEST} (added after the bundle was made)")
    if not rep.problems:
        rep.checks.append(f"{len(manifest)} payload files match {bag.MANIFEST}")
    # 2. tag manifest
    for name, digest in tagmanifest.items():
        p = root / name
        if not p.is_file():
            rep.problems.append(f"{name} is listed in {bag.TAGMANIFEST} but missing")
        elif bag.sha256_file(p) != digest:
            rep.problems.append(f"{name} does not match its SHA-256 in {bag.TAGMANIFEST} (changed)")
    for p in root.iterdir():
        if p.name not in ALLOWED_TOP:
            rep.problems.append(f"{p.name} is not part of the bundle (added after it was made)")
    for name in bag.TAG_FILES:
        if name not in tagmanifest:
            rep.problems.append(f"{name} is not covered by {bag.TAGMANIFEST}")
    if not rep.problems:
        rep.checks.append(f"{len(tagmanifest)} tag files match {bag.TAGMANIFEST}")
    # 3. the CMS signature over the tag manifest, and the signer
    try:
        cert = x509.load_pem_x509_certificate((root / bag.SIGNER).read_bytes())
    except ValueError:
        rep.problems.append(f"{bag.SIGNER} is not a PEM certificate")
        return rep
    rep.fingerprint = cert_fingerprint(cert)
    try:
        verify_detached(
            (root / bag.SIGNATURE).read_bytes(), (root / bag.TAGMANIFEST).read_bytes(), cert
        )
        rep.checks.append(
            f"{bag.SIGNATURE} is a valid signature of {bag.TAGMANIFEST} by {bag.SIGNER}"
        )
    except CmsError as exc:
        rep.problems.append(f"{bag.SIGNATURE}: {exc}")
    info = bag.read_bag_info(root)
    if info.get("Signer-Fingerprint-SHA256") != rep.fingerprint:
        rep.problems.append("bag-info.txt names another signer fingerprint than signer.pem's")
    files = bag.payload_files(root)
    if info.get("Payload-Oxum") != bag.payload_oxum(files):
        rep.problems.append(
            f"Payload-Oxum {info.get('Payload-Oxum')} does not match the payload ({bag.payload_oxum(files)})"
        )
    # 4. the PDF signature
    pdf = root / "data" / "report.pdf"
    if pdf.is_file():
        _verify_pdf(pdf, root / bag.SIGNER, rep)
    else:
        rep.problems.append("data/report.pdf is missing")
    # 5. CSV, JSONL and raw pages agree
    _verify_consistency(root, rep)
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


def _verify_consistency(root: Path, rep: BundleReport) -> None:
    jsonl = root / "data" / "records.jsonl"
    if not jsonl.is_file():
        rep.problems.append("data/records.jsonl is missing")
        return
    rows = []
    needed = {
        "dataset": str,
        "row_key": str,
        "commit_ts": str,
        "record_sha256": str,
        "page_sha256": str,
        "values": dict,
        "redacted": list,
    }
    for number, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            rep.problems.append(f"data/records.jsonl line {number} is not JSON")
            return
        if not isinstance(obj, dict) or any(
            not isinstance(obj.get(k), t) for k, t in needed.items()
        ):
            rep.problems.append(
                f"data/records.jsonl line {number} is not a record of this bundle format"
            )
            return
        rows.append(obj)
    for ds in ("interactionSegments", "workflowTrace"):
        path = root / "data" / f"{ds}.csv"
        if not path.is_file():
            rep.problems.append(f"data/{ds}.csv is missing")
            continue
        with path.open(encoding="utf-8-sig", newline="") as f:
            table = list(csv.reader(f))
        header, body = table[0], table[1:]
        mine = [r for r in rows if r["dataset"] == ds]
        if len(mine) != len(body):
            rep.problems.append(f"data/{ds}.csv has {len(body)} rows, records.jsonl {len(mine)}")
            continue
        cols = header[:-3]
        for i, (csv_row, obj) in enumerate(zip(body, mine, strict=True), 2):
            values = [unescape_cell(v) for v in csv_row[: len(cols)]]
            if (
                values != [obj["values"].get(c, "") for c in cols]
                or csv_row[-3] != obj["record_sha256"]
            ):
                rep.problems.append(f"data/{ds}.csv line {i} differs from records.jsonl")
                break
    raw_dir = root / "data" / "raw"
    if raw_dir.is_dir():
        pages: dict[str, set[str]] = {}
        for obj in rows:
            sha = obj["page_sha256"]
            if sha not in pages:
                p = raw_dir / f"{sha}.json"
                if not p.is_file():
                    rep.problems.append(f"data/raw/{sha}.json (the page of a record) is missing")
                    pages[sha] = set()
                    continue
                raw = p.read_bytes()
                if sha256_hex(raw) != sha:
                    rep.problems.append(f"data/raw/{sha}.json does not match its name (changed)")
                body = json.loads(raw)
                names = [c["name"] for c in body["columnHeaders"]]
                pages[sha] = {
                    sha256_hex(canonical_record(names, r).encode()) for r in body["records"]
                }
            if pages[sha] and obj["record_sha256"] not in pages[sha]:
                rep.problems.append(f"record {obj['row_key']} is not in its raw page {sha}")
                break
            if (
                not obj["redacted"]
                and sha256_hex(
                    json.dumps(obj["values"], ensure_ascii=False, separators=(",", ":")).encode()
                )
                != obj["record_sha256"]
            ):
                rep.problems.append(
                    f"record {obj['row_key']} in records.jsonl does not match its SHA-256"
                )
                break
        if not rep.problems:
            rep.checks.append(
                f"{len(rows):,} records agree across records.jsonl, the CSV files and {len(pages):,} raw pages"
            )
    elif not rep.problems:
        rep.checks.append(
            f"{len(rows):,} records agree across records.jsonl and the CSV files (raw pages withheld: redacted bundle)"
        )
