"""The self-test (``archiver self-test``, Help → Self-test… in the app): the whole evidence
path, offline, in a temporary directory.

It starts the embedded simulator on 127.0.0.1 (a free port), pulls one day of two datasets
into an archive of its own, compares every archived row with the simulator's ground truth,
verifies the archive, exports a bundle signed with a throwaway key and verifies it. Each
step's check can fail; nothing of the user's is touched (no archive, settings, key or
keyring entry: the throwaway key's passphrase lives in memory only), and the directory is
removed at the end.

:func:`run` is a job generator: it yields one :class:`Step` as each step ends and returns
the :class:`SelfTestResult`.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from archiver import outputs
from archiver.api import Credentials, NotReadyPolicy, Tenant
from archiver.api.retry import RetryPolicy
from archiver.api.tenant import Secret
from archiver.archive.queries import browse
from archiver.archive.queries import bundle as bundle_reads
from archiver.archive.queries.reader import Reader, Source
from archiver.counts import INTERACTIONS, LATEST, RECORDS, ROWS_RECEIVED
from archiver.datasets import DATASETS
from archiver.export.keys import SigningIdentity
from archiver.export.keys import create as create_key
from archiver.export.scope import SEGMENTS, TRACE, Scope
from archiver.jobs import Cancel, drive
from archiver.pull.outcome import EXIT_OK
from archiver.services import archive as archives
from archiver.services import bundles
from archiver.services import pull as pulls
from archiver.simulator import SimConfig, Simulator

#: the day pulled and exported (the simulator's data begin on 2025-01-01)
DAY = date(2025, 2, 1)
DATASETS_PULLED = (SEGMENTS, TRACE)
ROWS_PER_INTERVAL = 2

STEPS = (
    "start the embedded simulator",
    "pull two datasets",
    "archived records equal the source's rows",
    "verify the archive",
    "export a signed bundle",
    "verify the bundle",
)


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail} ({self.seconds:.1f} s)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class SelfTestResult:
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    workdir: Path | None = None  # kept only when asked to

    @property
    def ok(self) -> bool:
        return len(self.steps) == len(STEPS) and all(s.ok for s in self.steps)

    def verdict(self) -> str:
        if self.ok:
            return f"PASS: all {len(STEPS)} steps passed in {self.seconds:.1f} s"
        failed = [s for s in self.steps if not s.ok]
        first = failed[0].name if failed else "unknown"
        return (
            f"FAIL: {len(failed)} of {len(STEPS)} steps failed in {self.seconds:.1f} s "
            f"(first: {first})"
        )


#: ``keep`` names a path the self-test will not make its folder at (the message says why)
Refused = outputs.Refused


def check_keep(keep: Path) -> None:
    """Refuse a ``--keep`` folder that exists, or is a link, a FIFO, a device (Refused);
    makes nothing."""
    outputs.check_new(keep, directory=True, flag="--keep")


class _Failed(Exception):
    """A step's check did not hold: the message says what was found."""


@dataclass
class _State:
    work: Path
    cancel: Cancel
    sim: Simulator | None = None
    archive: Path | None = None
    identity: SigningIdentity | None = None
    bundle: Path | None = None
    bundle_rows: int = 0


def run(
    cancel: Cancel | None = None, *, keep: Path | None = None
) -> Generator[Step, None, SelfTestResult]:
    """Run every step (yielding each as it ends); a step after a failed one is reported
    failed as not run. ``keep``: work in this (new, empty) directory and leave it."""
    token = cancel or Cancel()
    started = time.monotonic()
    result = SelfTestResult(workdir=keep)
    with _workdir(keep) as work:
        state = _State(work, token)
        try:
            for name, check in zip(STEPS, _CHECKS, strict=True):
                step = _run_step(name, check, state, result)
                result.steps.append(step)
                yield step
        finally:
            if state.sim is not None:
                state.sim.stop()
    result.seconds = time.monotonic() - started
    return result


def _run_step(
    name: str, check: Callable[[_State], str], state: _State, result: SelfTestResult
) -> Step:
    if result.steps and not all(s.ok for s in result.steps):
        return Step(name, False, "not run: an earlier step failed")
    state.cancel.check()
    t0 = time.monotonic()
    try:
        detail = check(state)
        ok = True
    except _Failed as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # the self-test reports, it never crashes
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Step(name, ok, detail, time.monotonic() - t0)


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        yield outputs.new_directory(keep, flag="--keep")
        return
    with tempfile.TemporaryDirectory(prefix="archiver-self-test-") as tmp:
        yield Path(tmp)


# -- the steps ------------------------------------------------------------------------------
def _start_simulator(state: _State) -> str:
    sim = Simulator(SimConfig(host="127.0.0.1", port=0, rows_per_interval=ROWS_PER_INTERVAL))
    url = sim.start()
    state.sim = sim
    said = pulls.check_connection(_tenant(sim), _credentials(sim))
    return said.rstrip(".") if url in said else f"{url}: {said}"


def _pull(state: _State) -> str:
    sim = _sim(state)
    state.archive = state.work / "self-test.sqlite3"
    options = pulls.PullOptions(
        workers=4,
        retry=RetryPolicy(attempts=4, initial=0.05, max_delay=0.5, jitter=0.05),
        not_ready=NotReadyPolicy(initial=0.05, max_delay=0.5, max_attempts=3),
    )
    params = pulls.range_params(list(DATASETS_PULLED), _day(DAY), _last_interval(DAY))
    planned: list[pulls.Planned] = []
    job = pulls.pull(
        state.archive,
        _tenant(sim),
        _credentials(sim),
        pulls.Range(params),
        options,
        state.cancel,
        command="self-test",
    )
    result = drive(job, lambda p: planned.append(p) if isinstance(p, pulls.Planned) else None)
    if result is None or not planned:
        raise _Failed("the pull planned nothing")
    if result.exit_code != EXIT_OK:
        raise _Failed(
            f"the pull ended {result.status} (exit code {result.exit_code}): {result.error}"
        )
    rows = sum(d.rows for d in result.progress.datasets.values())
    return (
        f"{len(planned[0].plan.items)} chunks, {ROWS_RECEIVED.of(rows)} of "
        f"{' and '.join(DATASETS_PULLED)} for {DAY}"
    )


def _rows_match(state: _State) -> str:
    sim, archive = _sim(state), _archive(state)
    total = 0
    with Reader(archive) as db:
        for name in DATASETS_PULLED:
            got = _archived(db, name)
            want = _truth(sim, name)
            if got != want:
                missing, extra = len(want - got), len(got - want)
                raise _Failed(
                    f"{name}: {RECORDS.of(len(got))} archived, the source has {len(want):,} rows "
                    f"({missing:,} missing, {extra:,} not in the source)"
                )
            total += len(got)
    if not total:
        raise _Failed("no records archived and no rows in the source: nothing was compared")
    return (
        f"{RECORDS.of(total)} whose own interval lies on {DAY}, each identical to a row of "
        "the simulator's ground truth"
    )


def _verify_archive(state: _State) -> str:
    report = archives.verify(_archive(state), via="self-test")
    if not report.ok:
        raise _Failed(report.summary().splitlines()[0])
    return (
        f"both hash chains intact; {report.pages:,} pages replayed into "
        f"{RECORDS.of(report.records)} (the whole archive), everything it states re-derived"
    )


def _export(state: _State) -> str:
    archive = _archive(state)
    keys = state.work / "throwaway-key"
    state.identity = create_key(
        keys,
        common_name="archiver self-test (throwaway key)",
        passphrase=secrets.token_urlsafe(24).encode(),
    )
    out = state.work / "bundle"
    job = bundles.export(
        archive, Scope(DAY, DAY), out, identity=state.identity, cancel=state.cancel
    )
    result = drive(job)
    state.bundle = out
    in_archive = _archive_bundle_rows(archive)
    written = _count_lines(out / "data" / "records.jsonl")
    if not written or written != in_archive or written != result.segments + result.traces:
        raise _Failed(
            f"the bundle holds {LATEST.of(written)}; the archive has {in_archive:,} in scope, "
            f"the export reported {result.segments + result.traces:,}"
        )
    state.bundle_rows = written
    return (
        f"{LATEST.of(result.segments, 'interactionSegments')} and "
        f"{LATEST.of(result.traces, 'workflowTrace')} (as in the archive), "
        f"{INTERACTIONS.of(result.interactions)}, {result.pages} report pages"
    )


def _verify_bundle(state: _State) -> str:
    if state.bundle is None or state.identity is None:
        raise _Failed("no bundle was written")
    # trusted explicitly: pinned to the throwaway key's own certificate, so a bundle signed
    # by anything else fails (and the user's keys and trust store play no part)
    report = bundles.verify(state.bundle, expect_fingerprint=state.identity.fingerprint)
    if not report.ok:
        raise _Failed(report.summary().splitlines()[0])
    if report.fingerprint != state.identity.fingerprint:
        raise _Failed(
            f"signed by {report.fingerprint or 'an unknown certificate'}, not by the "
            f"self-test's throwaway key {state.identity.fingerprint}"
        )
    return (
        f"intact and signed by the throwaway key (SHA-256 {state.identity.fingerprint[:23]}…), "
        f"{LATEST.of(state.bundle_rows)}"
    )


_CHECKS: tuple[Callable[[_State], str], ...] = (
    _start_simulator,
    _pull,
    _rows_match,
    _verify_archive,
    _export,
    _verify_bundle,
)


# -- helpers --------------------------------------------------------------------------------
def _sim(state: _State) -> Simulator:
    if state.sim is None:
        raise _Failed("the simulator is not running")
    return state.sim


def _archive(state: _State) -> Path:
    if state.archive is None or not state.archive.exists():
        raise _Failed("no archive was written")
    return state.archive


def _tenant(sim: Simulator) -> Tenant:
    """The simulator, marked as such: the run is recorded simulated, its bundle says DEMO."""
    return replace(Tenant.from_base_url(sim.base_url), simulated=True)


def _credentials(sim: Simulator) -> Credentials:
    return Credentials(sim.config.client_id, Secret(sim.config.client_secret))


def _day(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _last_interval(d: date) -> datetime:
    return _day(d) + timedelta(days=1) - timedelta(minutes=15)


def _canonical(values: dict[str, str]) -> str:
    return json.dumps(values, sort_keys=True, ensure_ascii=False)


def _archived(db: Source, dataset: str) -> set[str]:
    """Every archived row version of the dataset whose own interval lies in the day."""
    first, last = f"{_day(DAY):%Y%m%d%H%M}", f"{_last_interval(DAY):%Y%m%d%H%M}"
    return {_canonical(v) for v in browse.interval_values(db, dataset, first, last)}


def _truth(sim: Simulator, dataset: str) -> set[str]:
    names = [n for n, _ in sim.columns(DATASETS[dataset])]
    rows = sim.truth(dataset, _day(DAY), _last_interval(DAY))
    return {_canonical(dict(zip(names, r, strict=True))) for r in rows}


def _archive_bundle_rows(archive: Path) -> int:
    """The rows a latest-versions bundle of DAY holds, counted in the archive by the scope's
    rule (docs/audit-bundle.md): the day's segments, and the trace steps of their
    interactions, which carry the day their session started (one day around)."""
    with Reader(archive) as db:
        return bundle_reads.day_rows_by_rule(db, DAY)


def _count_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())
