"""Writer benchmark: the per-page path (parse, identities, canonical JSON, hashing, inserts)
without the network, so its cost is visible on its own.

    python benchmarks/writer_benchmark.py                  # 1 day of interactionSegments
    python benchmarks/writer_benchmark.py --days 7 --profile
    python benchmarks/writer_benchmark.py --index-cost [--dataset transcript]

Pages are fetched once from an in-process simulator (the real client), then every page is
stored into a fresh archive by the real ``Archive`` in chunk order, timed; ``--profile``
prints the top of a cProfile of that store loop. Prints rows/s, pages/s and bytes per row;
asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archiver.api import Credentials, HistoricalClient, Page, Query, Tenant
from archiver.archive.store import Archive
from archiver.simulator import SimConfig, Simulator
from archiver.timerange import Chunk


def capture(sim: Simulator, dataset: str, days: int) -> list[tuple[Chunk, Page, dict]]:
    """Every page of ``days`` days, one chunk per day, as the engine asks for them."""
    client = HistoricalClient(
        Tenant.from_base_url(sim.base_url),
        Credentials(sim.config.client_id, sim.config.client_secret),
    )
    out = []
    first = datetime(2025, 2, 1, tzinfo=UTC)
    for d in range(days):
        start = first + timedelta(days=d)
        chunk = Chunk(dataset, "interval", "", start, start + timedelta(hours=23, minutes=45))
        query = Query(dataset, start, start + timedelta(days=1), "interval", None, 200)
        for page in client.pages(query):
            assert isinstance(page, Page)
            out.append((chunk, page, query.params()))
    return out


def store(pages: list[tuple[Chunk, Page, dict]], path: Path, group: int = 1) -> float:
    """Seconds to store every page; ``group`` pages commit together, as the pull's writer
    groups the pages waiting in its queue (archive/store.py ``Archive.group``)."""
    with Archive(path) as a:
        a.start_run("bench", "bench", {}, "0")
        t0 = time.perf_counter()
        for n in range(0, len(pages), group):
            with a.group():
                for chunk, page, params in pages[n : n + group]:
                    a.store_page("bench", chunk, page, params)
        return time.perf_counter() - t0


def index_cost(pages: list[tuple[Chunk, Page, dict]], rounds: int) -> None:
    """The writer with and without the search index, alternating, one page a transaction
    and 32 (the pull's writer groups up to 32): rows/s (best of ``rounds``) and ratio."""
    from archiver.archive import searchindex

    keep = searchindex.SearchIndex.after_page
    rows = sum(len(p.records) for _, p, _ in pages)
    for group in (1, 32):
        best: dict[str, float] = {}
        for _ in range(rounds):
            for name, hook in (("without", lambda *_a, **_k: None), ("with index", keep)):
                searchindex.SearchIndex.after_page = hook  # type: ignore[method-assign]
                with tempfile.TemporaryDirectory() as tmp:
                    took = store(pages, Path(tmp) / "w.sqlite3", group)
                best[name] = max(best.get(name, 0.0), rows / took)
        searchindex.SearchIndex.after_page = keep  # type: ignore[method-assign]
        ratio = best["with index"] / best["without"]
        print(
            f"{group:>2} page(s) a transaction: without {best['without']:,.0f} rows/s, with the "
            f"search index {best['with index']:,.0f} rows/s: {ratio:.2f} "
            f"(storing takes {1 / ratio - 1:+.0%})"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="interactionSegments")
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--index-cost", action="store_true", help="with and without the search index")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with Simulator(SimConfig()) as sim:
        pages = capture(sim, args.dataset, args.days)
    if args.index_cost:
        print(
            f"{args.dataset}, {args.days} day(s): {sum(len(p.records) for _, p, _ in pages):,} rows"
        )
        index_cost(pages, args.rounds)
        return
    rows = sum(len(p.records) for _, p, _ in pages)
    raw = sum(len(p.raw) for _, p, _ in pages)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.sqlite3"
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            took = store(pages, path)
            prof.disable()
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(35)
            print(s.getvalue())
        else:
            took = store(pages, path)
        size = path.stat().st_size + sum(
            p.stat().st_size for p in path.parent.glob(path.name + "-wal")
        )
    print(
        f"{args.dataset}, {args.days} day(s): {len(pages)} pages, {rows} rows, {raw / 1e6:.1f} MB raw"
    )
    print(
        f"store: {took:.2f} s  {rows / took:,.0f} rows/s  {len(pages) / took:,.1f} pages/s  "
        f"{size / rows:,.0f} bytes/row on disk"
    )


if __name__ == "__main__":
    main()
