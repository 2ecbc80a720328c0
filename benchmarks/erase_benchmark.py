"""The time of an erasure on a large archive (issue 20 §5), on a copy of it.

    python benchmarks/big_archive.py build --weeks 1 --rows-per-interval 40 --out /tmp/big.sqlite3
    python benchmarks/erase_benchmark.py --archive /tmp/big.sqlite3 [--subject phone:+1…]

The archive is copied (SQLite's backup API) next to itself, then on the copy: ``erase plan``
(the search index and the exact scan of every values table), ``erase apply`` (the pages
rewritten, values and index, salts, the entry, a signed certificate with a throwaway key),
and verify-archive's proof of every record against its page's root (``erasure.check``),
each timed with the subject's kind (by default the phone of the customer of the archive's
first interaction with one, as ``customer:ID``). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archiver.archive import erasure
from archiver.archive.queries.reader import Reader
from archiver.services import erase, keys


def _subject(path: Path) -> str:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        (iid,) = conn.execute(
            "SELECT INTERACTION_ID FROM vals_interactionSegments WHERE SOURCE_PHONE_NUMBER != '' "
            "ORDER BY record_id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return f"customer:{iid}"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--archive", type=Path, required=True)
    ap.add_argument("--subject", default=None)
    ap.add_argument("--no-proof", action="store_true", help="skip the proof of every record")
    args = ap.parse_args()
    src = args.archive
    with tempfile.TemporaryDirectory(dir=src.parent, prefix=".erase-bench-") as tmp:
        copy = Path(tmp) / "a.sqlite3"
        t = time.perf_counter()
        a, b = sqlite3.connect(src), sqlite3.connect(copy)
        a.backup(b)
        a.close()
        b.close()
        took_copy = time.perf_counter() - t
        size = copy.stat().st_size
        with Reader(copy) as r:
            (records,) = r.conn.execute("SELECT count(*) FROM records").fetchone()
            (pages,) = r.conn.execute("SELECT count(*) FROM pages").fetchone()
        subject = args.subject or _subject(copy)
        print(
            f"archive: {records:,} records in {pages:,} pages, {size / 1e6:,.0f} MB "
            f"(copied in {took_copy:.1f} s)"
        )
        t = time.perf_counter()
        plan = erase.plan(copy, subject)
        took_plan = time.perf_counter() - t
        print(
            f"erase plan ({subject.split(':')[0]}): {took_plan:.2f} s — "
            f"{len(plan.hits):,} records on {len(plan.pages):,} pages "
            f"(exact scan {plan.scan_found:,}, index {plan.index_found:,}, "
            f"{plan.index_missed:,} missed by the index)"
        )
        ident = keys.throwaway(Path(tmp) / "keys", "erase benchmark")
        t = time.perf_counter()
        done = erase.apply(copy, plan.plan_id, "BENCH-1", "benchmark", identity=ident)
        took_apply = time.perf_counter() - t
        print(
            f"erase apply: {took_apply:.2f} s — {done.records:,} records, {done.rows:,} page "
            f"rows, {done.pages:,} pages rewritten, certificate {done.certificate_id} "
            "(re-plan in the writer's transaction, rewrite, index merge, signed certificate, "
            "WAL checkpoint included)"
        )
        print(f"plan + apply: {took_plan + took_apply:.2f} s")
        if not args.no_proof:
            with Reader(copy) as r:
                t = time.perf_counter()
                proof = erasure.check(r.conn)
                took = time.perf_counter() - t
            print(
                f"proof of every record against its page's root: {took:.1f} s — "
                f"{proof.proved:,} rows proved, {sum((proof.erased or {}).values()):,} erased, "
                f"{len(proof.problems)} problems"
            )


if __name__ == "__main__":
    main()
