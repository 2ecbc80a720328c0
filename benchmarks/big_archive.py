"""Build a large archive directly (not through the API) and time the browser's first paint.

    python benchmarks/big_archive.py --rows 1000000 --out /tmp/big.sqlite3   # build (once)
    python benchmarks/big_archive.py --out /tmp/big.sqlite3 --first-paint     # measure

Rows come from the simulator's data model, stored as real pages (raw JSON bytes, checksums,
chain) through Archive.store_page, so the file is a valid, verifiable archive.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from archiver.api.pages import Page
from archiver.archive.store import Archive, Chunk
from archiver.datasets import DATASETS
from archiver.simulator.data import INTERVAL, DataModel


def build(out: Path, rows: int, dataset: str = "interactionSegments") -> None:
    ds = DATASETS[dataset]
    model = DataModel(seed=7, rows_per_interval=300)
    cols = [{"name": n, "type": t} for n, t in ds.columns]
    names = ds.column_names
    t = datetime(2025, 1, 1, tzinfo=UTC)
    written = 0
    started = time.perf_counter()
    with Archive(out) as a:
        a.start_run("big", "benchmark", {"rows": rows}, "big")
        day = None
        chunk = None
        batch: list[list[str]] = []
        number = 0
        while written < rows:
            if t.date() != day:
                day = t.date()
                chunk = Chunk(
                    dataset, "interval", "", t.strftime("%Y%m%d0000"), t.strftime("%Y%m%d2345")
                )
                a.begin_chunk(chunk, "big", None)
                number = 0
            for r in model.bucket_rows(ds, t, 15):
                batch.append([r[c] for c in names])
            t += INTERVAL
            while len(batch) >= 200 or (batch and written + len(batch) >= rows):
                page_rows, batch = batch[:200], batch[200:]
                page_rows = page_rows[: rows - written]
                number += 1
                raw = json.dumps(
                    {
                        "columnHeaders": cols,
                        "records": page_rows,
                        "pagination": {"pageSize": 200, "prevPageToken": "", "nextPageToken": "x"},
                    },
                    ensure_ascii=False,
                ).encode()
                page = Page(
                    raw,
                    200,
                    f"https://example.invalid/{dataset}",
                    datetime.now(UTC),
                    cols,
                    None,
                    page_rows,
                    "x",
                    number,
                )
                a.store_page("big", chunk, page, {"interval": "benchmark"})
                written += len(page_rows)
                if written >= rows:
                    break
        a.finish_run("big", "finished", {"rows": written})
    print(
        f"built {out}: {written:,} rows in {time.perf_counter() - started:.0f} s, {out.stat().st_size / 1e6:,.0f} MB"
    )


def first_paint(path: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from archiver.gui.context import AppContext
    from archiver.gui.main_window import MainWindow
    from archiver.settings import Settings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    t0 = time.perf_counter()
    w = MainWindow(
        AppContext(Settings(tmp / "bench-settings.json"), path),
        qsettings=QSettings(str(tmp / "bench-ui.ini"), QSettings.Format.IniFormat),
    )
    w.show()
    w.tabs.setCurrentWidget(w.browse)
    while w.browse.model.rowCount() == 0:
        app.processEvents()
        if time.perf_counter() - t0 > 120:
            raise SystemExit("no rows after 120 s")
    w.browse.view.grab()  # paint the visible rows
    t1 = time.perf_counter()
    from archiver.review import ArchiveReader

    with ArchiveReader(path) as r:
        total = r.dataset_counts()[w.browse.current_dataset()]
    print(
        f"first paint of {w.browse.current_dataset()} ({total:,} rows): {(t1 - t0) * 1000:.0f} ms from window creation"
    )
    t2 = time.perf_counter()
    bar = w.browse.view.verticalScrollBar()
    for _ in range(20):  # scroll to the bottom of what is loaded, 20 times: fetchMore each time
        bar.setValue(bar.maximum())
        app.processEvents()
    w.browse.view.grab()
    print(
        f"20 scrolls to the end of the loaded rows: {(time.perf_counter() - t2) * 1000:.0f} ms, {w.browse.model.rowCount():,} rows loaded"
    )
    w.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--first-paint", action="store_true")
    args = ap.parse_args()
    if args.first_paint:
        first_paint(args.out)
    else:
        if args.out.exists():
            raise SystemExit(f"{args.out} exists")
        build(args.out, args.rows)


if __name__ == "__main__":
    main()
