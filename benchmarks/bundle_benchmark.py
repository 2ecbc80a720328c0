"""Bundle benchmark, two comparisons, each run side by side in one invocation (each export in
its own process; peak RSS is the whole process tree's, sampled from /proc every 50 ms, so
render workers count):

1. **days**: a signed bundle of 1 day and of N days (default 7) of a realistic archive
   (the simulator's default 75 rows per interval, about 3,700 interactions a day, with the
   agent and queue datasets archived too): seconds, pages, peak RSS and the N-day / 1-day
   RSS ratio (target ≤ 1.2: memory independent of the range).
2. **bare**: a bundle of ~10k interactions against the bare single-process reportlab render
   of the same report (same story, one ``doc.build``, no payload, no signing): seconds and
   the ratio bundle / bare (target ≤ 1.0).

    python benchmarks/bundle_benchmark.py [--only days|bare] [--days 7] [--interactions 10000]
        [--baseline DIR]   # also export with another checkout's code (e.g. the commit before)

The archives are built directly (simulator data model → Archive.store_page), not via HTTP.
The machine is shared: compare figures of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Builder:
    """Stores simulator rows as real pages, one done chunk per dataset and day."""

    def __init__(self, archive) -> None:  # archive: archiver.archive.store.Archive
        self.a = archive
        self.chunks: dict = {}

    def store(self, name: str, day: date, rows: list[dict]) -> None:
        from archiver.api.pages import Page
        from archiver.api.query import Query
        from archiver.datasets import DATASETS
        from archiver.simulator.data import INTERVAL
        from archiver.timerange import DAY, Chunk

        ds = DATASETS[name]
        key = (name, day)
        if key not in self.chunks:
            start = datetime.combine(day, datetime.min.time(), UTC)
            self.chunks[key] = Chunk(name, "interval", "", start, start + DAY - INTERVAL)
        cols = [{"name": n, "type": ty} for n, ty in ds.columns]
        for s in range(0, len(rows), 200):
            recs = [[r[c] for c in ds.column_names] for r in rows[s : s + 200]]
            raw = json.dumps(
                {
                    "columnHeaders": cols,
                    "records": recs,
                    "pagination": {"pageSize": 200, "prevPageToken": "", "nextPageToken": ""},
                },
                ensure_ascii=False,
            ).encode()
            page = Page(
                raw, 200, "https://example.invalid", datetime.now(UTC), cols, None, recs, "", 1
            )
            chunk = self.chunks[key]
            query = Query(name, chunk.start, chunk.request_end, "interval", None, 200)
            self.a.store_page("bench", chunk, page, query.params())

    def finish(self) -> None:
        """Each page was a whole walk (no next token): every chunk is done already."""


def build(
    path: Path, *, interactions: int = 0, days: int = 0, rows_per_interval: int = 300
) -> tuple[date, date]:
    """An archive of ``interactions`` interactions, or of ``days`` whole days (then with the
    agent and queue datasets too). Returns the first and last day."""
    from archiver.archive.store import Archive
    from archiver.datasets import DATASETS
    from archiver.simulator.data import INTERVAL, DataModel

    model = DataModel(seed=3, rows_per_interval=rows_per_interval)
    t = datetime(2025, 3, 1, tzinfo=UTC)
    first = t.date()
    stop = t + timedelta(days=days)
    seen = 0
    with Archive(path) as a:
        a.start_run("bench", "benchmark", {}, "bench")
        b = _Builder(a)
        while (seen < interactions) if interactions else (t < stop):
            its = model.interactions(t)
            if interactions:
                its = its[: interactions - seen]
            seen += len(its)
            b.store("interactionSegments", t.date(), [s for i in its for s in i.segments])
            b.store("workflowTrace", t.date(), [s for i in its for s in i.trace])
            if days:
                for name in ("agent", "queue"):
                    b.store(name, t.date(), model.bucket_rows(DATASETS[name], t, 15))
            t += INTERVAL
        b.finish()
        a.finish_run("bench", "finished", {})
    return first, (t - INTERVAL).date()


def child(
    kind: str, archive: Path, start: date, end: date, out: Path, workers: int | None = None
) -> dict:
    os.environ.setdefault("ARCHIVER_KEY_PASSPHRASE", "benchmark")
    from archiver.export import keys
    from archiver.export.bundle import export_bundle
    from archiver.export.scope import Scope
    from archiver.jobs import drive

    scope = Scope(start, end)
    ident = keys.load_or_create(out.parent / "keys")
    t0 = time.perf_counter()
    if kind == "bare":
        from archiver.export import pdf

        if hasattr(pdf, "front_story"):  # sections: the same report as one doc.build
            pages, n, seconds = bare_render(archive, scope, out, ident)
        else:  # the code before sections: build_report over a selection in memory
            from archiver.archive.store import open_reader
            from archiver.export.scope import select

            conn = open_reader(archive)
            sel = select(conn, scope)
            conn.close()
            meta = pdf.ReportMeta(
                "bench",
                "benchmark",
                "now",
                "x",
                "x",
                "x",
                "x",
                ident.fingerprint,
                ident.subject,
                "none",
                [],
                [],
            )
            t0 = time.perf_counter()
            pages, n = pdf.build_report(out, sel, meta), len(sel.interactions())
            seconds = time.perf_counter() - t0
    else:
        kw = {} if workers is None else {"workers": workers}
        res = drive(export_bundle(archive, scope, out, ident, **kw))
        seconds = time.perf_counter() - t0
        pages, n = res.pages, res.interactions
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return {
        "seconds": seconds,
        "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "pages": pages,
        "interactions": n,
        "rss_mb": me.ru_maxrss / 1024,
    }


def bare_render(archive: Path, scope, out: Path, ident) -> tuple[int, int, float]:
    """The report's tables (front matter, every interaction, the index) rendered by one
    reportlab ``doc.build`` in this process: no payload, no sections, no joining, no
    signature. The rows are read before the clock starts. Returns (pages, interactions,
    seconds)."""
    from reportlab.platypus import PageBreak

    from archiver.archive.queries.reader import Reader
    from archiver.export import derive, pdf
    from archiver.export.scope import Names, iter_windows, measure

    with Reader(archive) as db:
        names = Names.load(db, scope)
        days = list(iter_windows(db, scope, measure(db, scope)))
        for d in days:
            users = {s.values.get("USER_ID", "") for it in d.interactions for s in it.segments}
            queues = {s.values.get("QUEUE_ID", "") for it in d.interactions for s in it.segments}
            names.complete(db, users, queues)
    t0 = time.perf_counter()
    summary = derive.Summary()
    n = 0
    for d in days:
        for it in d.interactions:
            summary.add(d.day.isoformat(), it)
            n += 1
    meta = pdf.ReportMeta(
        "bench", "benchmark", "now", "x", "x", "x", "x", ident.fingerprint, ident.subject,
        "none", [], [], scope.describe(), scope.short(),
    )  # fmt: skip
    front = pdf.Front(
        meta,
        n,
        sum(len(d.segments) for d in days),
        sum(len(d.traces) for d in days),
        0,
        [],
        "",
        0,
        names.agents,
        names.queues,
        summary,
        [("Summary", "3", 0), ("Interactions", "9", 0)] + [(f"{d.day}", "9", 1) for d in days],
    )
    linked = hasattr(
        pdf, "IndexEntry"
    )  # contents and index entries carry a link (a baseline may not)
    if linked:
        front.contents = [(*c, f"d{i}") for i, c in enumerate(front.contents)]
    sink: list = []
    book = pdf.NameBook(names.agents, names.queues)
    story = [*pdf.front_story(front, sink), PageBreak()]
    entries = []
    for d in days:
        for it in d.interactions:
            story += pdf.interaction_story(it, d.day, book, sink)
            start = derive.clock(derive.span(it).start)
            entries.append(
                (it.id, start, "1", f"i-{len(entries)}") if linked else (it.id, start, "1")
            )
    entries.sort()
    story += [PageBreak(), *pdf.index_story(entries, True, False)]
    pages = pdf.render_story(out, story, pdf.Decor("bench", scope.short(), "Report", cover=True))
    return pages, n, time.perf_counter() - t0


# -- the process tree's peak RSS -------------------------------------------------------------
def _tree_rss_kb(root: int) -> int:
    """Sum of VmRSS of ``root`` and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        parents[int(d)] = int(fields.get("PPid", "0").strip() or 0)
        rss[int(d)] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(rss.get(p, 0) for p in tree)


def run_child(
    kind: str, arc: Path, start: date, end: date, out: Path, code: Path, workers: int | None = None
) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code))
    more = [] if workers is None else ["--workers", str(workers)]
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--archive",
            str(arc),
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
            "--out",
            str(out),
            *more,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=code,
        env=env,
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.05):
            peak = max(peak, _tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(stderr)
    result = json.loads(stdout.strip().splitlines()[-1])
    result["tree_mb"] = max(peak / 1024, result["rss_mb"])
    return result


def _row(label: str, r: dict) -> str:
    return f"{label:<36}{r['interactions']:>8,}{r['seconds']:>9.1f}{r['cpu']:>9.1f}{r['pages']:>8,}{r['rss_mb']:>10.0f}{r['tree_mb']:>10.0f}"


HEADER = f"{'':<36}{'inter.':>8}{'seconds':>9}{'CPU s':>9}{'pages':>8}{'RSS MB':>10}{'tree MB':>10}"


def days_comparison(tmp: Path, days: int, codes: dict[str, Path]) -> None:
    arc = tmp / "days.sqlite3"
    t0 = time.perf_counter()
    first, last = build(arc, days=days, rows_per_interval=75)
    print(
        f"archive of {days} days built in {time.perf_counter() - t0:.0f} s ({arc.stat().st_size / 1e6:,.0f} MB)"
    )
    print(HEADER)
    for name, code in codes.items():
        one = run_child("bundle", arc, first, first, tmp / f"{name}-one" / "b", code)
        print(_row(f"{name}: bundle of 1 day", one))
        many = run_child("bundle", arc, first, last, tmp / f"{name}-many" / "b", code)
        print(_row(f"{name}: bundle of {days} days", many))
        print(
            f"{name}: peak RSS {days} days / 1 day: process tree {many['tree_mb'] / one['tree_mb']:.2f}, "
            f"main process {many['rss_mb'] / one['rss_mb']:.2f}; pages per day {one['pages']:,}"
        )


def bare_comparison(tmp: Path, interactions: int, codes: dict[str, Path]) -> None:
    arc = tmp / "bench.sqlite3"
    t0 = time.perf_counter()
    start, end = build(arc, interactions=interactions)
    print(
        f"archive with {interactions:,} interactions built in {time.perf_counter() - t0:.0f} s ({arc.stat().st_size / 1e6:,.0f} MB)"
    )
    print(HEADER)
    for name, code in codes.items():
        b = run_child("bare", arc, start, end, tmp / f"{name}-bare" / "bare.pdf", code)
        u = run_child("bundle", arc, start, end, tmp / f"{name}-bundle" / "b", code)
        print(_row(f"{name}: bare reportlab render", b))
        print(_row(f"{name}: signed bundle (everything)", u))
        print(
            f"{name}: ratio bundle / bare render: {u['seconds'] / b['seconds']:.2f} ({u['interactions']:,} interactions)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--interactions", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--only", choices=("days", "bare"))
    ap.add_argument("--baseline", type=Path, help="another checkout to run side by side")
    ap.add_argument("--child")
    ap.add_argument("--archive")
    ap.add_argument("--start")
    ap.add_argument("--end")
    ap.add_argument("--out")
    ap.add_argument("--workers", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        print(
            json.dumps(
                child(
                    args.child,
                    Path(args.archive),
                    date.fromisoformat(args.start),
                    date.fromisoformat(args.end),
                    out,
                    args.workers,
                )
            )
        )
        return
    codes = {"this": ROOT}
    if args.baseline:
        codes = {"baseline": args.baseline.resolve(), **codes}
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "days"):
            days_comparison(Path(tmp), args.days, codes)
        if args.only in (None, "bare"):
            bare_comparison(Path(tmp), args.interactions, codes)


if __name__ == "__main__":
    main()
