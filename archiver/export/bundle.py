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
import shutil
import uuid
import zipfile
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

from archiver import __version__, iofailure, outputs
from archiver.archive.auditlog import summarise
from archiver.archive.hashing import sha256_hex
from archiver.archive.queries import audit
from archiver.archive.queries import bundle as reads
from archiver.archive.queries import cases as case_reads
from archiver.archive.queries.reader import Reader, Source
from archiver.archive.store import Archive
from archiver.counts import INTERACTIONS, LATEST, RECORDS
from archiver.export import bag, loadfile, pdf, production, timestamps
from archiver.export.bag import DEMO, DEMO_WHY
from archiver.export.csvsafe import escape_row
from archiver.export.keys import SigningIdentity
from archiver.export.pdf import Front, ReportMeta
from archiver.export.production import CaseExtent, CaseScope
from archiver.export.redact import PROFILES, redact
from archiver.export.report import RenderError, Report
from archiver.export.scope import (
    CASE_DATASETS,
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
#: what a bundle's scope is: a window of intervals (with filters), or a case
AnyScope = Scope | CaseScope
LOAD_FILES = ("concordance",)


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
    #: a case production's rows of its other datasets (transcript, mpccdr), by dataset
    others: dict[str, int] = field(default_factory=dict)
    case: str | None = None
    #: the load file's DAT (a case production made with --load-file), and its documents
    load_file: Path | None = None
    documents: int = 0
    #: interactions under a legal hold (marked on their pages)
    held: int = 0


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
            ds: (data / f"{ds}.csv").open("w", encoding="utf-8-sig", newline="") for ds in columns
        }
        self.csv = {ds: csv.writer(f, lineterminator="\r\n") for ds, f in self.files.items()}
        for ds, w in self.csv.items():
            w.writerow(escape_row(columns[ds] + list(PROVENANCE_COLUMNS)))
        self.jsonl = (data / "records.jsonl").open("w", encoding="utf-8", newline="\n")
        if self.raw:
            self.raw.mkdir()

    def write(self, db: Source, day: Window, redacted: set[str]) -> None:
        every = day.rows()
        for ds, rows in every.items():
            w, columns = self.csv[ds], self.columns[ds]
            for r in rows:
                w.writerow(
                    escape_row(
                        [r.values.get(c, "") for c in columns]
                        + [r.sha256, r.page_sha256, r.received_at]
                    )
                )
        mine = [r for rows in every.values() for r in rows]
        for r in mine:
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
            new = sorted({r.page_id for r in mine} - self.pages_done)
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
    scope: AnyScope
    out: Path
    ident: SigningIdentity
    make_zip: bool
    work: Path
    bundle_id: str
    created: str
    allow_empty: bool = False
    workers: int | None = None  # report render processes (None: report.default_workers())
    tsa_url: str | None = None
    load_file: str | None = None  # "concordance": a case production's eDiscovery load file

    @classmethod
    def new(
        cls,
        archive_path: Path,
        scope: AnyScope,
        out: Path,
        ident: SigningIdentity,
        make_zip: bool,
        *,
        allow_empty: bool = False,
        workers: int | None = None,
        tsa_url: str | None = None,
        load_file: str | None = None,
    ) -> BundlePlan:
        """Refuse what check_request refuses, before any work."""
        check_request(scope, out, make_zip, archive_path, load_file)
        return cls(
            archive_path,
            scope,
            out,
            ident,
            make_zip,
            work=outputs.temp_name(out),
            bundle_id=f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}",
            created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            allow_empty=allow_empty,
            workers=workers,
            tsa_url=tsa_url,
            load_file=load_file,
        )

    @property
    def data(self) -> Path:
        return self.work / "data"


def check_request(
    scope: AnyScope,
    out: Path,
    make_zip: bool,
    archive: Path | None = None,
    load_file: str | None = None,
) -> None:
    """Refuse an unknown redaction profile, a scope off the 15-minute marks or inverted, a
    target that is not a new (or an empty) directory — a file, a link, a FIFO, a device, a
    directory with anything in it, a file of the archive's set — or a zip whose name is
    taken or must not be written, or a load file of an unknown format or not of a case
    (BundleError)."""
    if load_file is not None and load_file not in LOAD_FILES:
        raise BundleError(f"unknown load file format {load_file!r}; choose {', '.join(LOAD_FILES)}")
    if load_file is not None and not isinstance(scope, CaseScope):
        raise BundleError("a load file is made for a case production (--case NAME)")
    if scope.redact not in PROFILES:
        raise BundleError(
            f"unknown redaction profile {scope.redact!r}; choose one of {', '.join(PROFILES)}"
        )
    try:
        scope.check()
    except ScopeError as exc:
        raise BundleError(str(exc)) from None
    protect = [outputs.ArchiveSet.of(archive)] if archive is not None else []
    try:
        if out.is_file() and not out.is_symlink() and not any(s.which(out) for s in protect):
            raise BundleError(f"{out} exists and is not a directory: choose a new directory.")
        if not _empty_directory(out):
            outputs.check_new(out, protect=protect, directory=True)
        if make_zip:
            outputs.check_new(zip_path_for(out), protect=protect, flag="--zip")
    except outputs.Refused as exc:
        raise BundleError(f"{exc} (a bundle is written to a new or empty directory)") from None


def _empty_directory(out: Path) -> bool:
    """``out`` is an existing, empty directory of its own (not a link to one)."""
    if out.is_symlink() or not out.is_dir():
        return False
    if any(out.iterdir()):
        raise BundleError(f"{out} exists and is not empty: choose a new directory.")
    return True


def preflight(
    archive_path: Path,
    scope: AnyScope,
    out: Path,
    *,
    make_zip: bool = False,
    allow_empty: bool = False,
    load_file: str | None = None,
) -> None:
    """What export_bundle would refuse without a signing key (the request, an empty
    selection), checked before the key is loaded: a key that cannot be used then never
    hides that there was nothing to sign. Reads the archive; writes nothing."""
    check_request(scope, out, make_zip, archive_path, load_file)
    if allow_empty:
        return
    with Reader(archive_path) as db:
        _refuse_empty(scope, _measure(db, scope))


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
    #: how many pages and audit entries the chain heads cover (a witness's counts)
    chain_pages: int = 0
    audit_entries: int = 0
    interactions: int = 0
    segments: int = 0
    traces: int = 0
    conflicts: int = 0
    #: interactions with rows in a stated coverage gap (marked on their pages)
    marked: int = 0
    #: interaction id → the legal holds covering it now, in words (the hold badge)
    holds: dict[str, list[str]] = field(default_factory=dict)
    #: interactions of the bundle under a legal hold
    held: int = 0
    #: a case production's rows of its other datasets, by dataset
    others: dict[str, int] = field(default_factory=dict)
    #: documents of the load file (a case production made with one)
    documents: int = 0

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
        for ds, rows in day.others.items():
            self.others[ds] = self.others.get(ds, 0) + len(rows)
        self.conflicts += sum(r.conflict for rows in day.rows().values() for r in rows)
        self.marked += sum(1 for it in day.interactions if it.gaps)
        self.held += sum(1 for it in day.interactions if it.holds)

    def mark_holds(self, day: Window) -> None:
        """The hold badge of each held interaction of the window."""
        for it in day.interactions:
            it.holds = list(self.holds.get(it.id, []))


def _cancel_check(cancel: Cancel | None) -> Callable[[], None]:
    """How the stages ask "cancelled?": :class:`~archiver.jobs.Cancelled` when it was."""
    return cancel.check if cancel is not None else (lambda: None)


def _measure(db: Source, scope: AnyScope) -> Extent:
    return production.measure(db, scope) if isinstance(scope, CaseScope) else measure(db, scope)


def _windows(db: Source, scope: AnyScope, extent: Extent) -> Iterator[Window]:
    if isinstance(scope, CaseScope):
        assert isinstance(extent, CaseExtent)
        return production.iter_windows(db, scope, extent)
    return iter_windows(db, scope, extent)


def select_rows(db: Source, scope: AnyScope) -> Selected:
    """Select: count what the scope holds and gather the archive's facts (no rows loaded)."""
    head = audit.chain_head(db)
    datasets = CASE_DATASETS if isinstance(scope, CaseScope) else (SEGMENTS, TRACE)
    return Selected(
        extent=_measure(db, scope),
        names=Names.load(db, scope),  # type: ignore[arg-type]
        columns={ds: reads.columns(db, ds) for ds in datasets},
        holds={
            iid: [h.describe() for h in hs] for iid, hs in case_reads.held_interactions(db).items()
        },
        custody=_audit_custody(db),
        archive_id=reads.archive_id(db),
        chain_head=head.pages_chain,
        audit_head=head.audit_chain,
        tenants=reads.tenants(db),
        chain_pages=head.pages,
        audit_entries=head.audit_entries,
        demo=reads.simulated_runs(db) > 0,
    )


def refuse_empty(plan: BundlePlan, chosen: Selected) -> None:
    """An empty selection stops here (nothing written) unless the caller allows it."""
    if not plan.allow_empty:
        _refuse_empty(plan.scope, chosen.extent)


def _refuse_empty(scope: AnyScope, extent: Extent) -> None:
    if extent.interactions:
        return
    if isinstance(scope, CaseScope):
        raise EmptySelection(
            f"case {scope.case!r} holds no interaction with archived records: add some with "
            "`archiver case add`. Nothing was written."
        )
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
    natives = _load_file(plan)
    try:
        for day in _windows(db, plan.scope, chosen.extent):
            check()
            every = [r for rows in day.rows().values() for r in rows]
            _redact_in_place(every, plan.scope.redact, chosen.redacted)
            chosen.mark_holds(day)
            payload.write(db, day, chosen.redacted)
            chosen.count(day)
            yield from report.add(db, day)
            if natives is not None:
                yield from _natives(db, natives, day, chosen, check)
        payload.close()
        held = LATEST if plan.scope.versions == "latest" else RECORDS
        yield (
            f"CSV and JSONL written ({held.of(chosen.segments, 'interactionSegments')}, "
            f"{held.of(chosen.traces, 'workflowTrace')}"
            + "".join(f", {held.of(n, ds)}" for ds, n in chosen.others.items())
            + ")"
            + (f", {len(payload.pages_done):,} raw pages copied" if raw else "")
        )
        if natives is not None:
            natives.close()
            chosen.documents = natives.documents
            yield f"Load file written ({natives.documents:,} documents, natives and text)"
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


def _load_file(plan: BundlePlan) -> loadfile.LoadFile | None:
    """The load file being made, when the plan asks for one (a case production's)."""
    if plan.load_file is None or not isinstance(plan.scope, CaseScope):
        return None
    return loadfile.LoadFile(
        plan.data / "loadfile", plan.scope.case, plan.bundle_id, plan.scope.short()
    )


def _natives(
    db: Source, natives: loadfile.LoadFile, day: Window, chosen: Selected, check: Callable[[], None]
) -> Iterator[str]:
    """Each interaction of the window: its native, text and DAT row (in report order)."""
    agents = {s.values.get("USER_ID", "") for it in day.interactions for s in it.segments}
    agents |= {r.values.get("AGENT_ID", "") for it in day.interactions for r in it.cdrs}
    queues = {s.values.get("QUEUE_ID", "") for it in day.interactions for s in it.segments}
    chosen.names.complete(db, agents, queues)
    names = pdf.NameBook(dict(chosen.names.agents), dict(chosen.names.queues))
    for it in day.interactions:
        check()
        natives.add(it, day.day, names)
    yield f"Natives: {natives.documents:,} documents ({day.day:%Y-%m-%d})"


def _copy_raw_pages(db: Source, page_ids: list[int], raw: Path) -> None:
    """The archived pages the rows came from, each checked against its SHA-256 on the way."""
    for sha, body in reads.raw_pages(db, page_ids):
        if sha256_hex(body) != sha:
            raise BundleError(
                f"archived page {sha} does not match its checksum: run archiver verify-archive"
            )
        (raw / f"{sha}.json").write_bytes(body)


def case_facts(scope: AnyScope) -> list[tuple[str, str]]:
    """A case production's facts, as the cover and bag-info state them ([]: not a case)."""
    if not isinstance(scope, CaseScope):
        return []
    searches = "; ".join(s.describe() for s in scope.searches) or "none"
    if scope.added_by_hand:
        searches += f"; {plural(scope.added_by_hand, 'interaction')} added by hand"
    hold = scope.hold_text()
    if scope.holds_before:
        hold += "; released before: " + "; ".join(scope.holds_before)
    return [
        ("Case", f"{scope.case} ({scope.state})"),
        ("Case reason", scope.reason),
        ("Case reference", scope.reference or "none"),
        ("Case searches", searches),
        ("Legal hold", hold),
    ]


def report_meta(plan: BundlePlan, chosen: Selected) -> ReportMeta:
    """What the report's cover states (bag-info.txt states the same)."""
    case = case_facts(plan.scope)
    extra = (
        {"case": case, "title": f"Case production: {plan.scope.case}"}
        if isinstance(plan.scope, CaseScope)
        else {}
    )
    return ReportMeta(
        bundle_id=plan.bundle_id,
        tenant=chosen.tenant,
        generated_at=plan.created,
        tool_version=__version__,
        archive_id=chosen.archive_id,
        chain_head=chosen.chain_head,
        audit_head=chosen.audit_head,
        chain_pages=chosen.chain_pages,
        audit_entries=chosen.audit_entries,
        fingerprint=plan.ident.fingerprint,
        signer=plan.ident.subject,
        redaction=plan.scope.redact,
        redacted_fields=[],  # filled in as rows are redacted (see front_facts)
        custody=chosen.custody,
        scope=plan.scope.describe(),
        scope_short=plan.scope.short(),
        versions=plan.scope.versions,
        demo=chosen.demo,
        **extra,  # type: ignore[arg-type]
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
        others=dict(chosen.others),
        held=chosen.held,
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
    case = isinstance(scope, CaseScope)
    return [
        ("Source-Organization", meta.tenant),
        ("External-Identifier", plan.bundle_id),
        (
            "External-Description",
            (f"{DEMO}: " if chosen.demo else "")
            + (
                f"Case production of Avaya Infinity {', '.join(CASE_DATASETS)} rows with their raw API responses"
                if case
                else "Audit bundle of Avaya Infinity interactionSegments and workflowTrace rows with their raw API responses"
            ),
        ),
        *([(bag.DEMO_FIELD, "yes")] if chosen.demo else []),
        ("Bagging-Date", plan.created[:10]),
        ("Bag-Software-Agent", f"archiver {__version__}"),
        ("Archiver-Created", plan.created),
        ("Archiver-Scope", scope.describe()),
        *[
            (f"Archiver-{k.replace(' ', '-').title()}", v)
            for k, v in case_facts(scope)
            if k != "Case searches"  # one line per search below
        ],
        *[
            ("Archiver-Case-Search", s.describe())
            for s in (scope.searches if isinstance(scope, CaseScope) else ())
        ],
        ("Archiver-Tenant", meta.tenant),
        (
            "Archiver-Time-Zone",
            "All timestamps UTC as delivered by the API; STARTTIME is tenant local time",
        ),
        ("Archiver-Archive-Id", chosen.archive_id),
        ("Archiver-Chain-Head", meta.chain_head),
        ("Archiver-Chain-Length", str(meta.chain_pages)),
        ("Archiver-Audit-Chain-Head", meta.audit_head),
        ("Archiver-Audit-Chain-Length", str(meta.audit_entries)),
        (
            "Archiver-Redaction-Profile",
            scope.redact + (f" ({', '.join(sorted(redacted))})" if redacted else ""),
        ),
        ("Archiver-Interactions", str(chosen.interactions)),
        ("Archiver-Segment-Rows", str(chosen.segments)),
        ("Archiver-Trace-Rows", str(chosen.traces)),
        *[(f"Archiver-{ds.title()}-Rows", str(n)) for ds, n in chosen.others.items()],
        ("Archiver-Held-Interactions", str(chosen.held)),
        *(
            [
                (
                    "Archiver-Load-File",
                    f"Concordance DAT {loadfile.FOLDER}/{loadfile.DAT} ({chosen.documents} documents)",
                )
            ]
            if plan.load_file
            else []
        ),
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


def publish(work: Path, out: Path, make_zip: bool, archive: Path | None = None) -> Path | None:
    """Publish: move the finished bag into place in one rename that never replaces anything
    (outputs.publish_directory; an empty directory named as ``out`` is removed first, and
    only while it is empty); the zip (if asked for) is made from the published directory
    under a temporary name, then linked into place only where no file is. Returns the zip's
    path."""
    protect = [outputs.ArchiveSet.of(archive)] if archive is not None else []
    try:
        if _empty_directory(out):
            out.rmdir()  # fails if anything was put in it meanwhile
        outputs.publish_directory(work, out)
    except (outputs.Refused, OSError) as exc:
        raise BundleError(f"{out}: {exc}; nothing was replaced, no bundle was written") from None
    if not make_zip:
        return None
    zip_path = zip_path_for(out)
    try:
        with (
            outputs.new_file(zip_path, protect=protect, flag="--zip") as f,
            zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z,
        ):
            for p in sorted(out.rglob("*")):
                if p.is_file():
                    z.write(p, f"{out.name}/{p.relative_to(out).as_posix()}")
    except outputs.Refused as exc:
        raise BundleError(
            f"{exc}: the bundle is in {out}, no zip was made (the zip's name was taken "
            "while the bundle was written)"
        ) from None
    return zip_path


def record_custody(plan: BundlePlan, chosen: Selected) -> None:
    """Audit: the archive's custody entry for the bundle just published (a case production's
    names the case and every interaction it holds: the access log)."""
    case: dict[str, object] = {}
    if isinstance(plan.scope, CaseScope):
        case = {
            "case": plan.scope.case,
            "interactions": list(plan.scope.interactions),
            "others": dict(chosen.others),
            "load_file": plan.load_file,
            "documents": chosen.documents,
        }
    with Archive(plan.archive_path, create=False) as a:
        a.audit(
            "export",
            {
                **case,
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


#: a bundle written but not recorded by the archive is removed: what the failure says
_NOT_RECORDED = (
    "nothing archived was lost; the bundle was removed, as the archive could not record it"
)


def export_bundle(
    archive_path: Path,
    scope: AnyScope,
    out: Path,
    ident: SigningIdentity,
    *,
    make_zip: bool = False,
    cancel: Cancel | None = None,
    allow_empty: bool = False,
    workers: int | None = None,
    tsa_url: str | None = None,
    load_file: str | None = None,
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
        load_file=load_file,
    )
    db = Reader(archive_path)
    published, zip_path = False, None
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
        zip_path = publish(plan.work, out, make_zip, archive_path)
        published = True
        yield "Bundle written and signed"
        with iofailure.naming(plan.archive_path, done=_NOT_RECORDED):
            record_custody(plan, chosen)
    except BaseException:
        shutil.rmtree(plan.work, ignore_errors=True)
        if published:  # a bundle the archive does not record is not handed out
            shutil.rmtree(out, ignore_errors=True)
            if zip_path is not None:
                zip_path.unlink(missing_ok=True)
        raise
    finally:
        db.close()
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
        dict(chosen.others),
        scope.case if isinstance(scope, CaseScope) else None,
        out / loadfile.FOLDER / loadfile.DAT if plan.load_file else None,
        chosen.documents,
        chosen.held,
    )


__all__ = [
    "BundleError",
    "BundleResult",
    "EmptySelection",
    "Scope",
    "export_bundle",
    "preflight",
]
