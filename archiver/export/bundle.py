"""``archiver export``: a signed BagIt audit bundle of interactionSegments and workflowTrace.

    bundle/
      bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt
      tagmanifest-sha256.txt.p7s  signer.pem  VERIFY.txt
      data/report.pdf                 PAdES-signed report
      data/interactionSegments.csv    RFC 4180, UTF-8 with BOM, formula cells neutralised
      data/workflowTrace.csv
      data/records.jsonl              the exact API strings: the authoritative copy
      data/raw/<page sha256>.json     the raw pages the rows came from (not when redacting)

``export_bundle`` is a generator: it yields progress lines and returns a BundleResult. It
runs named stages in order (select → payload and report → sign the report → bag and sign →
publish → audit), each a function below with its input and output spelled out. The select
stage counts; the payload and the report are written in one pass over the scope's windows
(export/scope.py reads whole intervals of one day, a bounded number of rows at a time), so
memory does not grow with the range.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

from archiver import __version__
from archiver.archive.auditlog import summarise
from archiver.archive.hashing import sha256_hex
from archiver.archive.queries import audit
from archiver.archive.queries import bundle as reads
from archiver.archive.queries.reader import Reader, Source
from archiver.archive.store import Archive
from archiver.counts import INTERACTIONS, LATEST, RECORDS
from archiver.export import bag, timestamps
from archiver.export.bag import DEMO, DEMO_WHY
from archiver.export.csvsafe import escape_row
from archiver.export.keys import SigningIdentity
from archiver.export.pdf import Front, ReportMeta
from archiver.export.redact import PROFILES, redact
from archiver.export.report import RenderError, Report
from archiver.export.scope import (
    SEGMENTS,
    TRACE,
    Extent,
    Names,
    Row,
    Scope,
    ScopeError,
    Window,
    iter_windows,
    measure,
)
from archiver.jobs import Cancel
from archiver.plural import plural

PROVENANCE_COLUMNS = ("_record_sha256", "_page_sha256", "_received_at")


class BundleError(Exception):
    pass


class EmptySelection(BundleError):
    """Nothing archived is in scope (refused unless the caller allows an empty bundle). The
    message says what was looked for and that nothing was written; each front end adds how
    to go on (its own words for allowing an empty bundle)."""


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
    #: interactions with rows in a stated gap: in the bundle, marked on their pages
    marked: int = 0
    #: the scope's intervals walked as the previous chunk's `ending`
    at_ending: list[str] = field(default_factory=list)
    versions: str = "latest"
    #: the signer certificate's SHA-256 fingerprint (the recipient compares it out of band)
    fingerprint: str = ""
    #: rows of a simulated tenant: the bundle says DEMO (cover, bag-info.txt, verify)
    demo: bool = False


def _audit_custody(db: Source) -> list[dict[str, str]]:
    """The archive's audit log as the report's chain-of-custody table."""
    return [
        {
            "at": e.at[:19].replace("T", " "),
            "event": e.event,
            "os_user": e.os_user,
            "tool_version": e.tool_version,
            "run_id": e.run_id or "",
            "summary": summarise(e.event, json.loads(e.details)),
        }
        for e in audit.audit_log(db, newest_first=False)
    ]


def _redact_in_place(rows: list[Row], profile: str, fields: set[str]) -> None:
    """The exported copy: the profile's fields replaced (the archive keeps the originals)."""
    if not PROFILES[profile]:
        return
    for r in rows:
        r.values, done = redact(r.values, profile)
        fields.update(done)


class _Payload:
    """data/: the two CSV files and records.jsonl, appended to as the windows are read, and the
    raw pages the rows came from (each page once). Every CSV cell is escaped by the one rule
    of csvsafe, header cells included."""

    def __init__(self, data: Path, columns: dict[str, list[str]], raw: bool) -> None:
        self.data = data
        self.columns = columns
        self.raw = data / "raw" if raw else None
        self.pages_done: set[int] = set()
        self.files = {
            ds: (data / f"{ds}.csv").open("w", encoding="utf-8-sig", newline="")
            for ds in (SEGMENTS, TRACE)
        }
        self.csv = {ds: csv.writer(f, lineterminator="\r\n") for ds, f in self.files.items()}
        for ds, w in self.csv.items():
            w.writerow(escape_row(columns[ds] + list(PROVENANCE_COLUMNS)))
        self.jsonl = (data / "records.jsonl").open("w", encoding="utf-8", newline="\n")
        if self.raw:
            self.raw.mkdir()

    def write(self, db: Source, day: Window, redacted: set[str]) -> None:
        for ds, rows in ((SEGMENTS, day.segments), (TRACE, day.traces)):
            w, columns = self.csv[ds], self.columns[ds]
            for r in rows:
                w.writerow(
                    escape_row(
                        [r.values.get(c, "") for c in columns]
                        + [r.sha256, r.page_sha256, r.received_at]
                    )
                )
        for r in day.segments + day.traces:
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
            self.jsonl.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        if self.raw:
            new = sorted({r.page_id for r in day.segments + day.traces} - self.pages_done)
            _copy_raw_pages(db, new, self.raw)
            self.pages_done.update(new)

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        self.jsonl.close()


def _sign_pdf(src: Path, dst: Path, ident: SigningIdentity, bundle_id: str) -> None:
    signer = signers.SimpleSigner.load(
        str(ident.key_path), str(ident.cert_path), key_passphrase=ident.key_passphrase()
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
    with src.open("rb") as f, dst.open("w+b") as out:  # streamed: never the whole file in memory
        signers.sign_pdf(IncrementalPdfFileWriter(f), meta, signer=signer, output=out)


VERIFY_TEXT = """How to verify this audit bundle with standard tools only
==========================================================

Bundle {bundle_id}, created {created} by archiver {version}.
{demo_text}
FIRST, THE SIGNER. Anyone can make a bundle that passes every check below with a key of
their own: the checks prove the bundle is intact and was signed with the key of the
certificate it carries (signer.pem), not who signed it. Trust signer.pem only if its
SHA-256 fingerprint is the one you obtained separately, out of band (from the sender by
phone, letter or a signed message; not from this bundle or the message that brought it):

    openssl x509 -in signer.pem -noout -subject -fingerprint -sha256

must print the fingerprint this bundle states,

    {fingerprint}

and that must be the one you were given: this file is part of the bundle, so it cannot
vouch for its own signer. (`archiver verify --expect-fingerprint FINGERPRINT .` checks all
of it, the fingerprint included.) Only then does `-CAfile signer.pem` below mean anything.

Run these commands in this directory (the one holding bagit.txt). Each must succeed.

1. Every payload file is complete and unchanged (BagIt payload manifest):

    sha256sum -c manifest-sha256.txt

2. The tag files are unchanged (tag manifest):

    sha256sum -c tagmanifest-sha256.txt

   Or both at once, with the Library of Congress bagit tool (never its fast mode):

    bagit.py --validate .

3. The tag manifest (which fixes the hashes of everything above) was signed by the key of
   signer.pem (detached CMS signature; the certificate you checked first):

    openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content tagmanifest-sha256.txt -CAfile signer.pem -purpose any -out /dev/null

4. The report's PDF signature covers the whole file and nothing was added after signing:

    pyhanko sign validate --pretty-print --trust signer.pem data/report.pdf

   (or open data/report.pdf in a PDF reader and check the signature panel, trusting
   signer.pem).

5. No file was added: every file under data/ must appear in manifest-sha256.txt:

    find data -type f | sort | diff - <(cut -c67- manifest-sha256.txt | sort)
{timestamp_text}
What is what: data/records.jsonl holds the rows with the exact API strings (the
authoritative copy). The CSV files are for spreadsheets: cells that would start a formula
(=, -, @, tab, carriage return; plain numbers excepted), cells starting with + (a phone
number such as +4930123456 stays text, its + kept), digits with a leading zero (0301234567)
and cells that start with ' carry one more leading ' as OWASP advises; remove exactly one
leading ' from a cell that starts with one to get the exact string (header cells too). data/raw/ holds the raw API
responses the rows came from, named by their SHA-256 (withheld when a redaction profile is
applied).
"""

TIMESTAMP_TEXT = """
6. Trusted time (RFC 3161, timestamp authority {tsa}): data/report.pdf ends with a document
   timestamp, which step 4 shows when you also trust the authority's root certificate
   (pyhanko sign validate --trust signer.pem --trust TSA-ROOT.pem data/report.pdf), and
   tagmanifest-sha256.txt.p7s carries a timestamp token of its signature (unsigned attribute
   signature-time-stamp-token; shown by openssl cms -cmsout -print -inform DER -in
   tagmanifest-sha256.txt.p7s). `archiver verify` checks both.
"""


# -- the stages -----------------------------------------------------------------------------
# Everything up to publish happens in a hidden work directory next to ``out``; a failure or
# a cancel removes it, so a bundle is either complete and signed or absent.


@dataclass(frozen=True)
class BundlePlan:
    """What is being made and where: fixed before anything is read or written."""

    archive_path: Path
    scope: Scope
    out: Path
    ident: SigningIdentity
    make_zip: bool
    work: Path
    bundle_id: str
    created: str
    allow_empty: bool = False
    workers: int | None = None  # report render processes (None: report.default_workers())
    tsa_url: str | None = None

    @classmethod
    def new(
        cls,
        archive_path: Path,
        scope: Scope,
        out: Path,
        ident: SigningIdentity,
        make_zip: bool,
        *,
        allow_empty: bool = False,
        workers: int | None = None,
        tsa_url: str | None = None,
    ) -> BundlePlan:
        """Refuse what check_request refuses, before any work."""
        check_request(scope, out, make_zip)
        return cls(
            archive_path,
            scope,
            out,
            ident,
            make_zip,
            work=out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}",
            bundle_id=f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}",
            created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            allow_empty=allow_empty,
            workers=workers,
            tsa_url=tsa_url,
        )

    @property
    def data(self) -> Path:
        return self.work / "data"


def check_request(scope: Scope, out: Path, make_zip: bool) -> None:
    """Refuse an unknown redaction profile, a scope off the 15-minute marks or inverted,
    a target that is a file or not empty, or a zip that exists already (BundleError)."""
    if scope.redact not in PROFILES:
        raise BundleError(
            f"unknown redaction profile {scope.redact!r}; choose one of {', '.join(PROFILES)}"
        )
    try:
        scope.check()
    except ScopeError as exc:
        raise BundleError(str(exc)) from None
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} exists and is not a directory: choose a new directory.")
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} exists and is not empty: choose a new directory.")
    if make_zip and zip_path_for(out).exists():
        raise BundleError(
            f"{zip_path_for(out)} exists: choose another --out (the zip is named after it)."
        )


def preflight(
    archive_path: Path,
    scope: Scope,
    out: Path,
    *,
    make_zip: bool = False,
    allow_empty: bool = False,
) -> None:
    """What export_bundle would refuse without a signing key (the request, an empty
    selection), checked before the key is loaded: a key that cannot be used then never
    hides that there was nothing to sign. Reads the archive; writes nothing."""
    check_request(scope, out, make_zip)
    if allow_empty:
        return
    with Reader(archive_path) as db:
        _refuse_empty(scope, measure(db, scope))


@dataclass
class Selected:
    """The select stage's output: what the scope holds (counted, not loaded), the names the
    report resolves ids with, and the archive facts the report and bag-info state. The
    exported counts are added up by the payload stage as it writes."""

    extent: Extent
    names: Names
    columns: dict[str, list[str]]  # dataset → CSV columns
    custody: list[dict[str, str]]
    archive_id: str
    chain_head: str
    audit_head: str
    tenants: list[str]
    #: a run of the archive pulled from the simulator (see :func:`simulated_runs`)
    demo: bool = False
    redacted: set[str] = field(default_factory=set)
    interactions: int = 0
    segments: int = 0
    traces: int = 0
    conflicts: int = 0
    #: interactions with rows in a stated coverage gap (marked on their pages)
    marked: int = 0

    @property
    def tenant(self) -> str:
        return ", ".join(self.tenants) or "unknown"

    @property
    def gaps(self) -> list[str]:
        return self.extent.gaps

    def count(self, day: Window) -> None:
        self.interactions += len(day.interactions)
        self.segments += len(day.segments)
        self.traces += len(day.traces)
        self.conflicts += sum(r.conflict for r in day.segments + day.traces)
        self.marked += sum(1 for it in day.interactions if it.gaps)


def _cancel_check(cancel: Cancel | None) -> Callable[[], None]:
    """How the stages ask "cancelled?": :class:`~archiver.jobs.Cancelled` when it was."""
    return cancel.check if cancel is not None else (lambda: None)


def select_rows(db: Source, scope: Scope) -> Selected:
    """Select: count what the scope holds and gather the archive's facts (no rows loaded)."""
    head = audit.chain_head(db)
    return Selected(
        extent=measure(db, scope),
        names=Names.load(db, scope),
        columns={
            SEGMENTS: reads.columns(db, SEGMENTS),
            TRACE: reads.columns(db, TRACE),
        },
        custody=_audit_custody(db),
        archive_id=reads.archive_id(db),
        chain_head=head.pages_chain,
        audit_head=head.audit_chain,
        tenants=reads.tenants(db),
        demo=reads.simulated_runs(db) > 0,
    )


def refuse_empty(plan: BundlePlan, chosen: Selected) -> None:
    """An empty selection stops here (nothing written) unless the caller allows it."""
    if not plan.allow_empty:
        _refuse_empty(plan.scope, chosen.extent)


def _refuse_empty(scope: Scope, extent: Extent) -> None:
    if extent.interactions:
        return
    why = [
        f"nothing archived is in scope: no interactionSegments record has its own interval in {scope.window()}"
    ]
    if scope.filters():
        why.append(f"with {'; '.join(scope.filters())}")
    if extent.gaps:
        why.append(f"({plural(len(extent.gaps), 'coverage gap')} in that window: pull it first)")
    raise EmptySelection(" ".join(why) + ". Nothing was written.")


def write_payload_and_report(
    db: Source,
    plan: BundlePlan,
    chosen: Selected,
    meta: ReportMeta,
    check: Callable[[], None],
) -> Generator[str, None, int]:
    """Payload and report, in one pass over the scope's windows: the CSV files, records.jsonl
    and (unredacted bundles only) the raw pages written as each window is read, the window's
    interactions handed to the report; then the report is finished, joined and PAdES-signed
    into data/. Returns its page count."""
    plan.data.mkdir(parents=True)
    report = Report(
        plan.work, meta, plan.scope, chosen.names, chosen.extent.interactions, check, plan.workers
    )
    raw = plan.scope.redact == "none" or not PROFILES[plan.scope.redact]
    payload = _Payload(plan.data, chosen.columns, raw)
    try:
        for day in iter_windows(db, plan.scope, chosen.extent):
            check()
            _redact_in_place(day.segments + day.traces, plan.scope.redact, chosen.redacted)
            payload.write(db, day, chosen.redacted)
            chosen.count(day)
            yield from report.add(db, day)
        payload.close()
        held = LATEST if plan.scope.versions == "latest" else RECORDS
        yield (
            f"CSV and JSONL written ({held.of(chosen.segments, 'interactionSegments')}, "
            f"{held.of(chosen.traces, 'workflowTrace')})"
            + (f", {len(payload.pages_done):,} raw pages copied" if raw else "")
        )
        result = yield from report.finish(front_facts(chosen, meta))
        check()
        yield f"Report rendered ({result.pages:,} pages); signing it"
        _sign_pdf(result.path, plan.data / "report.pdf", plan.ident, plan.bundle_id)
    except RenderError as exc:
        raise BundleError(f"the report could not be rendered: {exc}") from exc
    finally:
        payload.close()
        report.discard()
    return result.pages


def _copy_raw_pages(db: Source, page_ids: list[int], raw: Path) -> None:
    """The archived pages the rows came from, each checked against its SHA-256 on the way."""
    for sha, body in reads.raw_pages(db, page_ids):
        if sha256_hex(body) != sha:
            raise BundleError(
                f"archived page {sha} does not match its checksum: run archiver verify-archive"
            )
        (raw / f"{sha}.json").write_bytes(body)


def report_meta(plan: BundlePlan, chosen: Selected) -> ReportMeta:
    """What the report's cover states (bag-info.txt states the same)."""
    return ReportMeta(
        bundle_id=plan.bundle_id,
        tenant=chosen.tenant,
        generated_at=plan.created,
        tool_version=__version__,
        archive_id=chosen.archive_id,
        chain_head=chosen.chain_head,
        audit_head=chosen.audit_head,
        fingerprint=plan.ident.fingerprint,
        signer=plan.ident.subject,
        redaction=plan.scope.redact,
        redacted_fields=[],  # filled in as rows are redacted (see front_facts)
        custody=chosen.custody,
        scope=plan.scope.describe(),
        scope_short=plan.scope.short(),
        versions=plan.scope.versions,
        demo=chosen.demo,
    )


def front_facts(chosen: Selected, meta: ReportMeta) -> Front:
    """What the report's front matter states, once every day has been read."""
    meta.redacted_fields = sorted(chosen.redacted)
    return Front(
        meta=meta,
        interactions=chosen.interactions,
        segments=chosen.segments,
        traces=chosen.traces,
        conflicts=chosen.conflicts,
        gaps=chosen.gaps,
        reading=chosen.extent.reading,
        reading_words=chosen.extent.reading_words,
        unplaced=chosen.extent.unplaced,
        agents=dict(chosen.names.agents),
        queues=dict(chosen.names.queues),
        at_ending=list(chosen.extent.at_ending),
        segments_in_gaps=chosen.extent.segments_in_gaps,
        marked=chosen.marked,
    )


def bag_and_sign(plan: BundlePlan, chosen: Selected, meta: ReportMeta) -> None:
    """Bag and sign: with a timestamp authority, the report's document timestamp first;
    then the tag files, both manifests and the CMS signature of the tag manifest (with its
    timestamp token)."""
    work, ident = plan.work, plan.ident
    stamper = timestamps.http_timestamper(plan.tsa_url) if plan.tsa_url else None
    try:
        if stamper is not None:
            timestamps.timestamp_pdf(plan.data / "report.pdf", stamper)
        (work / "bagit.txt").write_text(bag.BAGIT_TXT, encoding="utf-8", newline="\n")
        (work / bag.SIGNER).write_bytes(ident.cert_pem())
        (work / bag.VERIFY).write_text(
            VERIFY_TEXT.format(
                bundle_id=plan.bundle_id,
                created=plan.created,
                version=__version__,
                fingerprint=ident.fingerprint,
                demo_text=f"\n{DEMO}: {DEMO_WHY}\n" if chosen.demo else "",
                timestamp_text=TIMESTAMP_TEXT.format(tsa=plan.tsa_url) if plan.tsa_url else "",
            ),
            encoding="utf-8",
            newline="\n",
        )
        files = bag.payload_files(work)
        bag.write_bag_info(work, _bag_info(plan, chosen, meta, bag.payload_oxum(files)))
        bag.write_manifest(work, files, bag.MANIFEST)
        bag.write_manifest(work, [work / name for name in bag.TAG_FILES], bag.TAGMANIFEST)
        bag.sign_tagmanifest(work, ident, stamper)
    except timestamps.TimestampError as exc:
        raise BundleError(f"timestamp authority {plan.tsa_url}: {exc}") from None


def _bag_info(
    plan: BundlePlan, chosen: Selected, meta: ReportMeta, oxum: str
) -> list[tuple[str, str]]:
    scope, gaps = plan.scope, chosen.gaps
    redacted = chosen.redacted
    return [
        ("Source-Organization", meta.tenant),
        ("External-Identifier", plan.bundle_id),
        (
            "External-Description",
            (f"{DEMO}: " if chosen.demo else "")
            + "Audit bundle of Avaya Infinity interactionSegments and workflowTrace rows with their raw API responses",
        ),
        *([(bag.DEMO_FIELD, "yes")] if chosen.demo else []),
        ("Bagging-Date", plan.created[:10]),
        ("Bag-Software-Agent", f"archiver {__version__}"),
        ("Archiver-Created", plan.created),
        ("Archiver-Scope", scope.describe()),
        ("Archiver-Tenant", meta.tenant),
        (
            "Archiver-Time-Zone",
            "All timestamps UTC as delivered by the API; STARTTIME is tenant local time",
        ),
        ("Archiver-Archive-Id", chosen.archive_id),
        ("Archiver-Chain-Head", meta.chain_head),
        ("Archiver-Audit-Chain-Head", meta.audit_head),
        (
            "Archiver-Redaction-Profile",
            scope.redact + (f" ({', '.join(sorted(redacted))})" if redacted else ""),
        ),
        ("Archiver-Interactions", str(chosen.interactions)),
        ("Archiver-Segment-Rows", str(chosen.segments)),
        ("Archiver-Trace-Rows", str(chosen.traces)),
        ("Archiver-Coverage-Gaps", str(len(gaps))),
        ("Archiver-Ending-Reading", chosen.extent.reading),
        *[("Archiver-Coverage-Gap", g) for g in gaps[:500]],
        ("Archiver-Interactions-In-Gaps", str(chosen.marked)),
        *[("Archiver-Walked-At-Previous-Ending", g) for g in chosen.extent.at_ending[:500]],
        ("Signer-Subject", plan.ident.subject),
        ("Signer-Fingerprint-SHA256", plan.ident.fingerprint),
        *([(bag.TSA_FIELD, plan.tsa_url)] if plan.tsa_url else []),
        ("Payload-Oxum", oxum),
    ]


def zip_path_for(out: Path) -> Path:
    """The zip of the bundle directory ``out``: its name with ``.zip`` appended
    (``b1.final`` → ``b1.final.zip``: never another file's name)."""
    return out.with_name(out.name + ".zip")


def publish(work: Path, out: Path, make_zip: bool) -> Path | None:
    """Publish: move the finished bag into place in one rename; the zip (if asked for) is
    made from the published directory under a temporary name, then linked into place
    without replacing a file that appeared meanwhile. Returns the zip's path."""
    if out.exists():
        out.rmdir()
    os.replace(work, out)
    if not make_zip:
        return None
    zip_path = zip_path_for(out)
    tmp = out.with_name(f".{zip_path.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(out.rglob("*")):
                if p.is_file():
                    z.write(p, f"{out.name}/{p.relative_to(out).as_posix()}")
        try:
            os.link(tmp, zip_path)  # fails if the name is taken: nothing is overwritten
        except FileExistsError:
            raise BundleError(
                f"{zip_path} appeared while the bundle was written; the bundle is in {out}, "
                "no zip was made"
            ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return zip_path


def record_custody(plan: BundlePlan, chosen: Selected) -> None:
    """Audit: the archive's custody entry for the bundle just published."""
    with Archive(plan.archive_path) as a:
        a.audit(
            "export",
            {
                "bundle_id": plan.bundle_id,
                "out": str(plan.out.resolve()),
                "scope": plan.scope.as_dict(),
                "redaction": plan.scope.redact,
                "redacted_fields": sorted(chosen.redacted),
                "segments": chosen.segments,
                "traces": chosen.traces,
                "tagmanifest_sha256": bag.sha256_file(plan.out / bag.TAGMANIFEST),
                "signer_fingerprint": plan.ident.fingerprint,
            },
        )


def export_bundle(
    archive_path: Path,
    scope: Scope,
    out: Path,
    ident: SigningIdentity,
    *,
    make_zip: bool = False,
    cancel: Cancel | None = None,
    allow_empty: bool = False,
    workers: int | None = None,
    tsa_url: str | None = None,
) -> Generator[str, None, BundleResult]:
    """Write the bundle to ``out`` (a new directory); yields progress lines, returns a
    BundleResult. ``cancel`` stops it with :class:`~archiver.jobs.Cancelled`,
    leaving nothing behind. A scope with nothing archived raises EmptySelection before
    anything is written, unless ``allow_empty``. ``workers``: report render processes
    (None: one per core, see report.default_workers; 0: render here). ``tsa_url``: an
    RFC 3161 timestamp authority for trusted time."""
    check = _cancel_check(cancel)
    plan = BundlePlan.new(
        archive_path,
        scope,
        out,
        ident,
        make_zip,
        allow_empty=allow_empty,
        workers=workers,
        tsa_url=tsa_url,
    )
    db = Reader(archive_path)
    try:
        yield f"Selecting rows in scope: {scope.window()}…"
        chosen = select_rows(db, scope)
        refuse_empty(plan, chosen)
        ext = chosen.extent
        held = LATEST if scope.versions == "latest" else RECORDS
        yield (
            f"{INTERACTIONS.of(ext.interactions)}, {held.of(ext.segments, 'interactionSegments')} "
            f"in scope ({scope.window()})"
        )
        meta = report_meta(plan, chosen)
        pages = yield from write_payload_and_report(db, plan, chosen, meta, check)
        if tsa_url:
            yield f"Timestamping with {tsa_url}"
        bag_and_sign(plan, chosen, meta)
        check()
        zip_path = publish(plan.work, out, make_zip)
        yield "Bundle written and signed"
    except BaseException:
        shutil.rmtree(plan.work, ignore_errors=True)
        raise
    finally:
        db.close()
    record_custody(plan, chosen)
    return BundleResult(
        out,
        plan.bundle_id,
        chosen.interactions,
        chosen.segments,
        chosen.traces,
        pages,
        chosen.gaps,
        zip_path,
        chosen.marked,
        list(chosen.extent.at_ending),
        scope.versions,
        plan.ident.fingerprint,
        chosen.demo,
    )


__all__ = [
    "BundleError",
    "BundleResult",
    "EmptySelection",
    "Scope",
    "export_bundle",
    "preflight",
]
