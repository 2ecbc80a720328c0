"""The bundle's report, built while the selection is read a window at a time.

A window (:mod:`archiver.export.scope`) is whole 15-minute intervals of one UTC day.

Each window's interactions are cut into parts of at most ``PART_SIZE`` and rendered as separate
PDFs — in worker processes when there is more than one part and a second core, else here.
What the front matter and the index need (summary totals, each interaction's page) is kept
small: totals in memory, one line per interaction in an SQLite file next to the parts. Once
every window is in, the front matter (cover, contents, summary, notes, custody) and the index are
rendered and everything is joined (:mod:`archiver.export.pdfjoin`) with page numbers and the
outline, before it is signed. Memory holds a window's rows and a few parts, whatever the range.
"""

from __future__ import annotations

import os
import pickle
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice
from pathlib import Path

import archiver
from archiver.archive.queries.reader import Source
from archiver.archive.scratch import ScratchTable
from archiver.export import derive, pdf
from archiver.export.pdfjoin import Joiner, Mark
from archiver.export.production import CaseScope
from archiver.export.scope import Interaction, Names, Scope, Window
from archiver.plural import plural

PART_SIZE = 300  # interactions per rendered part (about 120 pages)
INDEX_PAGES_PER_PART = 60


def default_workers() -> int:
    """Render processes: one per core, up to two (the exporting process reads the archive
    and writes the payload meanwhile, a light load); none in a frozen app (it cannot be
    started as ``python -m``)."""
    if getattr(sys, "frozen", False):
        return 0
    return min(2, os.cpu_count() or 1)


class RenderError(Exception):
    """A part of the report could not be rendered (the message says why)."""


class _Workers:
    """Render processes (:mod:`archiver.export.render_worker`), each fed one part at a time
    through its standard input; a reader thread per process puts its results on one queue,
    in whatever order they finish."""

    def __init__(self, n: int) -> None:
        root = str(Path(archiver.__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "archiver.export.render_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=dict(os.environ, PYTHONPATH=path),
            )
            for _ in range(n)
        ]
        self.idle = list(range(n))
        self.busy: dict[int, int] = {}  # process → the part it renders
        self.replies: queue.Queue[tuple[int, str, object]] = queue.Queue()
        self.readers = [
            threading.Thread(target=self._read, args=(i,), daemon=True) for i in range(n)
        ]
        for t in self.readers:
            t.start()

    def _read(self, i: int) -> None:
        out = self.procs[i].stdout
        assert out is not None
        while True:
            try:
                status, payload = pickle.load(out)
            except Exception:  # end of output: the process ended (on purpose or not)
                self.replies.put((i, "ended", None))
                return
            self.replies.put((i, status, payload))

    def send(self, number: int, spec: pdf.PartSpec) -> None:
        i = self.idle.pop()
        self.busy[i] = number
        stdin = self.procs[i].stdin
        assert stdin is not None
        pickle.dump(spec, stdin, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.flush()

    def receive(self, timeout: float) -> tuple[int, pdf.PartResult] | None:
        """(part number, its result) when one finished within ``timeout`` seconds."""
        try:
            i, status, payload = self.replies.get(timeout=timeout)
        except queue.Empty:
            return None
        if status == "ended":
            code = self.procs[i].wait()
            raise RenderError(f"a report render process ended unexpectedly (exit code {code})")
        number = self.busy.pop(i)
        self.idle.append(i)
        if status != "ok" or not isinstance(payload, pdf.PartResult):
            raise RenderError(str(payload))
        return number, payload

    def close(self) -> None:
        for p in self.procs:
            if p.stdin:
                p.stdin.close()
        for p in self.procs:
            p.wait()
        self._release()

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self._release()

    def _release(self) -> None:
        """The processes have ended: their readers reach the end of output; close the pipes
        (left to the garbage collector, each is a ResourceWarning)."""
        for t in self.readers:
            t.join(timeout=10)
        for p in self.procs:
            for pipe in (p.stdin, p.stdout):
                if pipe is not None and not pipe.closed:
                    pipe.close()


@dataclass
class _Part:
    number: int
    day: date
    path: Path
    #: (interaction id, derived start label, channel) in report order
    items: list[tuple[str, str, str]]
    pages: int = 0


@dataclass
class ReportResult:
    path: Path
    pages: int


class Report:
    """Feed it windows (``add``), then ``finish`` it; ``close`` in any case."""

    def __init__(
        self,
        work: Path,
        meta: pdf.ReportMeta,
        scope: Scope | CaseScope,
        names: Names,
        expected: int,
        check: Callable[[], None],
        workers: int | None = None,
    ) -> None:
        self.dir = work / "report-sections"
        self.dir.mkdir(parents=True)
        self.meta = meta
        self.scope = scope
        self.names = names
        self.expected = expected  # interactions in scope (for "x of y")
        self.check = check
        self.workers = default_workers() if workers is None else workers
        self.pool: _Workers | None = None
        self.pending: deque[_Part] = deque()  # in report order, not yet recorded
        self.finished: dict[int, pdf.PartResult] = {}  # by part number, awaiting its turn
        self.parts: list[_Part] = []
        self.days: list[tuple[date, int]] = []
        self.summary = derive.Summary()
        self.done = 0
        self.pages = 0
        self.entries = ScratchTable(
            self.dir / "entries.sqlite3",
            [
                ("iid", "TEXT"),
                ("day", "TEXT"),
                ("start", "TEXT"),
                ("channel", "TEXT"),
                ("part", "INTEGER"),
                ("page", "INTEGER"),
                ("top", "REAL"),
            ],
        )

    # -- feeding -------------------------------------------------------------------------------
    def add(self, db: Source, window: Window) -> Iterator[str]:
        """Take one window's interactions (redacted as exported); yields progress lines."""
        its, day = window.interactions, window.day
        if self.days and self.days[-1][0] == day:
            self.days[-1] = (day, self.days[-1][1] + len(its))
        else:
            self.days.append((day, len(its)))
        agents = {s.values.get("USER_ID", "") for it in its for s in it.segments}
        queues = {s.values.get("QUEUE_ID", "") for it in its for s in it.segments}
        self.names.complete(db, agents, queues)
        names = pdf.NameBook(
            {a: self.names.agents[a] for a in agents if a in self.names.agents},
            {q: self.names.queues[q] for q in queues if q in self.names.queues},
        )
        for it in its:
            self.summary.add(day.isoformat(), it)
        n_parts = -(-len(its) // PART_SIZE)
        size = -(-len(its) // max(1, n_parts))  # parts of a window of even size
        for start in range(0, len(its), size):
            yield from self._submit(day, its[start : start + size], names)

    def _submit(self, day: date, its: list[Interaction], names: pdf.NameBook) -> Iterator[str]:
        number = len(self.parts)
        path = self.dir / f"part-{number:06d}.pdf"
        spec = pdf.PartSpec(
            str(path), self.meta.bundle_id, self.meta.scope_short, day, its, names, self.meta.demo
        )
        items = [(it.id, derive.clock(derive.span(it).start), _channel(it)) for it in its]
        part = _Part(number, day, path, items)
        self.parts.append(part)
        self.pending.append(part)
        if self.pool is None and self.workers > 0 and self.expected > PART_SIZE:
            self.pool = _Workers(self.workers)
        if self.pool is None:
            self.finished[number] = pdf.render_part(spec)
        else:
            while not self.pool.idle:  # one part per process: memory holds a few parts
                yield from self._wait()
            self.pool.send(number, spec)
        yield from self._drain()

    def _wait(self) -> Iterator[str]:
        """Wait for one part to finish (checking for cancel), then record what is due."""
        assert self.pool is not None
        while True:
            self.check()
            got = self.pool.receive(0.2)
            if got:
                self.finished[got[0]] = got[1]
                break
        yield from self._drain()

    def _drain(self) -> Iterator[str]:
        """Record finished parts in report order."""
        while self.pending and self.pending[0].number in self.finished:
            part = self.pending.popleft()
            yield self._record(part, self.finished.pop(part.number))

    def _record(self, part: _Part, result: pdf.PartResult) -> str:
        part.pages = result.pages
        where = {iid: (page, top) for iid, page, top in result.anchors}
        rows = []
        for iid, start, channel in part.items:
            page, top = where[iid]
            rows.append((iid, part.day.isoformat(), start, channel, part.number, page, top))
        self.entries.append(rows)
        self.done += len(part.items)
        self.pages += result.pages
        part.items = []  # what the index and outline need is in the entries file now
        return (
            f"Rendering the report: {self.done:,} of {self.expected:,} interactions laid out, "
            f"{self.pages:,} pages ({part.day:%Y-%m-%d})"
        )

    # -- finishing -------------------------------------------------------------------------------
    def finish(self, front: pdf.Front) -> Generator[str, None, ReportResult]:
        while self.pending:
            yield from self._wait()
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        front.summary = self.summary
        self.entries.commit()
        yield f"Rendering the cover, summary and index ({self.done:,} interactions)…"
        front_path = self.dir / "front.pdf"
        first = {p.number: 0 for p in self.parts}
        f_pages = 0
        anchors: dict[str, tuple[int, float]] = {}
        for _ in range(3):  # the contents page numbers depend on the front's own length
            front.contents = self._contents(f_pages, anchors, first)
            pages, anchors = pdf.render_front(front_path, front)
            if pages == f_pages:
                break
            f_pages = pages
            first = self._firsts(f_pages)
        self.check()
        index = self._render_index(f_pages, first)
        total = f_pages + self.pages + sum(p for _, p in index)
        yield f"Joining {1 + len(self.parts) + len(index)} sections ({total:,} pages)…"
        out = self.dir / "report-unsigned.pdf"
        t0 = time.perf_counter()
        with out.open("wb") as f:
            j = Joiner(f, total, pdf.PAGE)
            j.add(front_path)
            for part in self.parts:
                j.add(part.path)
                part.path.unlink()
                self.check()
            index_first = j.next_page
            for path, _ in index:
                j.add(path)
            j.finish(
                self._outline(anchors, first, index_first if index else None),
                f"Audit bundle report ({pdf.DEMO})" if self.meta.demo else "Audit bundle report",
                f"Audit bundle {self.meta.bundle_id}",
                self._dests(anchors, first, index_first if index else None),
            )
        self.join_seconds = time.perf_counter() - t0
        return ReportResult(out, total)

    def _firsts(self, f_pages: int) -> dict[int, int]:
        """Each part's first page (1-based) in the joined report."""
        out, at = {}, f_pages + 1
        for p in self.parts:
            out[p.number] = at
            at += p.pages
        return out

    def _contents(
        self, f_pages: int, anchors: dict[str, tuple[int, float]], first: dict[int, int]
    ) -> list[tuple[str, str, int, str]]:
        """(title, page, indent, destination): each entry links to its place (see
        :meth:`_dests` for where each destination is)."""

        def page(key: str) -> str:
            return f"{anchors[key][0]:,}" if key in anchors else "…"

        out = [
            ("Summary", page("summary"), 0, "summary"),
            ("By day", page("summary-day"), 1, "summary-day"),
            ("By queue", page("summary-queue"), 1, "summary-queue"),
            ("By agent", page("summary-agent"), 1, "summary-agent"),
            ("By channel", page("summary-channel"), 1, "summary-channel"),
            ("How to read this report", page("notes"), 0, "notes"),
            ("Chain of custody", page("custody"), 0, "custody"),
            (
                f"Interactions ({self.done:,})",
                self._day_page(0, first),
                0,
                "day-0" if self.days else "",
            ),
        ]
        out += [
            (f"{d:%Y-%m-%d} · {plural(n, 'interaction')}", self._day_page(i, first), 1, f"day-{i}")
            for i, (d, n) in enumerate(self.days)
        ]
        if self.done:
            out.append(("Index of interactions", f"{f_pages + self.pages + 1:,}", 0, "index"))
        return out

    def _dests(
        self, anchors: dict[str, tuple[int, float]], first: dict[int, int], index_first: int | None
    ) -> Iterator[Mark]:
        """Where the contents and the index link to (pdfjoin named destinations): the
        front matter's sections, each day's first page, the index, and every interaction
        (``i-<n>``, n its place in the report)."""
        for key, (page, top) in anchors.items():
            yield Mark(key, page - 1, top)
        for i, (day, _) in enumerate(self.days):
            part = next((p for p in self.parts if p.day == day), None)
            if part is not None:
                yield Mark(f"day-{i}", first[part.number] - 1, None)
        if index_first is not None:
            yield Mark("index", index_first, None)
        for seq, part, page, top in self.entries.rows(("seq", "part", "page", "top"), ("seq",)):
            yield Mark(f"i-{seq}", first[part] + page - 2, top)

    def _day_page(self, i: int, first: dict[int, int]) -> str:
        if i >= len(self.days):
            return ""
        day = self.days[i][0]
        part = next((p for p in self.parts if p.day == day), None)
        return f"{first.get(part.number, 0):,}" if part and first.get(part.number) else "…"

    def _render_index(self, f_pages: int, first: dict[int, int]) -> list[tuple[Path, int]]:
        per_page = pdf.index_page_size(self.done)  # every page filled alike
        per_part = per_page * INDEX_PAGES_PER_PART
        out: list[tuple[Path, int]] = []
        rows = self.entries.rows(("iid", "start", "part", "page", "seq"), order=("iid", "seq"))
        chunk: list[pdf.IndexEntry] = []
        n = 0
        while True:
            batch = list(islice(rows, per_part - len(chunk)))
            chunk += [
                (iid, start, f"{first[part] + page - 1:,}", f"i-{seq}")
                for iid, start, part, page, seq in batch
            ]
            n += len(batch)
            if len(chunk) < per_part and batch:
                continue
            if chunk:
                path = self.dir / f"index-{len(out):04d}.pdf"
                more = n < self.done
                pages = pdf.render_index(
                    path,
                    chunk,
                    self.meta.bundle_id,
                    self.meta.scope_short,
                    not out,
                    more,
                    self.meta.demo,
                    per_page,
                )
                out.append((path, pages))
                chunk = []
                self.check()
            if not batch:
                return out

    def _outline(
        self, anchors: dict[str, tuple[int, float]], first: dict[int, int], index_first: int | None
    ) -> Iterator[Mark]:
        def at(key: str) -> Mark | None:
            if key not in anchors:
                return None
            page, top = anchors[key]
            return Mark("", page - 1, top)

        def titled(key: str, title: str, **kw: object) -> Mark | None:
            m = at(key)
            if m is None:
                return None
            m.title = title
            for k, v in kw.items():
                setattr(m, k, v)
            return m

        yield Mark("Cover", 0, None)
        for m in (
            titled("contents", "Contents"),
            titled(
                "summary",
                "Summary",
                children=[
                    x
                    for x in (
                        titled("summary-day", "By day"),
                        titled("summary-queue", "By queue"),
                        titled("summary-agent", "By agent"),
                        titled("summary-channel", "By channel"),
                    )
                    if x
                ],
            ),
            titled("notes", "How to read this report"),
            titled("custody", "Chain of custody"),
        ):
            if m:
                yield m
        if self.parts:
            yield Mark(
                f"Interactions ({self.done:,})",
                first[self.parts[0].number] - 1,
                None,
                self._day_marks(first),
                open=True,
            )
        if index_first is not None:
            yield Mark("Index of interactions", index_first, None)

    def _day_marks(self, first: dict[int, int]) -> Iterator[Mark]:
        rows = self.entries.rows(
            ("iid", "day", "start", "channel", "part", "page", "top"), order=("seq",)
        )
        counts = dict((d.isoformat(), n) for d, n in self.days)
        current: list[Mark] = []
        day = None

        def flush() -> Iterator[Mark]:
            if current:
                n = counts.get(day or "", len(current))
                yield Mark(
                    f"{day} · {n:,} interaction{'s' if n != 1 else ''}",
                    current[0].page,
                    current[0].top,
                    list(current),
                )

        for iid, d, start, channel, part, page, top in rows:
            if d != day:
                yield from flush()
                current, day = [], d
            when = start[11:] if start.startswith(d) else start  # the day is the parent's
            title = " · ".join(x for x in (when, channel, iid) if x)
            current.append(Mark(title, first[part] + page - 2, top))
        yield from flush()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.kill()
            self.pool = None
        self.entries.close()

    def discard(self) -> None:
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _channel(it: Interaction) -> str:
    return it.segments[0].values.get("COMM_TYPE", "") if it.segments else ""
