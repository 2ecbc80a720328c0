"""Pull benchmark: the archiver against the guide's own pattern, in one run.

    python benchmarks/pull_benchmark.py            # 7 days of interactionSegments, 100 ms and 0 ms
    python benchmarks/pull_benchmark.py --growth   # peak RSS at 10k / 100k rows (add --big for 1M)
    python benchmarks/pull_benchmark.py --index-cost [--dataset transcript]
                                                   # a pull with the search index against one without

Each variant runs in its own process (so peak RSS is its own) against a simulator in
another process (``archiver simulate``). Prints rows/s, peak RSS and ratios; asserts nothing.

The baseline is the vendor guide's Pattern 1: requests in a loop, every record kept in a
list, rows inserted into SQLite at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOKEN = "/auth/realms/avaya/protocol/openid-connect/token"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(url: str, dataset: str, start: str, end: str, out: Path) -> dict:
    """The guide's get_all_records(), then one insert of everything at the end."""
    import requests

    t0 = time.perf_counter()
    token = requests.post(
        url + TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": "archiver-demo",
            "client_secret": "demo-secret",
        },
        timeout=30,
    ).json()["access_token"]
    base_url = f"{url}/api/analytics/v2/datasets/{dataset}"
    headers = {"Authorization": f"Bearer {token}"}
    all_records = []
    column_headers = None
    next_page_token = None
    while True:
        query_params = {"interval": f"starting:{start},ending:{end}", "pageSize": 200}
        if next_page_token:
            query_params["nextPageToken"] = next_page_token
        response = requests.get(base_url, headers=headers, params=query_params, timeout=60)
        response.raise_for_status()
        data = response.json()
        if column_headers is None:
            column_headers = data["columnHeaders"]
        all_records.extend(data["records"])
        next_page_token = data["pagination"].get("nextPageToken", "")
        if not next_page_token:
            break
    names = [c["name"] for c in column_headers]
    conn = sqlite3.connect(out)
    conn.execute(f"CREATE TABLE rows ({', '.join(n + ' TEXT' for n in names)})")
    conn.executemany(f"INSERT INTO rows VALUES ({', '.join('?' * len(names))})", all_records)
    conn.commit()
    conn.close()
    return {"rows": len(all_records), "seconds": time.perf_counter() - t0, "rss_mb": peak_rss_mb()}


def ours(url: str, dataset: str, start: str, end: str, out: Path, workers: int) -> dict:
    os.environ["ARCHIVER_CLIENT_ID"] = "archiver-demo"
    os.environ["ARCHIVER_CLIENT_SECRET"] = "demo-secret"
    from archiver.cli.main import main

    t0 = time.perf_counter()
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(
            [
                "pull",
                "--base-url",
                url,
                "--dataset",
                dataset,
                "--from",
                start,
                "--to",
                end,
                "--workers",
                str(workers),
                "--archive",
                str(out),
                "--json",
            ]
        )
    seconds = time.perf_counter() - t0
    summary = json.loads(buf.getvalue())
    assert code == 0, summary
    return {
        "rows": summary["datasets"][dataset]["rows"],
        "seconds": seconds,
        "rss_mb": peak_rss_mb(),
        "cpu_s": cpu_seconds(),
    }


def cpu_seconds() -> float:
    """CPU time this process used (every thread: workers, writer), user and system."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if args.variant.endswith("-noindex"):  # the same pull, its search index left out
        from archiver.archive import searchindex

        searchindex.SearchIndex.after_page = lambda *_a, **_k: None  # type: ignore[method-assign]
        args.variant = args.variant.removesuffix("-noindex")
    if args.variant == "baseline":
        res = baseline(args.url, args.dataset, args.start, args.end, out)
    else:
        res = ours(
            args.url, args.dataset, args.start, args.end, out, int(args.variant.split("-")[1])
        )
    print(json.dumps(res))


def run_variant(variant: str, url: str, dataset: str, start: str, end: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            variant,
            "--url",
            url,
            "--dataset",
            dataset,
            "--start",
            start,
            "--end",
            end,
            "--out",
            str(Path(tmp) / "out.sqlite3"),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"{variant} failed:\n{proc.stderr}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["size_mb"] = (Path(tmp) / "out.sqlite3").stat().st_size / 1e6
        return res


class Sim:
    def __init__(self, latency_ms: float, rows_per_interval: int) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "archiver",
                "simulate",
                "--port",
                "0",
                "--latency-ms",
                str(latency_ms),
                "--rows-per-interval",
                str(rows_per_interval),
                "--cache-buckets",
                "100000",
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.url = self.proc.stdout.readline().strip()

    def warm(self, dataset: str, start: str, end: str, latency_ms: float) -> None:
        """Walk the range once at no latency, so the simulator has generated (and keeps)
        every row before the timed run: the run then measures the client against the
        latency, not the simulator's own data generation (about 3 s of CPU per day of
        interactionSegments, in the same two cores)."""
        import requests

        from archiver.api import Credentials, HistoricalClient, Query, Tenant
        from archiver.timerange import parse_bound

        fifteen = __import__("datetime").timedelta(minutes=15)

        faults = self.url + "/_simulator/faults"
        requests.post(faults, json={"latency_ms": 0}, timeout=30).raise_for_status()
        client = HistoricalClient(
            Tenant.from_base_url(self.url), Credentials("archiver-demo", "demo-secret")
        )
        first = parse_bound(start, is_end=False, daily=False)
        last = parse_bound(end, is_end=True, daily=False)
        query = Query(dataset, first, last + fifteen, "interval", None, 200)
        for _ in client.pages(query):
            pass
        requests.post(faults, json={"latency_ms": latency_ms}, timeout=30).raise_for_status()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def table(
    title: str, results: dict[str, dict], latency: float = 0.0, base: str = "baseline"
) -> None:
    """``× bound``: rows/s over the network bound, workers × 200 rows per request latency."""
    print(f"\n{title}")
    print(
        f"{'variant':<12}{'rows':>9}{'seconds':>9}{'rows/s':>10}{'× baseline':>12}{'× bound':>9}{'peak RSS MB':>13}{'file MB':>9}"
    )
    b = results[base]["rows"] / results[base]["seconds"] if base in results else None
    for name, r in results.items():
        rate = r["rows"] / r["seconds"]
        ratio = f"{rate / b:.2f}" if b else "-"
        workers = 1 if name == base else int(name.split("-")[-1])
        bound = f"{rate / (workers * 200 / (latency / 1000)):.2f}" if latency else "-"
        print(
            f"{name:<12}{r['rows']:>9,}{r['seconds']:>9.1f}{rate:>10,.0f}{ratio:>12}{bound:>9}{r['rss_mb']:>13.0f}{r['size_mb']:>9.1f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--child")
    ap.add_argument("--url")
    ap.add_argument("--dataset", default="interactionSegments")
    ap.add_argument("--start", default="202502010000")
    ap.add_argument("--end", default="202502072345")
    ap.add_argument("--out")
    ap.add_argument("--latencies", default="100,0")
    ap.add_argument("--growth", action="store_true", help="peak RSS against rows pulled")
    ap.add_argument(
        "--cold-sim",
        action="store_true",
        help="also run against simulators that generate rows while serving (CPU they share)",
    )
    ap.add_argument("--big", action="store_true", help="with --growth: include 1M rows")
    ap.add_argument(
        "--index-cost",
        action="store_true",
        help="a pull that keeps the search index against the same pull without it",
    )
    ap.add_argument("--rounds", type=int, default=3, help="with --index-cost: runs of each")
    args = ap.parse_args()
    if args.child:
        args.variant = args.child
        child(args)
        return
    if args.growth:
        growth(args.big)
        return
    if args.index_cost:
        index_cost(args)
        return
    print(
        f"7 days of {args.dataset} ({args.start}–{args.end}), simulator in its own process, 2 cores"
    )
    for latency in [float(x) for x in args.latencies.split(",")]:
        for warm in (True, False) if args.cold_sim else (True,):
            results = {
                v: fresh_run(v, latency, 75, args.dataset, args.start, args.end, warm)
                for v in ("baseline", "workers-1", "workers-4")
            }
            sim_state = "pre-generated" if warm else "generating as it serves"
            table(f"latency {latency:.0f} ms per request, simulator {sim_state}", results, latency)


def fresh_run(
    variant: str,
    latency: float,
    rows_per_interval: int,
    dataset: str,
    start: str,
    end: str,
    warm: bool = False,
) -> dict:
    """Each variant against its own new simulator, so none profits from another's cache
    (``warm``: one that generated the range before the run, the same for every variant)."""
    sim = Sim(latency, rows_per_interval)
    try:
        if warm:
            sim.warm(dataset, start, end, latency)
        return run_variant(variant, sim.url, dataset, start, end)
    finally:
        sim.close()


def index_cost(args: argparse.Namespace) -> None:
    """The search index's cost to a pull: the same pull (4 workers, a simulator that
    generated the range beforehand) with and without it, alternating, ``--rounds`` times
    each, at each latency; the best and the median of each, and their ratio."""
    import statistics

    print(
        f"search index cost: 7 days of {args.dataset} ({args.start}–{args.end}), 4 workers, "
        "simulator in its own process (pre-generated), 2 cores"
    )
    for latency in [float(x) for x in args.latencies.split(",")]:
        rates: dict[str, list[float]] = {"with index": [], "without": []}
        cpu: dict[str, list[float]] = {"with index": [], "without": []}
        rows = 0
        for _ in range(args.rounds):
            for name, variant in (("without", "workers-4-noindex"), ("with index", "workers-4")):
                r = fresh_run(variant, latency, 75, args.dataset, args.start, args.end, True)
                rows = r["rows"]
                rates[name].append(r["rows"] / r["seconds"])
                cpu[name].append(r["cpu_s"])
        print(f"\nlatency {latency:.0f} ms per request: {rows:,} rows per run")
        print(f"{'variant':<12}{'best rows/s':>13}{'median rows/s':>15}{'median CPU s':>14}")
        for name, got in rates.items():
            print(
                f"{name:<12}{max(got):>13,.0f}{statistics.median(got):>15,.0f}"
                f"{statistics.median(cpu[name]):>14.1f}"
            )
        best = max(rates["with index"]) / max(rates["without"])
        med = statistics.median(rates["with index"]) / statistics.median(rates["without"])
        work = statistics.median(cpu["with index"]) / statistics.median(cpu["without"])
        print(
            f"with index / without: rows/s best {best:.2f}, median {med:.2f} (a pull "
            f"{1 / best - 1:+.0%} longer, best against best; {1 / med - 1:+.0%}, median); "
            f"the pull's CPU time {work - 1:+.0%} (median). Target: ≤ +15 %."
        )


def growth(big: bool) -> None:
    """Peak RSS as rows grow: ours stays flat, the baseline grows with every row."""
    # about 300 rows per interval: 10k rows ≈ 8 hours, 100k ≈ 3.5 days, 1M ≈ 35 days
    sizes = [("10k", "202502010000", "202502010815"), ("100k", "202502010000", "202502041045")]
    if big:
        sizes.append(("1M", "202502010000", "202503072345"))
    results: dict[str, dict] = {}
    for label, s, e in sizes:
        results[f"ours {label}"] = fresh_run("workers-4", 0, 300, "interactionSegments", s, e)
        if label != "1M":  # the baseline holds every row in memory: 1M rows would take GBs
            results[f"base {label}"] = fresh_run("baseline", 0, 300, "interactionSegments", s, e)
    print("\npeak RSS against rows pulled (0 ms latency, interactionSegments)")
    print(f"{'variant':<12}{'rows':>11}{'seconds':>9}{'rows/s':>10}{'peak RSS MB':>13}")
    for name, r in results.items():
        print(
            f"{name:<12}{r['rows']:>11,}{r['seconds']:>9.1f}{r['rows'] / r['seconds']:>10,.0f}{r['rss_mb']:>13.0f}"
        )


if __name__ == "__main__":
    main()
