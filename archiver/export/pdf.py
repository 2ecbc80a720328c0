"""The bundle's report, rendered in sections with reportlab and joined by
:mod:`archiver.export.pdfjoin` (which adds "Page x of y", the outline and the index links).

Sections: the front matter (cover, contents, summary, notes, chain of custody), one section
per part of a day's interactions (rendered in worker processes where that pays), and the
index of interactions. Embedded Unicode fonts (DejaVu with a CJK fallback); a running
header with the scope and the bundle id on every page after the cover.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from archiver.counts import INTERACTIONS, LATEST, RECORDS
from archiver.export import derive
from archiver.export.scope import Interaction
from archiver.resources import resource

PAGE = landscape(A4)
MARGIN = 12 * mm
TOP = 17 * mm  # the running header sits above the frame
BOTTOM = 14 * mm
FRAME_WIDTH = PAGE[0] - 2 * MARGIN
GREY = colors.HexColor("#546e7a")
HEAD_BLUE = colors.HexColor("#1f4e79")

#: (header, width mm, kind) — kind picks how the cell is filled (see segment_cells)
SEGMENT_COLUMNS = [
    ("#", 6),
    ("Queue", 30),
    ("Agent", 32),
    ("Status", 16),
    ("Start (derived)", 17),
    ("End (END_TIME)", 32),
    ("Duration", 15),
    ("Wait s", 12),
    ("Hold s", 12),
    ("Talk s", 12),
    ("Wrap s", 12),
    ("Transfer to", 23),
    ("Completion", 17),
    ("COMMIT_TS", 37),
]
TRACE_COLUMNS = [
    ("Start (UTC)", "UPDATEHISTORYITEM_STARTTIME", 38),
    ("Type", "UPDATEHISTORYITEM_TYPE", 24),
    ("Label", "UPDATEHISTORYITEM_LABEL", 30),
    ("Exit port", "UPDATEHISTORYITEM_EXITPORT", 16),
    ("Duration", "FORMATTED_HISTORYITEM_DURATION", 22),
    ("Prompt", "UPDATEHISTORYITEM_PROMPT", 64),
    ("Input", "UPDATEHISTORYITEM_INPUT", 22),
    ("End event", "UPDATEHISTORYITEM_ENDEVENT", 24),
]
SUMMARY_COLUMNS = [
    ("Interactions", 21),
    ("Segments", 17),
    ("Wait total", 17),
    ("Wait avg", 14),
    ("Talk total", 17),
    ("Talk avg", 14),
    ("Hold total", 17),
    ("Hold avg", 14),
    ("Wrap total", 17),
    ("Wrap avg", 15),
    ("Transfers", 17),
    ("Abandons", 17),
]
SUMMARY_NAME, SUMMARY_ID = 33, 43  # the label columns: 76 mm with the numbers' 197


@functools.cache
def register_fonts() -> frozenset[int]:
    """Register the embedded fonts; returns the code points DejaVu Sans covers. Streams are
    written Flate-compressed without the ASCII85 layer (binary PDF: smaller, and ASCII85
    costs about 6 % of the render in pure Python)."""
    rl_config.useA85 = 0
    fonts = resource("fonts")
    regular = TTFont("DejaVu", str(fonts / "DejaVuSans.ttf"))
    pdfmetrics.registerFont(regular)
    pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(fonts / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFont(TTFont("Fallback", str(fonts / "DroidSansFallback.ttf")))
    pdfmetrics.registerFontFamily(
        "DejaVu", normal="DejaVu", bold="DejaVu-Bold", italic="DejaVu", boldItalic="DejaVu-Bold"
    )
    return frozenset(regular.face.charToGlyph)


def rich(text: str) -> str:
    """Paragraph markup for any text: XML-escaped, newlines kept, characters DejaVu lacks
    (CJK) set in the fallback font."""
    covered = register_fonts()
    out: list[str] = []
    run: list[str] = []
    fallback = False

    def flush() -> None:
        if run:
            chunk = escape("".join(run)).replace("\n", "<br/>")
            out.append(f'<font name="Fallback">{chunk}</font>' if fallback else chunk)
            run.clear()

    for ch in text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    "):
        needs = ord(ch) not in covered and ch not in "\n "
        if needs != fallback:
            flush()
            fallback = needs
        run.append(ch)
    flush()
    return "".join(out)


@functools.cache
def styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = ParagraphStyle("base", fontName="DejaVu", fontSize=8.5, leading=10.5, alignment=TA_LEFT)
    return {
        "base": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=7, leading=8.5),
        "num": ParagraphStyle("num", parent=base, fontSize=7, leading=8.5, alignment=TA_RIGHT),
        "h1": ParagraphStyle(
            "h1", parent=base, fontName="DejaVu-Bold", fontSize=16, leading=20, spaceAfter=6
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName="DejaVu-Bold",
            fontSize=11.5,
            leading=14,
            spaceBefore=8,
            spaceAfter=3,
        ),
        "h3": ParagraphStyle(
            "h3",
            parent=base,
            fontName="DejaVu-Bold",
            fontSize=9,
            leading=11,
            spaceBefore=4,
            spaceAfter=2,
        ),
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9),
        "gap": ParagraphStyle(
            "gap", parent=base, fontName="DejaVu-Bold", fontSize=7.5, leading=9, textColor="#b71c1c"
        ),
        "toc": ParagraphStyle("toc", parent=base, fontSize=9, leading=12),
    }


@dataclass
class ReportMeta:
    bundle_id: str
    tenant: str
    generated_at: str
    tool_version: str
    archive_id: str
    chain_head: str
    audit_head: str
    fingerprint: str
    signer: str
    redaction: str
    redacted_fields: list[str]
    custody: list[dict[str, str]] = field(default_factory=list)
    scope: str = ""  # Scope.describe()
    scope_short: str = ""  # the running header's form
    versions: str = "latest"  # latest | all: which records the bundle holds
    chain_pages: int = 0  # pages the page chain head covers
    audit_entries: int = 0  # entries the audit chain head covers


# -- cells and tables ---------------------------------------------------------------------------
CELL_FONT, CELL_SIZE, CELL_PAD = "DejaVu", 7, 2


def _fits(value: str, room: float, font: str = CELL_FONT) -> bool:
    """True when ``value`` fits on one line of ``room`` points (no DejaVu glyph is wider
    than 1 em, so short values need no measuring)."""
    return len(value) * CELL_SIZE <= room or pdfmetrics.stringWidth(value, font, CELL_SIZE) <= room


def cell(value: str, width_mm: float, style: str = "cell") -> str | Paragraph:
    """A plain string where it fits on one line in DejaVu (fast to lay out and draw), else
    a Paragraph that wraps (and sets CJK in the fallback font)."""
    if not value:
        return ""
    covered = register_fonts()
    if (
        value.isprintable()
        and all(ord(c) in covered for c in value)
        and _fits(value, width_mm * mm - 2 * CELL_PAD)
    ):
        return value
    return Paragraph(rich(value), styles()[style])


def _label(text: str, width_mm: float) -> str:
    """A header label, broken at spaces onto as many lines as its column needs."""
    room = width_mm * mm - 2 * CELL_PAD
    lines: list[str] = []
    for word in text.split(" "):
        if lines and _fits(f"{lines[-1]} {word}", room, "DejaVu-Bold"):
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[str | Paragraph]],
    widths_mm: Sequence[float],
    *,
    right: int | None = None,
    row_height: float | None = None,
) -> Table:
    """A table with a repeated header row; cells given as strings become cells that fit
    (see :func:`cell`). ``right``: columns from this index on are right-aligned numbers."""
    data: list[list[Any]] = [[_label(h, w) for h, w in zip(header, widths_mm, strict=True)]]
    for row in rows:
        data.append(
            [
                cell(v, w, "num" if right is not None and i >= right else "cell")
                if isinstance(v, str)
                else v
                for i, (v, w) in enumerate(zip(row, widths_mm, strict=True))
            ]
        )
    n = len(data)
    t = Table(
        data,
        colWidths=[w * mm for w in widths_mm],
        repeatRows=1,
        rowHeights=[None] + [row_height] * (n - 1) if row_height else None,
        hAlign="LEFT",
        # never a header alone, nor a lone row, at either side of a page break
        rowSplitRange=(3, n - 2) if n >= 5 else None,
    )
    cmds: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_BLUE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 0), (-1, 0), "DejaVu-Bold", CELL_SIZE, 8.5),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("FONT", (0, 1), (-1, -1), CELL_FONT, CELL_SIZE, 8.5),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0bec5")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f2f6fa")]),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PAD),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if right is not None:
        cmds.append(("ALIGN", (right, 1), (-1, -1), "RIGHT"))
    t.setStyle(TableStyle(cmds))
    return t


def _kv(rows: list[tuple[str, str]], key_mm: float = 48, val_mm: float = 220) -> Table:
    st = styles()
    data = [
        [Paragraph(f"<b>{escape(k)}</b>", st["base"]), Paragraph(rich(v), st["base"])]
        for k, v in rows
    ]
    t = Table(data, colWidths=[key_mm * mm, val_mm * mm], hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cfd8dc")),
            ]
        )
    )
    return t


# -- flowables that keep things together --------------------------------------------------------
class Anchor(Flowable):
    """Zero-size marker: records ``(key, page, y)`` where it lands (outline, index, contents)."""

    def __init__(self, key: str, sink: list[tuple[str, int, float]]) -> None:
        super().__init__()
        self.key = key
        self.sink = sink

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        _, y = self.canv.absolutePosition(0, 0)
        self.sink.append((self.key, self.canv.getPageNumber(), round(y, 1)))


class Line(Flowable):
    """One line of plain text in a paragraph style, optionally followed by a smaller grey
    tail: what most headings are, at a fraction of a Paragraph's cost (no markup, no
    wrapping). :func:`line` decides when one will do."""

    def __init__(self, text: str, style: ParagraphStyle, tail: str = "") -> None:
        super().__init__()
        self.text = text
        self.style = style
        self.tail = tail

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return availWidth, float(self.style.leading)

    def getSpaceBefore(self) -> float:
        return float(self.style.spaceBefore)

    def getSpaceAfter(self) -> float:
        return float(self.style.spaceAfter)

    def draw(self) -> None:
        st, c = self.style, self.canv
        y = st.leading - st.fontSize
        c.setFillColor(st.textColor)
        c.setFont(st.fontName, st.fontSize)
        c.drawString(0, y, self.text)
        if self.tail:
            x = pdfmetrics.stringWidth(self.text, st.fontName, st.fontSize)
            c.setFillColor(GREY)
            c.setFont("DejaVu", 7)
            c.drawString(x, y, self.tail)


def line(text: str, style: ParagraphStyle, tail: str = "") -> Flowable:
    """A :class:`Line` when the text is printable, in DejaVu and fits the frame's width; a
    Paragraph (wrapping, CJK in the fallback font) otherwise."""
    covered = register_fonts()
    whole = text + tail
    width = pdfmetrics.stringWidth(text, style.fontName, style.fontSize)
    width += pdfmetrics.stringWidth(tail, "DejaVu", 7)
    if (
        whole.isprintable()
        and all(ord(ch) in covered for ch in whole)
        and width <= FRAME_WIDTH - 14
    ):
        return Line(text, style, tail)
    markup = rich(text) + (
        f"<font name='DejaVu' size='7' color='#546e7a'>{rich(tail)}</font>" if tail else ""
    )
    return Paragraph(markup, style)


class HeadedTable(Flowable):
    """Headings kept with their table. The whole block when it fits in the space left; moved
    to the next page when it would fit on a page of its own; otherwise the headings with the
    first rows (at least two), the table continuing with its header row repeated."""

    SLACK = 2.0  # points kept free against rounding

    def __init__(self, head: list[Flowable], table: Table) -> None:
        super().__init__()
        self.head = head
        self.table = table
        self._layout: list[tuple[Flowable, float, float]] = []  # (flowable, gap above, height)

    def getSpaceBefore(self) -> float:
        return float(self.head[0].getSpaceBefore()) if self.head else 0.0

    def _measure(self, aW: float, aH: float) -> tuple[float, float]:
        """(height of the headings with their gaps, height of the table)."""
        self._layout = []
        prev_after = 0.0
        hh = 0.0
        for i, f in enumerate(self.head):
            _, h = f.wrapOn(self.canv, aW, aH)
            gap = max(prev_after, f.getSpaceBefore()) if i else 0.0
            self._layout.append((f, gap, h))
            hh += gap + h
            prev_after = f.getSpaceAfter()
        _, th = self.table.wrapOn(self.canv, aW, aH)
        self._table_gap = prev_after
        return hh, th + prev_after

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        hh, th = self._measure(availWidth, availHeight)
        self._height = hh + th
        if self._height <= availHeight:
            return availWidth, self._height
        return availWidth, 0xFFFFFF  # does not fit: the frame asks split()

    def draw(self) -> None:
        y = self._height
        for f, gap, h in self._layout:
            y -= gap + h
            f.drawOn(self.canv, 0, y)
        y -= self._table_gap + self.table._height
        self.table.drawOn(self.canv, 0, y)

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:
        hh, th = self._measure(availWidth, availHeight)
        frame = getattr(self, "_frame", None)
        at_top = bool(getattr(frame, "_atTop", False))
        page_height = float(getattr(frame, "_height", PAGE[1] - TOP - BOTTOM))
        if hh + th <= availHeight:
            return [*self.head, self.table]
        if hh + th <= page_height - self.SLACK and not at_top:
            return []  # whole on the next page
        parts = self.table.split(availWidth, availHeight - hh - self._table_gap - self.SLACK)
        if parts:
            return [*self.head, *parts]
        return [*self.head, self.table] if at_top else []


# -- one interaction ----------------------------------------------------------------------------
@dataclass
class NameBook:
    """Agent and queue names for the ids of one section (resolved from archived rows)."""

    agents: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)

    def agent(self, uid: str) -> str:
        return self.agents.get(uid, uid)

    def queue(self, qid: str, own: str = "") -> str:
        return own or self.queues.get(qid, qid)


def segment_cells(values: dict[str, str], commit_ts: str, day: date, names: NameBook) -> list[str]:
    start = derive.segment_start(values)
    return [
        values.get("SEGMENT_NUMBER", ""),
        names.queue(values.get("QUEUE_ID", ""), values.get("QUEUE_NAME", "")),
        names.agent(values.get("USER_ID", "")),
        values.get("STATUS", ""),
        derive.clock(start, day),
        values.get("END_TIME", ""),
        derive.hms(derive.handling(values)) if start else "",
        values.get("WAIT_TIME", ""),
        values.get("HOLD_TIME", ""),
        values.get("TIME_INTERACTING", ""),
        values.get("WRAP_UP_TIME", ""),
        values.get("TRANSFER_LOCATION", ""),
        values.get("COMPLETION_DISPLAY_NAME", ""),
        commit_ts,
    ]


def interaction_line(it: Interaction, day: date) -> str:
    """Start, end and total duration (derived), channel and counts."""
    sp = derive.span(it)
    first = it.segments[0].values if it.segments else {}
    parts = []
    if sp.start:
        parts.append(f"Started {derive.clock(sp.start, None)} UTC")
    if sp.end:
        parts.append(f"ended {derive.clock(sp.end, sp.start.date() if sp.start else day)}")
    if sp.seconds is not None:
        parts.append(f"total {derive.hms(sp.seconds)} (derived)")
    if first.get("COMM_TYPE"):
        parts.append(first["COMM_TYPE"])
    parts.append(f"{len(it.segments)} segment{'s' if len(it.segments) != 1 else ''}")
    parts.append(f"{len(it.steps)} workflow step{'s' if len(it.steps) != 1 else ''}")
    return " · ".join(parts)


def interaction_story(
    it: Interaction, day: date, names: NameBook, sink: list[tuple[str, int, float]]
) -> list[Flowable]:
    """One interaction: its heading and facts kept with the segments table, then the
    workflow trace table with its heading."""
    st = styles()
    first = it.segments[0].values if it.segments else {}
    head: list[Flowable] = [
        Anchor(it.id, sink),
        line(f"Interaction {it.id}", st["h2"]),
        line(interaction_line(it, day), st["small"]),
    ]
    who = " · ".join(
        x for x in (first.get("FIRST_LAST_NAME", ""), first.get("INTERACTION_SUBJECT", "")) if x
    )
    for note in it.gaps:  # rows of a stated coverage gap: kept, and marked here
        head.append(Paragraph(rich("Coverage gap: " + note), st["gap"]))
    if who:
        head.append(line(who, st["small"]))
    if first.get("INTERACTION_NOTES"):
        head.append(line("Notes: " + first["INTERACTION_NOTES"], st["small"]))
    head.append(line(f"Segments ({len(it.segments)})", st["h3"]))
    out: list[Flowable] = [
        HeadedTable(
            head,
            _table(
                [c[0] for c in SEGMENT_COLUMNS],
                [segment_cells(s.values, s.commit_ts, day, names) for s in it.segments],
                [c[1] for c in SEGMENT_COLUMNS],
            ),
        )
    ]
    if it.steps:
        workflow = it.steps[0].values.get("WORKFLOWSESSION_WORKFLOWNAME", "")
        out.append(
            HeadedTable(
                [
                    line(
                        f"Workflow trace ({len(it.steps)} steps, workflow {workflow})",
                        st["h3"],
                        f"  · interaction {it.id}",
                    )
                ],
                _table(
                    [c[0] for c in TRACE_COLUMNS],
                    [[t.values.get(col, "") for _, col, _ in TRACE_COLUMNS] for t in it.steps],
                    [c[2] for c in TRACE_COLUMNS],
                ),
            )
        )
    else:
        out.append(Paragraph("No workflow trace is archived for this interaction.", st["small"]))
    out.append(Spacer(1, 4 * mm))
    return out


# -- pages: running header and footer -----------------------------------------------------------
def _fit(text: str, width: float, font: str = "DejaVu", size: float = 7) -> str:
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


@dataclass(frozen=True)
class Decor:
    """What every page of a section shows: the running header (scope and bundle id) and the
    section's name in the footer. "Page x of y" is added when the sections are joined."""

    bundle_id: str
    scope: str
    section: str
    cover: bool = False  # the first page is the cover: no running header there

    def __call__(self, canv: Canvas, doc: Any) -> None:
        canv.saveState()
        w, h = PAGE
        canv.setFont("DejaVu", 7)
        canv.setFillColor(GREY)
        if not (self.cover and canv.getPageNumber() == 1):
            right = f"Audit bundle {self.bundle_id}"
            rw = pdfmetrics.stringWidth(right, "DejaVu", 7)
            canv.drawString(
                MARGIN, h - 10 * mm, _fit(f"Scope: {self.scope}", w - 2 * MARGIN - rw - 8 * mm)
            )
            canv.drawRightString(w - MARGIN, h - 10 * mm, right)
            canv.setStrokeColor(colors.HexColor("#cfd8dc"))
            canv.setLineWidth(0.4)
            canv.line(MARGIN, h - 11.5 * mm, w - MARGIN, h - 11.5 * mm)
        canv.drawString(MARGIN, 7 * mm, _fit(self.section, w / 2))
        canv.restoreState()


def render_story(
    path: Path, story: list[Flowable], decor: Decor, title: str = "Audit bundle"
) -> int:
    """Write one section's PDF; returns its number of pages."""
    register_fonts()
    doc = SimpleDocTemplate(
        str(path),
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=TOP,
        bottomMargin=BOTTOM,
        title=title,
        author="archiver",
        subject=f"Audit bundle {decor.bundle_id}",
        creator="archiver",
    )
    doc.build(story, onFirstPage=decor, onLaterPages=decor)
    return int(doc.page)


# -- a part of a day's interactions (what a worker renders) -------------------------------------
@dataclass
class PartSpec:
    path: str
    bundle_id: str
    scope: str
    day: date
    interactions: list[Interaction]
    names: NameBook


@dataclass
class PartResult:
    path: str
    pages: int
    anchors: list[tuple[str, int, float]]  # (interaction id, page in the part, y)


def render_part(spec: PartSpec) -> PartResult:
    """Render one part of a day's interactions (top level: a worker process runs it)."""
    sink: list[tuple[str, int, float]] = []
    story: list[Flowable] = []
    for it in spec.interactions:
        story += interaction_story(it, spec.day, spec.names, sink)
    pages = render_story(
        Path(spec.path),
        story,
        Decor(spec.bundle_id, spec.scope, f"Interactions of {spec.day:%Y-%m-%d} (UTC)"),
    )
    return PartResult(spec.path, pages, sink)


# -- the front matter ---------------------------------------------------------------------------
@dataclass
class Front:
    """Everything the front matter states; known once every day has been read."""

    meta: ReportMeta
    interactions: int
    segments: int
    traces: int
    conflicts: int
    gaps: list[str]
    reading: str
    unplaced: int
    agents: dict[str, str]  # USER_ID → name (resolved ones only)
    queues: dict[str, str]  # QUEUE_ID → name (from queue rows)
    summary: derive.Summary = field(default_factory=derive.Summary)
    #: contents: (title, page, indent) — pages of later sections, filled in by the caller
    contents: list[tuple[str, str, int]] = field(default_factory=list)
    #: intervals of the scope walked as the previous chunk's `ending` (coverage.AT_ENDING)
    at_ending: list[str] = field(default_factory=list)
    #: segment records of the bundle in a stated gap, and the interactions marked for it
    segments_in_gaps: int = 0
    marked: int = 0


def cover_rows(f: Front) -> list[tuple[str, str]]:
    meta = f.meta
    gaps = f.gaps
    coverage = (
        "Complete: every 15-minute interval of the scope was walked to the end for both datasets (from the archive's coverage evidence)."
        if not gaps
        else f"{len(gaps)} gap(s): intervals of the scope that no finished walk covers; data for these may be missing from this bundle (listed below)."
    )
    if f.segments_in_gaps:
        coverage += (
            f" {RECORDS.of(f.segments_in_gaps, 'interactionSegments')} of this bundle lie in "
            f"these gaps (rows the archive does hold); the pages of the "
            f"{INTERACTIONS.of(f.marked)} they belong to say so."
        )
    if f.at_ending:
        coverage += (
            " Walked, received at the previous chunk's ending (the archive shows the server's "
            "answers include the interval a request ends at): " + "; ".join(f.at_ending) + "."
        )
    coverage += f" Server's reading of an interval `ending`: {f.reading}." if f.reading else ""
    held = LATEST if meta.versions == "latest" else RECORDS
    rows = [
        ("Bundle", meta.bundle_id),
        ("Generated", f"{meta.generated_at} (UTC) by archiver {meta.tool_version}"),
        ("Tenant", meta.tenant),
        ("Scope", meta.scope),
        (
            "Contents",
            f"{INTERACTIONS.of(f.interactions)}; {held.of(f.segments, 'interactionSegments')}; "
            f"{held.of(f.traces, 'workflowTrace')}",
        ),
        (
            "Time zone",
            "All timestamps are UTC exactly as the Historical API delivered them (ISO 8601 with Z); values marked derived are computed as the notes say. STARTTIME values are the tenant's local time; ROW_DATE_UTC is the UTC partition date.",
        ),
        ("Coverage", coverage),
    ]
    if f.unplaced:
        rows.append(
            (
                "Not placed",
                f"{f.unplaced:,} interactionSegments row(s) of the scope's days have no usable STARTTIME_UTC, so no interval: they cannot be placed in the window and are not in this bundle.",
            )
        )
    rows += [
        (
            "Redaction",
            f"profile '{meta.redaction}'"
            + (
                f": {', '.join(meta.redacted_fields)} replaced by [REDACTED] in this copy; the archive keeps the originals; raw pages are withheld"
                if meta.redacted_fields
                else ": none, values are exactly as archived"
            ),
        ),
        (
            "Integrity conflicts",
            f"{f.conflicts} row version(s) share key and COMMIT_TS with different content (kept, flagged)"
            if f.conflicts
            else "none",
        ),
        (
            "Archive",
            f"id {meta.archive_id}; page chain head {meta.chain_head} after {meta.chain_pages:,} "
            f"pages; audit chain head {meta.audit_head} after {meta.audit_entries:,} entries "
            "(a witness: archiver verify-archive --witness BUNDLE checks the archive still "
            "begins with them)",
        ),
        ("Signer", f"{meta.signer}; certificate SHA-256 fingerprint {meta.fingerprint}"),
        (
            "Signatures",
            "This PDF carries a PAdES signature (pyHanko). The bag's tagmanifest-sha256.txt has a detached CMS signature (tagmanifest-sha256.txt.p7s) by the same key. VERIFY.txt gives the commands to check everything with standard tools.",
        ),
    ]
    return rows


def _summary_table(
    label: Sequence[tuple[str, float]],
    rows: list[tuple[list[str], derive.Totals]],
    total: derive.Totals | None,
) -> Table:
    body = [[*lab, *t.cells()] for lab, t in rows]
    if total is not None:
        body.append([*(["All"] + [""] * (len(label) - 1)), *total.cells()])
    t = _table(
        [h for h, _ in label] + [h for h, _ in SUMMARY_COLUMNS],
        body,
        [w for _, w in label] + [w for _, w in SUMMARY_COLUMNS],
        right=len(label),
    )
    if total is not None:
        t.setStyle(TableStyle([("FONT", (0, -1), (-1, -1), "DejaVu-Bold", CELL_SIZE, 8.5)]))
    return t


def summary_story(f: Front, sink: list[tuple[str, int, float]]) -> list[Flowable]:
    st = styles()
    s = f.summary
    out: list[Flowable] = [
        Anchor("summary", sink),
        Paragraph("Summary", st["h2"]),
        Paragraph(
            "Per day, queue, agent and channel, from the rows in this bundle; the notes after the summary define every column.",
            st["small"],
        ),
    ]
    names = NameBook(f.agents, f.queues)

    def queue_name(qid: str) -> str:
        return f.queues.get(qid) or s.queue_names.get(qid) or qid

    sections: list[
        tuple[str, str, Sequence[tuple[str, float]], list[tuple[list[str], derive.Totals]]]
    ] = [
        (
            "summary-day",
            "By day (UTC)",
            [("Day", SUMMARY_NAME + SUMMARY_ID)],
            [([d], t) for d, t in sorted(s.days.items())],
        ),
        (
            "summary-queue",
            "By queue",
            [("Queue", SUMMARY_NAME), ("QUEUE_ID", SUMMARY_ID)],
            sorted(([queue_name(q), q], t) for q, t in s.queues.items()),
        ),
        (
            "summary-agent",
            "By agent (names resolved from archived agent rows where the ids match)",
            [("Agent", SUMMARY_NAME), ("USER_ID", SUMMARY_ID)],
            sorted(
                (
                    [
                        names.agent(a) if a != derive.NO_AGENT else a,
                        "" if a == derive.NO_AGENT else a,
                    ],
                    t,
                )
                for a, t in s.agents.items()
            ),
        ),
        (
            "summary-channel",
            "By channel (COMM_TYPE)",
            [("Channel", SUMMARY_NAME + SUMMARY_ID)],
            sorted(([c], t) for c, t in s.channels.items()),
        ),
    ]
    for key, title, label, rows in sections:
        out.append(
            HeadedTable(
                [Anchor(key, sink), Paragraph(escape(title), st["h3"])],
                _summary_table(label, rows, s.overall),
            )
        )
    return out


def front_story(f: Front, sink: list[tuple[str, int, float]]) -> list[Flowable]:
    """Cover, contents, summary, notes, chain of custody."""
    st = styles()
    out: list[Flowable] = [
        Anchor("cover", sink),
        Paragraph("Audit bundle: interaction segments and workflow traces", st["h1"]),
        _kv(cover_rows(f)),
    ]
    if f.gaps:
        out.append(Spacer(1, 2 * mm))
        out.append(
            HeadedTable(
                [Paragraph("Coverage gaps", st["h3"])],
                _table(["Coverage gap"], [[g] for g in f.gaps[:200]], [268]),
            )
        )
        if len(f.gaps) > 200:
            out.append(Paragraph(f"… and {len(f.gaps) - 200} more (see bag-info.txt)", st["small"]))
    out.append(PageBreak())
    out += [Anchor("contents", sink), Paragraph("Contents", st["h2"])]
    toc = Table(
        [
            [
                Paragraph(("&nbsp;" * 6 * indent) + escape(title), st["toc"]),
                Paragraph(page, st["toc"]),
            ]
            for title, page, indent in f.contents
        ],
        colWidths=[120 * mm, 20 * mm],
        hAlign="LEFT",
    )
    toc.setStyle(
        TableStyle([("ALIGN", (1, 0), (1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "TOP")])
    )
    out += [toc, PageBreak()]
    out += summary_story(f, sink)
    out += [PageBreak(), Anchor("notes", sink), Paragraph("How to read this report", st["h2"])]
    out.append(_kv(derive.NOTES))
    custody = [
        [e["at"], e["event"], e["os_user"], e["tool_version"], e.get("run_id") or "", e["summary"]]
        for e in f.meta.custody
    ]
    out.append(
        HeadedTable(
            [
                Anchor("custody", sink),
                Paragraph("Chain of custody", st["h2"]),
                Paragraph(
                    "From the archive's audit log (hash-chained): who pulled the data and when, and every export and verification before this bundle.",
                    st["small"],
                ),
            ],
            _table(
                ["When (UTC)", "Event", "OS user", "Tool", "Run", "Details"],
                custody,
                [40, 28, 26, 16, 48, 110],
            ),
        )
    )
    return out


def render_front(path: Path, f: Front) -> tuple[int, dict[str, tuple[int, float]]]:
    """(pages, section key → (page, y))."""
    sink: list[tuple[str, int, float]] = []
    pages = render_story(
        path,
        front_story(f, sink),
        Decor(f.meta.bundle_id, f.meta.scope_short, "Front matter", cover=True),
    )
    return pages, {k: (p, y) for k, p, y in sink}


# -- the index ----------------------------------------------------------------------------------
INDEX_GROUPS = 3  # entries side by side
INDEX_ROW = 11.5  # points per row: fixed, so a page holds a known number of entries
INDEX_WIDTHS = [49, 30, 12]  # interaction id, start (derived, UTC), page — per group (mm)


def index_rows_per_page() -> int:
    usable = PAGE[1] - TOP - BOTTOM - 36  # the heading (and the first page's line)
    return int((usable - 12) // INDEX_ROW)  # less the header row


def index_story(entries: Sequence[tuple[str, str, str]], first: bool, more: bool) -> list[Flowable]:
    """One index section: ``entries`` (interaction id, start label, page) sorted by id, laid
    out down the columns of each page."""
    st = styles()
    out: list[Flowable] = []
    per_page = index_rows_per_page()
    chunk = per_page * INDEX_GROUPS
    for start in range(0, len(entries), chunk):
        page = entries[start : start + chunk]
        rows = min(per_page, -(-len(page) // INDEX_GROUPS))
        grid: list[list[str]] = []
        for r in range(rows):
            line: list[str] = []
            for g in range(INDEX_GROUPS):
                k = g * rows + r
                line += list(page[k]) if k < len(page) else ["", "", ""]
            grid.append(line)
        title = "Index of interactions" + ("" if first and start == 0 else " (continued)")
        out.append(Paragraph(title, st["h2"]))
        if first and start == 0:
            out.append(
                Paragraph(
                    "Every interaction of the report by id, with its derived start (UTC) and the page its section begins on.",
                    st["small"],
                )
            )
        out.append(
            _table(
                ["Interaction", "Start (UTC, derived)", "Page"] * INDEX_GROUPS,
                grid,
                INDEX_WIDTHS * INDEX_GROUPS,
                row_height=INDEX_ROW,  # fixed rows: a page holds a known number of entries
            )
        )
        if start + chunk < len(entries) or more:
            out.append(PageBreak())
    return out


def render_index(
    path: Path,
    entries: Sequence[tuple[str, str, str]],
    bundle_id: str,
    scope: str,
    first: bool,
    more: bool,
) -> int:
    return render_story(
        path, index_story(entries, first, more), Decor(bundle_id, scope, "Index of interactions")
    )
