"""Signed audit bundles: export one from the archive (custody entry ``export``), verify one
received from anywhere (bundles live outside the archive: verifying writes nothing)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path

from archiver import iofailure
from archiver.archive.queries import browse
from archiver.archive.queries.reader import Reader
from archiver.counts import INTERACTIONS, LATEST, RECORDS
from archiver.export import keys
from archiver.export.bag import DEMO
from archiver.export.bundle import (
    BundleError,
    BundleResult,
    EmptySelection,
    export_bundle,
    preflight,
)
from archiver.export.production import CaseScope, CaseSearch, span_of
from archiver.export.redact import PROFILES
from archiver.export.scope import SEGMENTS, Scope, ScopeError
from archiver.export.timestamps import ENV_TSA_URL, TimestampError, tsa_url
from archiver.export.trust import TrustPolicy, revocations
from archiver.export.verify import (
    EXIT_CODES,
    FAILED,
    REVOKED,
    UNTRUSTED,
    VERIFIED,
    BundleReport,
    printable,
    verify_bundle,
)
from archiver.jobs import Cancel
from archiver.plural import plural
from archiver.services import cases, checkpoints
from archiver.services.archive import NOTHING_WRITTEN, check_custody
from archiver.timerange import parse_api_bound

__all__ = [
    "DEMO",
    "ENV_TSA_URL",
    "EXIT_CODES",
    "FAILED",
    "PROFILES",
    "REVOKED",
    "UNTRUSTED",
    "VERIFIED",
    "BundleError",
    "BundleReport",
    "BundleResult",
    "CaseScope",
    "EmptySelection",
    "Scope",
    "ScopeError",
    "archived_range",
    "case_scope",
    "contents_line",
    "coverage_lines",
    "export",
    "printable",
    "verify",
]


def export(
    archive: Path,
    scope: Scope | CaseScope,
    out: Path,
    *,
    identity: keys.SigningIdentity | None = None,
    key_dir: Path | None = None,
    make_zip: bool = False,
    cancel: Cancel | None = None,
    allow_empty: bool = False,
    workers: int | None = None,
    tsa: str | None = None,
    load_file: str | None = None,
) -> Generator[str, None, BundleResult]:
    """Write a bundle (yields progress lines, returns the result). The signing key is the
    one given, or the local one (created on first use). ``cancel`` stops it with
    :class:`~archiver.jobs.Cancelled`, leaving nothing behind. A scope with nothing archived
    raises EmptySelection (nothing written) unless ``allow_empty``; with no ``identity``
    given, it is raised (like a refused request, BundleError) before the local key is
    loaded, so that a key that cannot be used never hides an empty scope. ``tsa``: an RFC 3161
    timestamp authority's URL (default: ARCHIVER_TSA_URL, else no trusted time). The
    archive then records a checkpoint signed with the same key (services/checkpoints.py).
    A :class:`CaseScope` (:func:`case_scope`) makes a case production; ``load_file``
    ("concordance") adds its eDiscovery load file and natives."""
    try:
        url = tsa_url(tsa)
    except TimestampError as exc:
        raise BundleError(str(exc)) from None
    if identity is None:
        with iofailure.naming(archive, done=NOTHING_WRITTEN):  # (it reads the archive)
            preflight(
                archive, scope, out, make_zip=make_zip, allow_empty=allow_empty, load_file=load_file
            )
    check_custody(archive)
    ident = identity or keys.load_or_create(key_dir)
    refuse_revoked(ident)
    # a full disk, a read-only place or a refused permission at --out: named, nothing left
    with iofailure.naming(out, output=True, done=NOTHING_WRITTEN):
        result = yield from export_bundle(
            archive,
            scope,
            out,
            ident,
            make_zip=make_zip,
            cancel=cancel,
            allow_empty=allow_empty,
            workers=workers,
            tsa_url=url,
            load_file=load_file,
        )
    rec, why = checkpoints.try_record(archive, "export", identity=ident)
    yield from checkpoints.describe(rec) if rec else [f"No checkpoint recorded: {why}"]
    return result


def refuse_revoked(ident: keys.SigningIdentity) -> None:
    """A signing key whose certificate was revoked (``archiver trust revoke``) signs nothing
    more: SigningKeyError saying so."""
    rev = revocations(ident.key_path.parent).get(ident.fingerprint)
    if rev is not None:
        raise keys.SigningKeyError(
            f"The signing key ({ident.fingerprint}) was revoked on {rev.when()} ({rev.reason}): "
            "it signs nothing more. Make a new one with `archiver keys create --force`."
        )


def case_scope(
    archive: Path, name: str, *, versions: str = "latest", redact: str = "none"
) -> CaseScope:
    """The scope of a production of case ``name``: its interactions, whatever their dates,
    with the case's facts the cover states (reason, reference, searches, hold).
    services.cases.NoSuchCase when there is no such case."""
    detail = cases.detail(archive, name)
    ids = tuple(detail.ids)
    with Reader(archive) as r:
        span = span_of(r, ids, versions)
    c = detail.summary
    first, last = span or (datetime(1970, 1, 1, tzinfo=UTC),) * 2
    released = tuple(
        f"placed {h.placed_at[:16].replace('T', ' ')} UTC by {h.placed_by} ({h.reason}), released "
        f"{(h.released_at or '')[:16].replace('T', ' ')} UTC by {h.released_by} ({h.released_reason})"
        for h in detail.holds
        if not h.in_place
    )
    return CaseScope(
        c.name,
        c.reason,
        c.reference,
        ids,
        first,
        last,
        tuple(
            CaseSearch(s.query, s.range, s.searched_at, s.searched_by, s.hits, s.added)
            for s in detail.searches
        ),
        (
            f"UNDER LEGAL HOLD since {c.hold.placed_at[:16].replace('T', ' ')} UTC, placed by "
            f"{c.hold.placed_by}: {c.hold.reason}"
            if c.hold
            else ""
        ),
        released,
        sum(1 for m in detail.members if m.search is None),
        c.state,
        versions,
        redact,
    )


def archived_range(archive: Path) -> tuple[datetime, datetime] | None:
    """The first and the last 15-minute interval of the archive's interactionSegments
    records (what a bundle can hold): the Export dialog's default range. None when the
    archive holds none."""
    if not archive.exists():
        return None
    with Reader(archive) as r:
        span = browse.archived_span(r, SEGMENTS)
    if span is None:
        return None
    return parse_api_bound(span[0]), parse_api_bound(span[1])


def contents_line(result: BundleResult) -> str:
    """What a bundle holds, in the counts' words (the CLI and the Export dialog)."""
    held = LATEST if result.versions == "latest" else RECORDS
    others = "".join(f", {held.of(n, ds)}" for ds, n in result.others.items())
    text = (
        f"{INTERACTIONS.of(result.interactions)}, "
        f"{held.of(result.segments, 'interactionSegments')}, "
        f"{held.of(result.traces, 'workflowTrace')}{others}; report {result.pages:,} pages"
    )
    if result.load_file is not None:
        text += f"; load file {result.load_file.name} with {result.documents:,} documents"
    if result.held:
        text += f"; {INTERACTIONS.of(result.held)} under legal hold"
    return text


def coverage_lines(result: BundleResult, limit: int = 20) -> list[str]:
    """The coverage a bundle states: its gaps, the interactions marked for lying in one,
    and the intervals walked as the previous chunk's `ending`."""
    out = []
    if result.gaps:
        out.append(
            f"Coverage: {plural(len(result.gaps), 'gap')} stated in the report and bag-info.txt:"
        )
        out += [f"  {g}" for g in result.gaps[:limit]]
        if len(result.gaps) > limit:
            out.append(f"  … and {len(result.gaps) - limit} more")
    if result.marked:
        out.append(
            f"{INTERACTIONS.of(result.marked)} with rows in a gap: kept in the bundle, marked "
            "on their pages."
        )
    if result.at_ending:
        out.append(
            "Walked, received at the previous chunk's ending (the archive shows the server's "
            "answers include the interval a request ends at):"
        )
        out += [f"  {g}" for g in result.at_ending[:limit]]
    return out


def verify(
    bundle: Path, *, expect_fingerprint: str | None = None, key_dir: Path | None = None
) -> BundleReport:
    """Check a bundle and whether its signer is trusted: the local signing key (current or
    retired), the trust store next to it, or — only it — ``expect_fingerprint`` (any
    spelling; ValueError when it is not a SHA-256 fingerprint)."""
    return verify_bundle(bundle, TrustPolicy.local(key_dir, expect_fingerprint))
