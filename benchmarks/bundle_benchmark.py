"""Bundle benchmark: a bundle of ~10k interactions against a bare reportlab render of the
same tables, in one run, each in its own process (peak RSS is its own).

    python benchmarks/bundle_benchmark.py [--interactions 10000]

The archive is built directly (simulator data model → Archive.store_page), not via HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(path: Path, interactions: int) -> tuple[date, date]:
    from archiver.api.pages import Page
    from archiver.archive.store import Archive
    from archiver.datasets import DATASETS
    from archiver.simulator.data import INTERVAL, DataModel
    from archiver.timerange import DAY, Chunk, api_format

    model = DataModel(seed=3, rows_per_interval=300)
    t = datetime(2025, 3, 1, tzinfo=UTC)
    first = t.date()
    seen = 0
    with Archive(path) as a:
        a.start_run("bench", "benchmark", {}, "bench")
        chunks = {}
        while seen < interactions:
            its = model.interactions(t)[: interactions - seen]
            seen += len(its)
            for name, rows in (
                ("interactionSegments", [s for i in its for s in i.segments]),
                ("workflowTrace", [s for i in its for s in i.trace]),
            ):
                ds = DATASETS[name]
                key = (name, t.date())
                if key not in chunks:
                    day = datetime.combine(t.date(), datetime.min.time(), UTC)
                    chunks[key] = Chunk(name, "interval", "", day, day + DAY - INTERVAL)
                    a.begin_chunk(
                        chunks[key],
                        "bench",
                        None,
                        api_format(chunks[key].request_end, "interval"),
                    )
                cols = [{"name": n, "type": ty} for n, ty in ds.columns]
                for s in range(0, len(rows), 200):
                    recs = [[r[c] for c in ds.column_names] for r in rows[s : s + 200]]
                    raw = json.dumps(
                        {
                            "columnHeaders": cols,
                            "records": recs,
                            "pagination": {
                                "pageSize": 200,
                                "prevPageToken": "",
                                "nextPageToken": "",
                            },
                        },
                        ensure_ascii=False,
                    ).encode()
                    a.store_page(
                        "bench",
                        chunks[key],
                        Page(
                            raw,
                            200,
                            "https://example.invalid",
                            datetime.now(UTC),
                            cols,
                            None,
                            recs,
                            "",
                            1,
                        ),
                        {},
                    )
            t += INTERVAL
        for c in chunks.values():
            a.set_chunk_state(c, "done")
        a.finish_run("bench", "finished", {})
    return first, t.date()


def child(kind: str, archive: Path, start: date, end: date, out: Path) -> dict:
    os.environ.setdefault("ARCHIVER_KEY_PASSPHRASE", "benchmark")
    from archiver.archive.store import open_reader
    from archiver.export import keys
    from archiver.export.bundle import export_bundle
    from archiver.export.pdf import ReportMeta, build_report
    from archiver.export.scope import Scope, select
    from archiver.jobs import drive

    scope = Scope(start, end)
    ident = keys.load_or_create(out.parent / "keys")
    if kind == "bare":
        conn = open_reader(archive)
        sel = select(conn, scope)
        conn.close()
        meta = ReportMeta(
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
        pages = build_report(out, sel, meta)
        seconds = time.perf_counter() - t0
        n = len(sel.interactions())
    else:
        t0 = time.perf_counter()
        res = drive(export_bundle(archive, scope, out, ident))
        seconds = time.perf_counter() - t0
        pages, n = res.pages, res.interactions
    return {
        "seconds": seconds,
        "pages": pages,
        "interactions": n,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interactions", type=int, default=10_000)
    ap.add_argument("--child")
    ap.add_argument("--archive")
    ap.add_argument("--start")
    ap.add_argument("--end")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        print(
            json.dumps(
                child(
                    args.child,
                    Path(args.archive),
                    date.fromisoformat(args.start),
                    date.fromisoformat(args.end),
                    Path(args.out),
                )
            )
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        arc = Path(tmp) / "bench.sqlite3"
        t0 = time.perf_counter()
        start, end = build(arc, args.interactions)
        print(
            f"archive with {args.interactions:,} interactions built in {time.perf_counter() - t0:.0f} s ({arc.stat().st_size / 1e6:,.0f} MB)"
        )
        results = {}
        for kind, out in (("bare", Path(tmp) / "bare.pdf"), ("bundle", Path(tmp) / "bundle")):
            proc = subprocess.run(
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
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if proc.returncode:
                raise SystemExit(proc.stderr)
            results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
        b, u = results["bare"], results["bundle"]
        print(f"{'':<28}{'seconds':>9}{'pages':>8}{'peak RSS MB':>13}")
        print(
            f"{'bare reportlab render':<28}{b['seconds']:>9.1f}{b['pages']:>8,}{b['rss_mb']:>13.0f}"
        )
        print(
            f"{'signed bundle (everything)':<28}{u['seconds']:>9.1f}{u['pages']:>8,}{u['rss_mb']:>13.0f}"
        )
        print(
            f"ratio bundle / bare render: {u['seconds'] / b['seconds']:.2f} ({u['interactions']:,} interactions)"
        )


if __name__ == "__main__":
    main()
