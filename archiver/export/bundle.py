"""``archiver export``: a signed BagIt audit bundle of interactionSegments and workflowTrace.

    bundle/
      bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt
      tagmanifest-sha256.txt.p7s  signer.pem  VERIFY.txt
      data/report.pdf                 PAdES-signed report
      data/interactionSegments.csv    RFC 4180, UTF-8 with BOM, formula cells neutralised
      data/workflowTrace.csv
      data/records.jsonl              the exact API strings: the authoritative copy
      data/raw/<page sha256>.json     the raw pages the rows came from (not when redacting)

``export_bundle`` is a generator: it yields progress lines and returns a BundleResult.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import threading
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

from archiver import __version__
from archiver.archive.auditlog import summarise
from archiver.archive.hashing import sha256_hex
from archiver.archive.store import Archive, open_reader, page_body
from archiver.export import bag
from archiver.export.csvsafe import escape_cell
from archiver.export.keys import SigningIdentity, passphrase_bytes
from archiver.export.pdf import ReportMeta, build_report
from archiver.export.redact import PROFILES, redact
from archiver.export.scope import SEGMENTS, TRACE, Row, Scope, Selection, select
from archiver.export.warehouse import dataset_columns

PROVENANCE_COLUMNS = ("_record_sha256", "_page_sha256", "_received_at")


class ExportCancelled(Exception):
    pass


class BundleError(Exception):
    pass


@dataclass
class BundleResult:
    path: Path
    bundle_id: str
    interactions: int
    segments: int
    traces: int
    pages: int
    gaps: list[str] = field(default_factory=list)
    zip_path: Path | None = None


def _audit_custody(conn: sqlite3.Connection) -> list[dict[str, str]]:
    """The archive's audit log as the report's chain-of-custody table."""
    return [
        {
            "at": e["at"][:19].replace("T", " "),
            "event": e["event"],
            "os_user": e["os_user"],
            "tool_version": e["tool_version"],
            "run_id": e["run_id"] or "",
            "summary": summarise(e["event"], json.loads(e["details"])),
        }
        for e in conn.execute(
            "SELECT at, event, os_user, tool_version, run_id, details FROM audit_log ORDER BY entry_id"
        )
    ]


def _redacted(rows: list[Row], profile: str) -> tuple[list[Row], set[str]]:
    if not PROFILES[profile]:
        return rows, set()
    out, fields = [], set()
    for r in rows:
        values, done = redact(r.values, profile)
        fields.update(done)
        out.append(
            Row(
                r.dataset,
                r.record_id,
                r.row_key,
                r.commit_ts,
                values,
                r.sha256,
                r.page_id,
                r.page_sha256,
                r.received_at,
                r.conflict,
            )
        )
    return out, fields


def _write_csv(path: Path, columns: list[str], rows: list[Row]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(columns + list(PROVENANCE_COLUMNS))
        for r in rows:
            w.writerow(
                [escape_cell(r.values.get(c, "")) for c in columns]
                + [r.sha256, r.page_sha256, r.received_at]
            )


def _write_jsonl(path: Path, rows: list[Row], redacted: set[str]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            obj = {
                "dataset": r.dataset,
                "row_key": r.row_key,
                "commit_ts": r.commit_ts,
                "record_sha256": r.sha256,
                "page_sha256": r.page_sha256,
                "received_at": r.received_at,
                "integrity_conflict": r.conflict,
                "redacted": sorted(k for k in redacted if r.values.get(k) == "[REDACTED]"),
                "values": r.values,
            }
            f.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")


def _sign_pdf(src: Path, dst: Path, ident: SigningIdentity, bundle_id: str) -> None:
    signer = signers.SimpleSigner.load(
        str(ident.key_path), str(ident.cert_path), key_passphrase=passphrase_bytes()
    )
    if signer is None:
        raise BundleError("pyHanko could not load the signing key")
    meta = signers.PdfSignatureMetadata(
        field_name="ArchiverSignature",
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=f"Audit bundle {bundle_id}",
        location="archiver",
    )
    with src.open("rb") as f:
        out = signers.sign_pdf(IncrementalPdfFileWriter(f), meta, signer=signer)
        dst.write_bytes(out.getvalue())


VERIFY_TEXT = """How to verify this audit bundle with standard tools only
==========================================================

Bundle {bundle_id}, created {created} by archiver {version}.
Signer certificate SHA-256 fingerprint (compare with the value you were given separately,
with bag-info.txt and with the first page of data/report.pdf):

    {fingerprint}

Run these commands in this directory (the one holding bagit.txt). Each must succeed.

1. Every payload file is complete and unchanged (BagIt payload manifest):

    sha256sum -c manifest-sha256.txt

2. The tag files are unchanged (tag manifest):

    sha256sum -c tagmanifest-sha256.txt

   Or both at once, with the Library of Congress bagit tool (never its fast mode):

    bagit.py --validate .

3. The tag manifest (which fixes the hashes of everything above) was signed by the key of
   signer.pem (detached CMS signature):

    openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content tagmanifest-sha256.txt -CAfile signer.pem -purpose any -out /dev/null

   and the certificate is the one you expect:

    openssl x509 -in signer.pem -noout -subject -fingerprint -sha256

4. The report's PDF signature covers the whole file and nothing was added after signing:

    pyhanko sign validate --pretty-print --trust signer.pem data/report.pdf

   (or open data/report.pdf in a PDF reader and check the signature panel, trusting
   signer.pem).

5. No file was added: every file under data/ must appear in manifest-sha256.txt:

    find data -type f | sort | diff - <(cut -c67- manifest-sha256.txt | sort)

What is what: data/records.jsonl holds the rows with the exact API strings (the
authoritative copy). The CSV files are for spreadsheets: cells that would start a formula
(=, +, -, @, tab, carriage return; plain numbers excepted) carry a leading ' as OWASP
advises; remove it to get the exact string. data/raw/ holds the raw API responses the rows
came from, named by their SHA-256 (withheld when a redaction profile is applied).
"""


def export_bundle(
    archive_path: Path,
    scope: Scope,
    out: Path,
    ident: SigningIdentity,
    *,
    make_zip: bool = False,
    cancel: threading.Event | None = None,
) -> Iterator[str]:
    """Write the bundle to ``out`` (a new directory); yields progress lines, returns a BundleResult."""
    cancel = cancel or threading.Event()
    if scope.redact not in PROFILES:
        raise BundleError(
            f"unknown redaction profile {scope.redact!r}; choose one of {', '.join(PROFILES)}"
        )
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} exists and is not empty: choose a new directory.")
    work = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    bundle_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    conn = open_reader(archive_path)
    try:
        yield "Selecting rows in scope…"
        sel = select(conn, scope)
        seg_cols = dataset_columns(conn, SEGMENTS) or []
        trace_cols = dataset_columns(conn, TRACE) or []
        custody = _audit_custody(conn)
        head = conn.execute("SELECT * FROM chain_head").fetchone()
        archive_id = conn.execute("SELECT value FROM meta WHERE key='archive_id'").fetchone()[0]
        tenants = [
            t for (t,) in conn.execute("SELECT DISTINCT tenant FROM runs ORDER BY started_at")
        ]
        yield f"{len(sel.segments):,} segment rows, {len(sel.traces):,} trace rows in scope"
        segments, redacted = _redacted(sel.segments, scope.redact)
        traces, r2 = _redacted(sel.traces, scope.redact)
        redacted |= r2
        shown = Selection(scope, segments, traces, sel.gap_list, sel.reading)
        data = work / "data"
        data.mkdir(parents=True)
        if cancel.is_set():
            raise ExportCancelled()
        _write_csv(data / f"{SEGMENTS}.csv", seg_cols, segments)
        _write_csv(data / f"{TRACE}.csv", trace_cols, traces)
        _write_jsonl(data / "records.jsonl", segments + traces, redacted)
        yield "CSV and JSONL written"
        if not redacted and scope.redact == "none":
            raw = data / "raw"
            raw.mkdir()
            page_ids = sorted({r.page_id for r in sel.segments + sel.traces})
            for start in range(0, len(page_ids), 500):
                part = page_ids[start : start + 500]
                for p in conn.execute(
                    f"SELECT sha256, encoding, body FROM pages WHERE page_id IN ({','.join('?' * len(part))})",
                    part,
                ):
                    body = page_body(p["encoding"], p["body"])
                    if sha256_hex(body) != p["sha256"]:
                        raise BundleError(
                            f"archived page {p['sha256']} does not match its checksum: run archiver verify-archive"
                        )
                    (raw / f"{p['sha256']}.json").write_bytes(body)
                if cancel.is_set():
                    raise ExportCancelled()
            yield f"{len(page_ids):,} raw pages copied"
        meta = ReportMeta(
            bundle_id=bundle_id,
            tenant=", ".join(tenants) or "unknown",
            generated_at=created,
            tool_version=__version__,
            archive_id=archive_id,
            chain_head=head["pages_chain"] or "",
            audit_head=head["audit_chain"] or "",
            fingerprint=ident.fingerprint,
            signer=ident.subject,
            redaction=scope.redact,
            redacted_fields=sorted(redacted),
            custody=custody,
        )
        yield "Rendering the report…"
        unsigned = work / "report-unsigned.pdf"

        def check_cancel(done: int, total: int) -> None:
            if cancel.is_set():
                raise ExportCancelled()

        pages = build_report(unsigned, shown, meta, check_cancel)
        if cancel.is_set():
            raise ExportCancelled()
        yield f"Report rendered ({pages:,} pages); signing it"
        _sign_pdf(unsigned, data / "report.pdf", ident, bundle_id)
        unsigned.unlink()
        (work / "bagit.txt").write_text(bag.BAGIT_TXT, encoding="utf-8", newline="\n")
        (work / bag.SIGNER).write_bytes(ident.cert_pem())
        (work / bag.VERIFY).write_text(
            VERIFY_TEXT.format(
                bundle_id=bundle_id,
                created=created,
                version=__version__,
                fingerprint=ident.fingerprint,
            ),
            encoding="utf-8",
            newline="\n",
        )
        files = bag.payload_files(work)
        gaps = sel.gaps
        bag.write_bag_info(
            work,
            [
                ("Source-Organization", meta.tenant),
                ("External-Identifier", bundle_id),
                (
                    "External-Description",
                    "Audit bundle of Avaya Infinity interactionSegments and workflowTrace rows with their raw API responses",
                ),
                ("Bagging-Date", created[:10]),
                ("Bag-Software-Agent", f"archiver {__version__}"),
                ("Archiver-Created", created),
                ("Archiver-Scope", scope.describe()),
                ("Archiver-Tenant", meta.tenant),
                (
                    "Archiver-Time-Zone",
                    "All timestamps UTC as delivered by the API; STARTTIME is tenant local time",
                ),
                ("Archiver-Archive-Id", archive_id),
                ("Archiver-Chain-Head", meta.chain_head),
                ("Archiver-Audit-Chain-Head", meta.audit_head),
                (
                    "Archiver-Redaction-Profile",
                    scope.redact + (f" ({', '.join(sorted(redacted))})" if redacted else ""),
                ),
                ("Archiver-Interactions", str(len(sel.interactions()))),
                ("Archiver-Segment-Rows", str(len(segments))),
                ("Archiver-Trace-Rows", str(len(traces))),
                ("Archiver-Coverage-Gaps", str(len(gaps))),
                ("Archiver-Ending-Reading", sel.reading),
                *[("Archiver-Coverage-Gap", g) for g in gaps[:500]],
                ("Signer-Subject", ident.subject),
                ("Signer-Fingerprint-SHA256", ident.fingerprint),
                ("Payload-Oxum", bag.payload_oxum(files)),
            ],
        )
        bag.write_manifest(work, files, bag.MANIFEST)
        bag.write_manifest(work, [work / name for name in bag.TAG_FILES], bag.TAGMANIFEST)
        bag.sign_tagmanifest(work, ident)
        if cancel.is_set():
            raise ExportCancelled()
        if out.exists():
            out.rmdir()
        os.replace(work, out)
        zip_path = None
        if make_zip:
            zip_path = out.with_suffix(".zip")
            with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
                for p in sorted(out.rglob("*")):
                    if p.is_file():
                        z.write(p, f"{out.name}/{p.relative_to(out).as_posix()}")
        yield "Bundle written and signed"
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        conn.close()
    with Archive(archive_path) as a:
        a.audit(
            "export",
            {
                "bundle_id": bundle_id,
                "out": str(out.resolve()),
                "scope": scope.as_dict(),
                "redaction": scope.redact,
                "redacted_fields": sorted(redacted),
                "segments": len(segments),
                "traces": len(traces),
                "tagmanifest_sha256": bag.sha256_file(out / bag.TAGMANIFEST),
                "signer_fingerprint": ident.fingerprint,
            },
        )
    return BundleResult(
        out, bundle_id, len(sel.interactions()), len(segments), len(traces), pages, gaps, zip_path
    )


__all__ = ["BundleError", "BundleResult", "ExportCancelled", "Scope", "export_bundle"]
