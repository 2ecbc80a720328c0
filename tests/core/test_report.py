"""The bundle report an auditor navigates: summary, outline, index, running header, names,
derived times; the exact scope and the empty selection of `archiver export`.

One archive (a simulated day of interactionSegments, workflowTrace, agent and queue) and one
bundle for the module, rendered in small parts by two worker processes so that joining,
page numbers and the outline are exercised across parts.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from archiver.export import keys, report
from archiver.export import scope as scope_module
from archiver.export.bundle import EmptySelection, export_bundle
from archiver.export.scope import Scope
from archiver.export.trust import TrustPolicy
from archiver.export.verify import verify_bundle
from archiver.jobs import drive
from archiver.simulator import SimConfig, Simulator
from tests.clitools import run_cli
from tests.pulltools import params, pull

#: one archive, key and day's bundle for the module's tests (module fixtures):
#: built once, so all on one pytest-xdist worker (dev.sh runs --dist loadgroup)
pytestmark = pytest.mark.xdist_group("report")

DAY = date(2025, 2, 1)
PASSPHRASE = "report tests"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", PASSPHRASE)
        yield keys.load_or_create(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    sim = Simulator(SimConfig(rows_per_interval=2))
    sim.start()
    try:
        arc = tmp_path_factory.mktemp("archive") / "a.sqlite3"
        pull(
            sim,
            arc,
            params(
                ["interactionSegments", "workflowTrace", "agent", "queue"], "20250201", "20250201"
            ),
        )
    finally:
        sim.stop()
    return arc


@pytest.fixture(scope="module")
def bundle(archive, signing, tmp_path_factory):
    """Read in windows of about 60 segment rows, rendered in parts of at most 40
    interactions by two render processes, then joined."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "PART_SIZE", 40)
        mp.setattr(scope_module, "WINDOW_ROWS", 60)  # several windows a day
        out = tmp_path_factory.mktemp("bundle") / "bundle"
        lines: list[str] = []
        result = drive(
            export_bundle(archive, Scope(DAY, DAY), out, signing, workers=2), lines.append
        )
    result.lines = lines
    return result


@pytest.fixture(scope="module")
def pdf(bundle):
    reader = PdfReader(bundle.path / "data" / "report.pdf")
    texts = [p.extract_text() for p in reader.pages]
    return reader, texts


def _records(bundle) -> list[dict]:
    path = bundle.path / "data" / "records.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _outline(reader: PdfReader) -> list[tuple[str, int, list]]:
    """(title, page index, children) for the outline, recursively."""
    out: list[tuple[str, int, list]] = []
    for item in reader.outline:
        if isinstance(item, list):
            title, page, _ = out[-1]
            out[-1] = (title, page, _children(reader, item))
        else:
            out.append((item.title, reader.get_destination_page_number(item), []))
    return out


def _children(reader: PdfReader, items: list) -> list:
    out: list[tuple[str, int, list]] = []
    for item in items:
        if isinstance(item, list):
            title, page, _ = out[-1]
            out[-1] = (title, page, _children(reader, item))
        else:
            out.append((item.title, reader.get_destination_page_number(item), []))
    return out


def _front_pages(reader: PdfReader) -> int:
    """Pages before the first interaction (the front matter)."""
    interactions = next(t for t in _outline(reader) if t[0].startswith("Interactions ("))
    return interactions[1]


# -- the report ---------------------------------------------------------------------------------
def test_rendered_in_parts_with_progress(bundle):
    assert bundle.interactions > 3 * 40  # several parts, so joining is exercised
    progress = [x for x in bundle.lines if x.startswith("Rendering the report:")]
    assert len(progress) >= 3
    assert progress[-1].startswith(
        f"Rendering the report: {bundle.interactions:,} of {bundle.interactions:,} interactions"
    )
    assert re.search(r"\d[\d,]* pages", progress[-1])
    assert any(x.startswith("Joining") for x in bundle.lines)


@pytest.mark.slow
def test_bundle_verifies_and_pdf_signature_is_valid(bundle, signing):
    rep = verify_bundle(bundle.path, TrustPolicy.local(signing.cert_path.parent))
    assert rep.ok, rep.summary()
    val = subprocess.run(
        [
            str(Path(sys.executable).parent / "pyhanko"),
            "sign",
            "validate",
            "--pretty-print",
            "--trust",
            "signer.pem",
            "data/report.pdf",
        ],
        cwd=bundle.path,
        capture_output=True,
        text=True,
    )
    assert val.returncode == 0 and "judged VALID" in val.stdout, val.stdout + val.stderr
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "archiver",
            "verify",
            str(bundle.path),
            "--key-dir",
            str(signing.cert_path.parent),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert out.returncode == 0 and out.stdout.startswith("VERIFIED")


def test_page_numbers_and_running_header(bundle, pdf):
    _reader, texts = pdf
    n = len(texts)
    assert n == bundle.pages
    for i, text in enumerate(texts, 1):
        assert f"Page {i:,} of {n:,}" in text
        if i == 1:
            assert "Scope: 2025" not in text  # the cover carries no running header
        else:
            assert f"Audit bundle {bundle.bundle_id}" in text, i
            assert "Scope: 2025-02-01 00:00 – 23:45 UTC, last interval included" in text, i


def test_outline_has_one_entry_per_day_and_per_interaction(bundle, pdf):
    reader, texts = pdf
    outline = _outline(reader)
    titles = [t for t, _, _ in outline]
    assert titles[:2] == ["Cover", "Contents"]
    assert {
        "Summary",
        "How to read this report",
        "Chain of custody",
        "Index of interactions",
    } <= set(titles)
    top = next(t for t in outline if t[0].startswith("Interactions ("))
    days = top[2]
    assert [d[0] for d in days] == [f"2025-02-01 · {bundle.interactions:,} interactions"]
    ids = [t.split(" · ")[-1] for t, _, _ in days[0][2]]
    segs = [r for r in _records(bundle) if r["dataset"] == "interactionSegments"]
    assert sorted(ids) == sorted({r["values"]["INTERACTION_ID"] for r in segs})
    assert len(ids) == bundle.interactions
    for title, page, _ in days[0][2]:
        assert f"Interaction {title.split(' · ')[-1]}" in texts[page]


def test_index_page_numbers_point_at_the_interaction(bundle, pdf):
    reader, texts = pdf
    index_at = next(p for t, p, _ in _outline(reader) if t == "Index of interactions")
    entries = []
    for text in texts[index_at:]:
        entries += re.findall(
            r"\b(00ad[0-9a-f]{22})\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+([\d,]+)\b", text
        )
    assert len(entries) == bundle.interactions
    ids = [e[0] for e in entries]
    assert ids[0] == min(ids) and len(set(ids)) == len(ids)  # by id, down the columns
    for iid, _start, page in entries:
        assert f"Interaction {iid}" in texts[int(page.replace(",", "")) - 1], iid


def test_contents_page_numbers(pdf):
    reader, texts = pdf
    contents = _flat(texts[1])
    for title, page, _ in _outline(reader):
        if title in (
            "Summary",
            "How to read this report",
            "Chain of custody",
            "Index of interactions",
        ):
            assert f"{title} {page + 1:,}" in contents, title


def _links(reader: PdfReader, page: int) -> list[int]:
    """The pages (0-based) the links of ``page`` go to, in drawing order; each must be a
    go-to a named destination of the report."""
    names = reader.named_destinations
    out = []
    for annot in reader.pages[page].get("/Annots") or []:
        action = annot.get_object()["/A"]
        assert action["/S"] == "/GoTo" and str(action["/D"]) in names, action
        out.append(reader.get_destination_page_number(names[str(action["/D"])]))
    return out


def test_contents_entries_are_links(pdf):
    reader, _texts = pdf
    outline = {title: page for title, page, _ in _outline(reader)}
    targets = _links(reader, 1)
    # title and page number of each entry link to the same place
    assert len(targets) >= 2 * 9 and targets[0::2] == targets[1::2]
    wanted = [outline[t] for t in ("Summary", "How to read this report", "Chain of custody")]
    wanted.append(outline["Index of interactions"])
    assert set(wanted) <= set(targets)
    assert outline[next(t for t in outline if t.startswith("Interactions ("))] in targets


def test_index_entries_are_links_to_their_interaction(bundle, pdf):
    reader, texts = pdf
    index_at = next(p for t, p, _ in _outline(reader) if t == "Index of interactions")
    targets = [x for page in range(index_at, len(texts)) for x in _links(reader, page)]
    assert len(targets) == 2 * bundle.interactions  # the id and the page number of each
    assert targets[0::2] == targets[1::2]
    first = min(re.findall(r"\b(00ad[0-9a-f]{22})\b", texts[index_at]))
    assert f"Interaction {first}" in texts[targets[0]]  # the first entry: the smallest id
    assert all("Interaction 00ad" in texts[p] for p in set(targets))


def test_index_pages_are_filled_alike(bundle, pdf):
    """No last index page with a row or two: the entries are spread evenly."""
    reader, texts = pdf
    index_at = next(p for t, p, _ in _outline(reader) if t == "Index of interactions")
    per_page = [len(re.findall(r"\b00ad[0-9a-f]{22}\b", text)) for text in texts[index_at:]]
    assert len(per_page) >= 2 and sum(per_page) == bundle.interactions, per_page
    assert max(per_page) - min(per_page) <= 1, per_page
    capacity = report.pdf.index_rows_per_page() * report.pdf.INDEX_GROUPS
    assert report.pdf.index_page_size(capacity + 2) == -(-(capacity + 2) // 2)  # two halves
    assert report.pdf.index_page_size(5) == 5


def test_the_cover_speaks_plain_words(pdf):
    _reader, texts = pdf
    cover = _flat(texts[0])
    assert "`" not in cover and "walk" not in cover and "pyHanko" not in cover
    assert "the 15-minute interval that starts at a request's end time" in cover


def _hms(s: float) -> str:
    s = round(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _cells(group: list[dict]) -> str:
    """The summary row's numbers, recomputed from the rows (independently of the code)."""
    n = len(group)
    out = [f"{len({s['INTERACTION_ID'] for s in group}):,}", f"{n:,}"]
    for col in ("WAIT_TIME", "TIME_INTERACTING", "HOLD_TIME", "WRAP_UP_TIME"):
        total = sum(int(s[col] or 0) for s in group)
        out += [_hms(total), _hms(total / n)]
    out.append(f"{sum(1 for s in group if s['TRANSFER_LOCATION'] or s['XFER_LOC_QUEUE_ID']):,}")
    out.append(f"{sum(1 for s in group if s['STATUS'] == 'abandoned'):,}")
    return " ".join(out)


def test_summary_equals_a_recomputation_from_the_rows(bundle, pdf):
    reader, texts = pdf
    front = _flat(" ".join(texts[: _front_pages(reader)]))
    segs = [r["values"] for r in _records(bundle) if r["dataset"] == "interactionSegments"]
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for s in segs:
        groups["day"][s["STARTTIME_UTC"][:10]].append(s)
        groups["queue"][s["QUEUE_ID"]].append(s)
        groups["agent"][s["USER_ID"] or "(no agent)"].append(s)
        groups["channel"][s["COMM_TYPE"]].append(s)
    assert len(groups["queue"]) > 3 and len(groups["agent"]) > 10
    for kind, by_key in groups.items():
        for key, rows in by_key.items():
            label = key if kind in ("day", "channel") else ""
            assert f"{label} {_cells(rows)}".strip() in front, (kind, key)
    assert f"All {_cells(segs)}" in front


def test_agent_and_queue_names_are_resolved(archive, bundle, pdf):
    reader, texts = pdf
    conn = sqlite3.connect(archive)
    names = {
        v["AGENT_ID"]: v["AGENT_NAME"]
        for (j,) in conn.execute("SELECT values_json FROM record_values WHERE dataset='agent'")
        for v in [json.loads(j)]
    }
    conn.close()
    segs = [r["values"] for r in _records(bundle) if r["dataset"] == "interactionSegments"]
    users = {s["USER_ID"] for s in segs if s["USER_ID"]}
    resolved = users & set(names)
    assert resolved  # the simulator's agents appear in the agent rows
    front = _flat(" ".join(texts[: _front_pages(reader)]))
    assert "resolved from archived agent rows" in front
    for uid in resolved:
        assert f"{_flat(names[uid])} {uid}" in front  # summary by agent: name, then the id
    # in an interaction's segments table the agent is named, not shown as an id
    body = _flat(" ".join(texts[_front_pages(reader) :]))
    some = sorted(resolved)[:5]
    assert all(_flat(names[u]) in body for u in some)


def test_segment_start_and_durations_are_derived_and_labelled(bundle, pdf):
    reader, texts = pdf
    segs = [r["values"] for r in _records(bundle) if r["dataset"] == "interactionSegments"]
    s = next(x for x in segs if int(x["HOLD_TIME"]) > 0)
    end = datetime.fromisoformat(s["END_TIME"].replace("Z", "+00:00"))
    handled = int(s["WAIT_TIME"]) + int(s["HOLD_TIME"]) + int(s["TIME_INTERACTING"])
    start = end - timedelta(seconds=handled)
    page = next(t for t in texts if f"Interaction {s['INTERACTION_ID']}" in t)
    flat = _flat(page)
    assert f"{start:%H:%M:%S} {s['END_TIME']} {_hms(handled)}" in flat
    assert "Start (derived)" in flat and "(derived)" in flat
    front = _flat(" ".join(texts[: _front_pages(reader)]))
    assert "END_TIME − (WAIT_TIME + HOLD_TIME + TIME_INTERACTING)" in front


# -- exact scope and empty selections (through the CLI) -----------------------------------------
#: the passphrase of the throwaway key each export below makes in tmp_path / "k"
KEY = {"ARCHIVER_KEY_PASSPHRASE": "pw"}


@pytest.fixture
def archive_copy(archive, tmp_path):
    """An export writes its custody entry: a copy per test that exports."""
    dst = tmp_path / "copy.sqlite3"
    src, d = sqlite3.connect(archive), sqlite3.connect(dst)
    with d:
        src.backup(d)
    src.close()
    d.close()
    return dst


def test_one_hour_export_holds_only_that_hours_interactions(archive_copy, tmp_path):
    out = run_cli(
        "export",
        "--archive",
        archive_copy,
        "--key-dir",
        tmp_path / "k",
        "--from",
        "202502010400",
        "--to",
        "2025-02-01T04:45Z",
        "--out",
        tmp_path / "b",
        env=KEY,
    )
    assert out.returncode == 0, out.stderr
    assert "2025-02-01 04:00 – 04:45 UTC, last interval included" in out.stderr  # said first
    rows = [
        json.loads(x) for x in (tmp_path / "b" / "data" / "records.jsonl").read_text().splitlines()
    ]
    segs = [r["values"] for r in rows if r["dataset"] == "interactionSegments"]
    assert segs and all(s["STARTTIME_UTC"].startswith("2025-02-01T04:") for s in segs)
    conn = sqlite3.connect(archive_copy)
    want = {
        json.loads(v)["INTERACTION_ID"]
        for (v,) in conn.execute(
            "SELECT v.values_json FROM latest r JOIN record_values v ON v.record_id = r.record_id "
            "WHERE r.dataset='interactionSegments' "
            "AND r.interval_start BETWEEN '202502010400' AND '202502010445'"
        )
    }
    conn.close()
    assert {s["INTERACTION_ID"] for s in segs} == want
    info = (tmp_path / "b" / "bag-info.txt").read_text()
    assert "one of the 4 intervals 2025-02-01 04:00 – 04:45 UTC, last interval included" in info
    assert "Archiver-Coverage-Gaps: 0" in info
    cover = _flat(PdfReader(tmp_path / "b" / "data" / "report.pdf").pages[0].extract_text())
    assert "2025-02-01 04:00 – 04:45 UTC, last interval included" in cover
    assert verify_bundle(tmp_path / "b", TrustPolicy.local(tmp_path / "k")).ok


@pytest.mark.parametrize("start", ["202502010407", "2025-02-01T04:00:30Z"])
def test_a_time_off_the_15_minute_marks_is_refused(archive, tmp_path, start):
    out = run_cli(
        "export",
        "--archive",
        archive,
        "--key-dir",
        tmp_path / "k",
        "--from",
        start,
        "--to",
        "202502010445",
        "--out",
        tmp_path / "b",
        env=KEY,
    )
    assert out.returncode == 2
    assert "15-minute mark" in out.stderr and "--from" in out.stderr
    assert not (tmp_path / "b").exists()


def test_an_empty_selection_is_refused_unless_allowed(archive_copy, tmp_path):
    out = run_cli(
        "export",
        "--archive",
        archive_copy,
        "--key-dir",
        tmp_path / "k",
        "--from",
        "20250305",
        "--to",
        "20250305",
        "--out",
        tmp_path / "b",
        # no passphrase anywhere: an empty scope is still said first (3, not 4), and no
        # key is made for it
        env={
            "ARCHIVER_KEY_PASSPHRASE": None,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        },
    )
    assert out.returncode == 3, out.stderr
    assert "nothing archived is in scope" in out.stderr and "--allow-empty" in out.stderr
    assert not (tmp_path / "b").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".b.partial")]
    assert not (tmp_path / "k").exists()
    out = run_cli(
        "export",
        "--archive",
        archive_copy,
        "--key-dir",
        tmp_path / "k",
        "--from",
        "20250305",
        "--to",
        "20250305",
        "--allow-empty",
        "--out",
        tmp_path / "b",
        env=KEY,
    )
    assert out.returncode == 0, out.stderr
    assert "0 interactions" in out.stdout and re.search(r"\b[\d,]+ gaps?\b", out.stdout)
    assert verify_bundle(tmp_path / "b", TrustPolicy.local(tmp_path / "k")).ok
    text = _flat(PdfReader(tmp_path / "b" / "data" / "report.pdf").pages[0].extract_text())
    assert "0 interactions" in text and re.search(r"\b[\d,]+ gaps?\b", text)


def test_empty_selection_raises_before_anything_is_written(archive, signing, tmp_path):
    gen = export_bundle(archive, Scope(date(2025, 3, 5), date(2025, 3, 5)), tmp_path / "b", signing)
    with pytest.raises(EmptySelection):
        drive(gen)
    assert list(tmp_path.iterdir()) == []


def test_windows_are_whole_intervals_of_one_day():
    from archiver.export.scope import Extent

    ext = Extent(intervals=[("202502012300", 30), ("202502012315", 40), ("202502012330", 20),
                            ("202502020000", 10), ("202502020015", 500), ("202502020030", 1)])  # fmt: skip
    assert ext.windows(60) == [
        ("202502012300", "202502012300"),
        ("202502012315", "202502012330"),
        ("202502020000", "202502020000"),
        ("202502020015", "202502020015"),  # alone over the limit: a window of its own
        ("202502020030", "202502020030"),
    ]
    assert ext.windows(10_000) == [
        ("202502012300", "202502012330"),
        ("202502020000", "202502020030"),
    ]


def test_scope_window_and_as_dict():
    s = Scope(datetime(2025, 2, 1, 4, 0, tzinfo=UTC), datetime(2025, 2, 1, 4, 45, tzinfo=UTC))
    assert s.window() == "2025-02-01 04:00 – 04:45 UTC, last interval included"
    assert s.intervals() == 4
    assert s.as_dict()["first_interval"] == "202502010400"
    assert s.as_dict()["last_interval"] == "202502010445"
    whole = Scope(DAY, DAY)
    assert whole.window() == "2025-02-01 00:00 – 23:45 UTC, last interval included"
    assert whole.intervals() == 96
    two = Scope(datetime(2025, 2, 2, 22, 0, tzinfo=UTC), datetime(2025, 2, 3, 1, 45, tzinfo=UTC))
    assert two.window() == "2025-02-02 22:00 – 2025-02-03 01:45 UTC, last interval included"
    one = Scope(datetime(2025, 2, 2, 22, 0, tzinfo=UTC), datetime(2025, 2, 2, 22, 0, tzinfo=UTC))
    assert one.window() == "2025-02-02 22:00 UTC, one interval"


# -- layout: headings with their tables, continued tables, the joiner ---------------------------
def _render(tmp_path: Path, story: list, name: str = "t.pdf") -> list[str]:
    from archiver.export import pdf as rpdf

    path = tmp_path / name
    rpdf.render_story(path, story, rpdf.Decor("B-1", "scope", "Section"))
    return [p.extract_text() for p in PdfReader(path).pages]


def _rows(n: int, tag: str) -> list[list[str]]:
    return [[f"{tag}{i:03d}", "value", "more"] for i in range(n)]


def test_a_heading_at_the_foot_of_a_page_moves_with_its_table(tmp_path):
    from reportlab.platypus import Paragraph, Spacer

    from archiver.export import pdf as rpdf

    st = rpdf.styles()
    free = rpdf.PAGE[1] - rpdf.TOP - rpdf.BOTTOM - 12  # the frame's padding
    for room in (8, 20, 40):  # points left under the filler: heading fits, the rows do not
        story = [
            Spacer(1, free - room),
            rpdf.HeadedTable(
                [Paragraph("Workflow trace HEADING", st["h3"])],
                rpdf._table(["A", "B", "C"], _rows(6, "row"), [40, 40, 40]),
            ),
        ]
        pages = _render(tmp_path, story)
        at = next(i for i, t in enumerate(pages) if "Workflow trace HEADING" in t)
        assert "row000" in pages[at] and "row005" in pages[at], room  # whole, on one page


def test_a_long_table_continues_with_its_header_and_no_lone_row(tmp_path):
    from reportlab.platypus import Paragraph

    from archiver.export import pdf as rpdf

    st = rpdf.styles()
    for n in range(60, 140, 7):  # many lengths: the last page's remainder varies
        story = [
            rpdf.HeadedTable(
                [Paragraph("Chain of custody", st["h2"])],
                rpdf._table(["When (UTC)", "Event", "Details"], _rows(n, "entry"), [40, 40, 100]),
            )
        ]
        pages = [t for t in _render(tmp_path, story) if "entry" in t]
        assert len(pages) >= 2, n
        for t in pages:
            assert "When (UTC)" in t, n  # the header row repeated
            assert len(re.findall(r"entry\d{3}", t)) >= 2, n  # never one row alone
        assert sum(len(re.findall(r"entry\d{3}", t)) for t in pages) == n


def test_joined_sections_keep_every_page_and_get_numbers_and_outline(tmp_path):
    from reportlab.platypus import PageBreak, Paragraph

    from archiver.export import pdf as rpdf
    from archiver.export.pdfjoin import Joiner, Mark

    st = rpdf.styles()
    paths = []
    for k, n in enumerate((1, 3, 2)):
        story = []
        for i in range(n):
            story += [
                Paragraph(rpdf.rich(f"Section {k} page {i} 日本語 Ünal"), st["h2"]),
                PageBreak(),
            ]
        paths.append(tmp_path / f"s{k}.pdf")
        rpdf.render_story(paths[-1], story[:-1], rpdf.Decor("B-1", "scope", f"S{k}"))
    out = tmp_path / "joined.pdf"
    with out.open("wb") as f:
        j = Joiner(f, 6, rpdf.PAGE)
        firsts = [j.add(p) for p in paths]
        kids = (Mark(f"child {i} · é", firsts[1] + i, 300.0) for i in range(3))
        j.finish(
            [
                Mark("One", firsts[0]),
                Mark("Two", firsts[1], None, kids, open=True),
                Mark("Three", 5),
            ],
            "T",
            "S",
        )
    reader = PdfReader(out)
    texts = [p.extract_text() for p in reader.pages]
    assert len(texts) == 6 and firsts == [0, 1, 4]
    for i, t in enumerate(texts):
        assert f"Page {i + 1} of 6" in t
    assert "Section 1 page 2 日本語 Ünal" in texts[3]
    outline = _outline(reader)
    assert [(t, p) for t, p, _ in outline] == [("One", 0), ("Two", 1), ("Three", 5)]
    assert [(t, p) for t, p, _ in outline[1][2]] == [
        ("child 0 · é", 1),
        ("child 1 · é", 2),
        ("child 2 · é", 3),
    ]
    assert subprocess.run(["pdfinfo", str(out)], capture_output=True).returncode in (0, 127)


def _render_workers() -> list[int]:
    """Live render processes started by this test process."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes()
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"archiver.export.render_worker" in cmd and ppid == os.getpid():
            out.append(int(d.name))
    return out


@pytest.mark.slow
def test_cancel_while_workers_render_leaves_nothing(archive, signing, tmp_path, monkeypatch):
    from archiver.jobs import Cancel, Cancelled

    monkeypatch.setattr(report, "PART_SIZE", 20)
    cancel = Cancel()
    gen = export_bundle(archive, Scope(DAY, DAY), tmp_path / "c", signing, cancel=cancel, workers=2)
    with pytest.raises(Cancelled):
        for line in gen:
            if line.startswith("Rendering the report:"):
                cancel.set()
    assert list(tmp_path.iterdir()) == []
    assert _render_workers() == []


def test_a_render_process_reports_its_failure(archive, tmp_path):
    from archiver.archive.queries.reader import Reader
    from archiver.export import pdf as rpdf
    from archiver.export.scope import iter_windows, measure

    scope = Scope(DAY, DAY)
    with Reader(archive) as db:
        day = next(iter_windows(db, scope, measure(db, scope)))
    workers = report._Workers(1)
    try:
        good = rpdf.PartSpec(
            str(tmp_path / "ok.pdf"), "B", "s", DAY, day.interactions[:3], rpdf.NameBook()
        )
        workers.send(7, good)
        got = None
        while got is None:
            got = workers.receive(0.5)
        assert got[0] == 7 and got[1].pages >= 1 and (tmp_path / "ok.pdf").is_file()
        assert [a[0] for a in got[1].anchors] == [it.id for it in day.interactions[:3]]
        bad = rpdf.PartSpec(
            str(tmp_path / "no" / "such" / "x.pdf"),
            "B",
            "s",
            DAY,
            day.interactions[:1],
            rpdf.NameBook(),
        )
        workers.send(8, bad)
        with pytest.raises(report.RenderError, match="No such file"):
            while workers.receive(0.5) is None:
                pass
    finally:
        workers.close()
    assert _render_workers() == []


def test_keys_create_subject_names_the_signer_everywhere(archive_copy, tmp_path):
    """`keys create --subject` is the signer the cover, bag-info.txt and `archiver verify`
    name (not `CN=Archiver audit signer (user@host)`); `keys show` reads it without the
    key's passphrase."""
    subject = "CN=Compliance Office,O=Example Ltd,C=GB"
    kd = tmp_path / "k"
    made = run_cli("keys", "create", "--subject", subject, "--key-dir", kd, env=KEY)
    assert made.code == 0, made.stderr
    assert f"Subject: {subject}" in made.stdout
    no_passphrase = {
        "ARCHIVER_KEY_PASSPHRASE": None,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    shown = run_cli("keys", "show", "--key-dir", kd, env=no_passphrase)
    assert shown.code == 0, shown.stderr
    assert f"Subject: {subject}" in shown.stdout and "SHA-256 fingerprint: " in shown.stdout
    out = run_cli(
        "export", "--archive", archive_copy, "--key-dir", kd, "--from", "202502010400",
        "--to", "202502010445", "--out", tmp_path / "b", env=KEY,
    )  # fmt: skip
    assert out.code == 0, out.stderr
    cover = _flat(PdfReader(tmp_path / "b" / "data" / "report.pdf").pages[0].extract_text())
    assert subject in cover and "Archiver audit signer" not in cover
    assert f"Signer-Subject: {subject}" in (tmp_path / "b" / "bag-info.txt").read_text()
    verified = run_cli("verify", tmp_path / "b", "--key-dir", kd)
    assert verified.code == 0 and f"Signer: {subject}" in verified.stdout


@pytest.mark.parametrize(
    ("subject", "says"),
    [
        ("Compliance Office", "not a distinguished name"),
        ("O=Example Ltd", "names no CN"),
        ("CN=x,C=GBR", "not a distinguished name"),
        ("CN=", "not a distinguished name"),
    ],
)
def test_keys_create_refuses_a_subject_that_names_no_signer(tmp_path, subject, says):
    out = run_cli("keys", "create", "--subject", subject, "--key-dir", tmp_path / "k", env=KEY)
    assert out.code == 2 and says in out.stderr, out.stderr
    assert not (tmp_path / "k").exists()
