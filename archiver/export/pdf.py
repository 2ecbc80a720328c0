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
from archiver.export.bag import DEMO, DEMO_WHY
from archiver.export.pdfjoin import link_uri
from archiver.export.scope import Interaction
from archiver.plural import plural
from archiver.resources import resource

PAGE = landscape(A4)
MARGIN = 12 * mm
TOP = 17 * mm  # the running header sits above the frame
BOTTOM = 14 * mm
FRAME_WIDTH = PAGE[0] - 2 * MARGIN
GREY = colors.HexColor("#546e7a")
DEMO_RED = colors.HexColor("#c62828")
HOLD_RED = colors.HexColor("#8e1b1b")
#: the words of the hold badge, wherever a held interaction appears
HOLD_BADGE = "LEGAL HOLD"
HEAD_BLUE = colors.HexColor("#1f4e79")


#: a case production's transcript messages and call detail records (the guide documents no
#: transcript columns: these are the simulator's and a tenant's usual ones; a missing column
#: is an empty cell)
MESSAGE_COLUMNS = [("#", 8), ("Message", 194), ("Channel", 18), ("Language", 16), ("COMMIT_TS", 37)]
CDR_COLUMNS = [
    ("Start (UTC)", "START_TIME", 34),
    ("Answered", "ANSWER_TIME", 34),
    ("End", "END_TIME", 34),
    ("Duration s", "DURATION", 16),
    ("Direction", "DIRECTION", 18),
    ("Calling", "CALLING_NUMBER", 28),
    ("Called", "CALLED_NUMBER", 28),
    ("Disconnect", "DISCONNECT_REASON", 20),
    ("Trunk", "TRUNK_ID", 16),
    ("COMMIT_TS", "COMMIT_TS", 37),
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
        "hold": ParagraphStyle(
            "hold",
            parent=base,
            fontName="DejaVu-Bold",
            fontSize=8,
            leading=10,
            textColor=colors.white,
            backColor=HOLD_RED,
            borderPadding=(2, 4, 2, 4),
            spaceBefore=2,
            spaceAfter=3,
        ),
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
    #: rows pulled from the embedded simulator: the cover and every page say DEMO
    demo: bool = False
    versions: str = "latest"  # latest | all: which records the bundle holds
    chain_pages: int = 0  # pages the page chain head covers
    audit_entries: int = 0  # entries the audit chain head covers
    #: a case production's facts for the cover, (label, text) in order ([]: not a case)
    case: list[tuple[str, str]] = field(default_factory=list)
    title: str = "Audit bundle: interaction segments and workflow traces"


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
        # a row taller than a page (a long typed query in the chain of custody, a long
        # transcript message) continues on the next page instead of failing the report
        splitInRow=1,
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
    t = Table(data, colWidths=[key_mm * mm, val_mm * mm], hAlign="LEFT", splitInRow=1)
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
NameBook = derive.NameBook  # the names of one section's ids (resolved from archived rows)


class NamedCell(Flowable):
    """A name with its id beneath in smaller grey type: how the report shows an agent or a
    queue (drawn, not laid out as a paragraph: there are many)."""

    ID_SIZE = 5.5  # a 26-character id fits a name's column

    def __init__(self, name: str, id_: str) -> None:
        super().__init__()
        self.name = name
        self.id = id_

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return availWidth, 8.5 + 7.0

    def draw(self) -> None:
        c = self.canv
        c.setFont(CELL_FONT, CELL_SIZE)
        c.drawString(0, 7.0 + 1.5, self.name)
        c.setFillColor(GREY)
        c.setFont(CELL_FONT, self.ID_SIZE)
        c.drawString(0, 1.0, self.id)


def named_cell(value: derive.Named, width_mm: float) -> str | Paragraph | Flowable:
    """A :class:`derive.Named` as a cell: one line when there is only a name or an id, else
    the name over its id (a wrapping paragraph where either does not fit)."""
    lines = value.lines()
    if len(lines) < 2:
        return cell(lines[0] if lines else "", width_mm)
    covered = register_fonts()
    room = width_mm * mm - 2 * CELL_PAD
    if (
        all(x.isprintable() and all(ord(ch) in covered for ch in x) for x in lines)
        and _fits(value.name, room)
        and pdfmetrics.stringWidth(value.id, CELL_FONT, NamedCell.ID_SIZE) <= room
    ):
        return NamedCell(value.name, value.id)
    return Paragraph(
        f"{rich(value.name)}<br/><font size='{NamedCell.ID_SIZE}' color='#546e7a'>{rich(value.id)}</font>",
        styles()["cell"],
    )


def segment_row(values: dict[str, str], commit_ts: str, day: date, names: NameBook) -> list[Any]:
    """A segment's cells (derive.segment_cells: the same the app shows), set for the page."""
    return [
        named_cell(v, c.width_mm) if isinstance(v, derive.Named) else v
        for v, c in zip(
            derive.segment_cells(values, commit_ts, day, names), derive.SEGMENT_COLUMNS, strict=True
        )
    ]


def interaction_story(
    it: Interaction, day: date, names: NameBook, sink: list[tuple[str, int, float]]
) -> list[Flowable]:
    """One interaction: its heading and facts kept with the segments table, then the
    workflow trace table with its heading (derive says what each shows, for the app too)."""
    st = styles()
    first = it.segments[0].values if it.segments else {}
    segments = [s.values for s in it.segments]
    head: list[Flowable] = [
        Anchor(it.id, sink),
        line(f"Interaction {it.id}", st["h2"]),
        line(derive.interaction_line(segments, [t.values for t in it.steps], day), st["small"]),
    ]
    who = derive.interaction_people(segments)
    for hold in it.holds:  # the hold badge: a held interaction shows it wherever it appears
        head.append(Paragraph(rich(f"{HOLD_BADGE} · {hold}"), st["hold"]))
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
                [c.header for c in derive.SEGMENT_COLUMNS],
                [segment_row(s.values, s.commit_ts, day, names) for s in it.segments],
                [c.width_mm for c in derive.SEGMENT_COLUMNS],
            ),
        )
    ]
    if it.steps:
        workflow = it.steps[0].values.get("WORKFLOWSESSION_WORKFLOWNAME", "")
        out.append(
            HeadedTable(
                [
                    line(
                        f"Workflow trace ({plural(len(it.steps), 'step')}, workflow {workflow})",
                        st["h3"],
                        f"  · interaction {it.id}",
                    )
                ],
                _table(
                    [c.header for c, _ in derive.TRACE_COLUMNS],
                    [derive.trace_cells(t.values) for t in it.steps],
                    [c.width_mm for c, _ in derive.TRACE_COLUMNS],
                ),
            )
        )
    else:
        out.append(Paragraph("No workflow trace is archived for this interaction.", st["small"]))
    out += case_sections(it)
    out.append(Spacer(1, 4 * mm))
    return out


def message_lines(messages: Sequence[Any]) -> list[tuple[int, Any, str]]:
    """(number, row, text) per message: a transcript delivered as one row (its messages one
    a line) is split into its lines, as a tenant that sends a row per message sends them."""
    out: list[tuple[int, Any, str]] = []
    for row in messages:
        for text in (row.values.get("TRANSCRIPT_TEXT") or "").split("\n"):
            out.append((len(out) + 1, row, text))
    return out


def case_sections(it: Interaction) -> list[Flowable]:
    """A case production's transcript and call detail records of the interaction."""
    st = styles()
    out: list[Flowable] = []
    if it.messages:
        lines = message_lines(it.messages)
        out.append(
            HeadedTable(
                [
                    line(
                        f"Transcript ({len(lines)} message{'s' if len(lines) != 1 else ''}, "
                        "in the order the API delivered them)",
                        st["h3"],
                        f"  · interaction {it.id}",
                    )
                ],
                _table(
                    [c[0] for c in MESSAGE_COLUMNS],
                    [
                        [
                            str(n),
                            text,
                            row.values.get("CHANNEL", ""),
                            row.values.get("LANGUAGE", ""),
                            row.commit_ts,
                        ]
                        for n, row, text in lines
                    ],
                    [c[1] for c in MESSAGE_COLUMNS],
                ),
            )
        )
    if it.cdrs:
        out.append(
            HeadedTable(
                [
                    line(
                        f"Call detail records ({len(it.cdrs)})",
                        st["h3"],
                        f"  · interaction {it.id}",
                    )
                ],
                _table(
                    [c[0] for c in CDR_COLUMNS],
                    [[r.values.get(col, "") for _, col, _ in CDR_COLUMNS] for r in it.cdrs],
                    [c[2] for c in CDR_COLUMNS],
                ),
            )
        )
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
    demo: bool = False  # simulated data: the header starts with DEMO, in red

    def __call__(self, canv: Canvas, doc: Any) -> None:
        canv.saveState()
        w, h = PAGE
        canv.setFont("DejaVu", 7)
        canv.setFillColor(GREY)
        if not (self.cover and canv.getPageNumber() == 1):
            right = f"Audit bundle {self.bundle_id}"
            rw = pdfmetrics.stringWidth(right, "DejaVu", 7)
            x = MARGIN
            if self.demo:
                canv.setFillColor(DEMO_RED)
                canv.setFont("DejaVu-Bold", 7)
                canv.drawString(x, h - 10 * mm, f"{DEMO}  ")
                x += pdfmetrics.stringWidth(f"{DEMO}  ", "DejaVu-Bold", 7)
                canv.setFont("DejaVu", 7)
                canv.setFillColor(GREY)
            canv.drawString(
                x, h - 10 * mm, _fit(f"Scope: {self.scope}", w - MARGIN - x - rw - 8 * mm)
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
    demo: bool = False


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
        Decor(
            spec.bundle_id,
            spec.scope,
            f"Interactions of {spec.day:%Y-%m-%d} (UTC)",
            demo=spec.demo,
        ),
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
    reading: str  # the server's reading, as bag-info.txt states it
    unplaced: int
    agents: dict[str, str]  # USER_ID → name (resolved ones only)
    queues: dict[str, str]  # QUEUE_ID → name (from queue rows)
    summary: derive.Summary = field(default_factory=derive.Summary)
    #: contents: (title, page, indent, destination) — pages of later sections and the named
    #: destination each entry links to (pdfjoin.link_uri), filled in by the caller
    contents: list[tuple[str, str, int, str]] = field(default_factory=list)
    #: intervals of the scope walked as the previous chunk's `ending` (coverage.AT_ENDING)
    at_ending: list[str] = field(default_factory=list)
    #: segment records of the bundle in a stated gap, and the interactions marked for it
    segments_in_gaps: int = 0
    marked: int = 0
    #: a case production's rows of its other datasets (transcript, mpccdr), by dataset
    others: dict[str, int] = field(default_factory=dict)
    #: interactions under a legal hold (their pages show the badge)
    held: int = 0
    #: the server's reading in plain words (the cover says this one)
    reading_words: str = ""


def demo_banner() -> Table:
    """The cover's first words for a bundle of simulated data: red, boxed, above the title."""
    st = styles()
    big = ParagraphStyle("demo", parent=st["h1"], textColor=DEMO_RED, fontSize=22, leading=27)
    t = Table(
        [
            [Paragraph(escape(DEMO), big)],
            [Paragraph(rich(DEMO_WHY[:1].upper() + DEMO_WHY[1:] + "."), st["base"])],
        ],
        colWidths=[FRAME_WIDTH],
        hAlign="LEFT",
    )
    t.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.5, DEMO_RED),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#ffebee")),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, 0), 6),
                ("BOTTOMPADDING", (0, -1), (-1, -1), 8),
            ]
        )
    )
    return t


def cover_rows(f: Front) -> list[tuple[str, str]]:
    """The cover's facts, in plain words (the technical names are in bag-info.txt)."""
    meta = f.meta
    gaps = f.gaps
    coverage = (
        "Complete: the archive's records show that every 15-minute interval of the scope was downloaded in full, for "
        + ("every dataset." if f.others else "both datasets.")
        if not gaps
        else f"{plural(len(gaps), 'gap')}: intervals of the scope that no finished download covers; data for these may be missing from this bundle (listed below)."
    )
    if f.segments_in_gaps:
        coverage += (
            f" {RECORDS.of(f.segments_in_gaps, 'interactionSegments')} of this bundle lie in "
            f"these gaps (rows the archive does hold); the pages of the "
            f"{INTERACTIONS.of(f.marked)} they belong to say so."
        )
    if f.at_ending:
        coverage += (
            " Downloaded in full, though never asked for on their own: received at the previous "
            "chunk's ending (the answer to the request before them included them, as this "
            "server's answers do): " + "; ".join(f.at_ending) + "."
        )
    coverage += f" {f.reading_words}" if f.reading_words else ""
    held = LATEST if meta.versions == "latest" else RECORDS
    contents = (
        f"{INTERACTIONS.of(f.interactions)}; {held.of(f.segments, 'interactionSegments')}; "
        f"{held.of(f.traces, 'workflowTrace')}"
    )
    for ds, n in f.others.items():
        contents += f"; {held.of(n, ds)}"
    rows = [
        ("Bundle", meta.bundle_id),
        ("Generated", f"{meta.generated_at} (UTC) by archiver {meta.tool_version}"),
        ("Tenant", meta.tenant),
        *meta.case,
        ("Scope", meta.scope),
        ("Contents", contents),
        (
            "Time zone",
            "All times are UTC exactly as the Historical API delivered them (ending in Z), except values marked derived, computed as the notes say. STARTTIME values are the tenant's local time; ROW_DATE_UTC is the row's date in UTC.",
        ),
        ("Coverage", coverage),
    ]
    if f.held and not meta.case:  # (a case production's cover states its hold itself)
        rows.append(
            (
                "Legal hold",
                f"{INTERACTIONS.of(f.held)} of this bundle "
                f"{'is' if f.held == 1 else 'are'} under legal hold now: "
                f"their pages are marked {HOLD_BADGE} with the case and the hold.",
            )
        )
    if f.unplaced:
        rows.append(
            (
                "Not placed",
                f"{plural(f.unplaced, 'interactionSegments row')} of the scope's days {'has' if f.unplaced == 1 else 'have'} no usable STARTTIME_UTC, so no 15-minute interval: {'it' if f.unplaced == 1 else 'they'} cannot be placed in the scope and {'is' if f.unplaced == 1 else 'are'} not in this bundle.",
            )
        )
    rows += [
        (
            "Redaction",
            f"profile '{meta.redaction}'"
            + (
                f": {', '.join(meta.redacted_fields)} replaced by [REDACTED] in this copy; the archive keeps the originals; the raw API responses are left out"
                if meta.redacted_fields
                else ": none, values are exactly as archived"
            ),
        ),
        (
            "Integrity conflicts",
            f"{plural(f.conflicts, 'row version')} {'has' if f.conflicts == 1 else 'have'} the same key and commit time (COMMIT_TS) as another but different content: both are kept, and marked"
            if f.conflicts
            else "none",
        ),
        (
            "Archive",
            f"id {meta.archive_id}; the hash chain of its stored responses ends in "
            f"{meta.chain_head} after {plural(meta.chain_pages, 'page')}, that of its audit log "
            f"in {meta.audit_head} after {plural(meta.audit_entries, 'entry')} (archiver "
            "verify-archive checks both; with --witness BUNDLE it checks the archive still "
            "begins with them)",
        ),
        ("Signer", f"{meta.signer}; certificate SHA-256 fingerprint {meta.fingerprint}"),
        (
            "Signatures",
            "This PDF is digitally signed with the signer's key (a PAdES signature, shown by PDF readers). The bundle's list of file checksums, tagmanifest-sha256.txt, is signed with the same key (tagmanifest-sha256.txt.p7s). VERIFY.txt says how to check everything with standard tools; archiver verify checks it at once.",
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
                        names.agents.get(a, "") if a != derive.NO_AGENT else a,  # the id beside
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
    out: list[Flowable] = [Anchor("cover", sink)]
    if f.meta.demo:
        out.append(demo_banner())
    out += [
        Paragraph(rich(f.meta.title), st["h1"]),
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
                Paragraph(("&nbsp;" * 6 * indent) + _link(escape(title), dest), st["toc"]),
                Paragraph(_link(escape(page), dest), st["toc"]),
            ]
            for title, page, indent, dest in f.contents
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


def _link(markup: str, dest: str) -> str:
    """Paragraph markup that links to the joined report's destination ``dest``."""
    return f'<a href="{link_uri(dest)}">{markup}</a>' if dest else markup


def render_front(path: Path, f: Front) -> tuple[int, dict[str, tuple[int, float]]]:
    """(pages, section key → (page, y))."""
    sink: list[tuple[str, int, float]] = []
    pages = render_story(
        path,
        front_story(f, sink),
        Decor(f.meta.bundle_id, f.meta.scope_short, "Front matter", cover=True, demo=f.meta.demo),
    )
    return pages, {k: (p, y) for k, p, y in sink}


# -- the index ----------------------------------------------------------------------------------
INDEX_GROUPS = 3  # entries side by side
INDEX_ROW = 11.5  # points per row: fixed, so a page holds a known number of entries
INDEX_WIDTHS = [49, 30, 12]  # interaction id, start (derived, UTC), page — per group (mm)
#: (interaction id, derived start, page, destination name of its section)
IndexEntry = tuple[str, str, str, str]


def index_rows_per_page() -> int:
    usable = PAGE[1] - TOP - BOTTOM - 36  # the heading (and the first page's line)
    return int((usable - 12) // INDEX_ROW)  # less the header row


def index_page_size(total: int) -> int:
    """Entries per index page for an index of ``total``: as many pages as needed, filled
    evenly (never a last page holding a row or two)."""
    capacity = index_rows_per_page() * INDEX_GROUPS
    pages = max(1, -(-total // capacity))
    return max(1, -(-total // pages))


class LinkCell(Flowable):
    """A cell's text that links to a named destination of the joined report."""

    def __init__(self, text: str, dest: str) -> None:
        super().__init__()
        self.text = text
        self.dest = dest

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        self.width = availWidth
        return availWidth, float(CELL_SIZE)

    def draw(self) -> None:
        c = self.canv
        c.setFillColor(HEAD_BLUE)
        c.setFont(CELL_FONT, CELL_SIZE)
        c.drawString(0, 0.5, self.text)
        c.linkURL(link_uri(self.dest), (0, -2, self.width, CELL_SIZE + 1), relative=1, thickness=0)


def index_story(
    entries: Sequence[IndexEntry], first: bool, more: bool, per_page: int | None = None
) -> list[Flowable]:
    """One index section: ``entries`` sorted by id, ``per_page`` on each page
    (:func:`index_page_size`), laid out down the columns (one column for a short index);
    an id and its page number link to the interaction's section."""
    st = styles()
    out: list[Flowable] = []
    rows_max = index_rows_per_page()
    chunk = min(per_page or rows_max * INDEX_GROUPS, rows_max * INDEX_GROUPS)
    for start in range(0, len(entries), chunk):
        page = entries[start : start + chunk]
        groups = 1 if len(page) <= rows_max else INDEX_GROUPS
        rows = -(-len(page) // groups)
        grid: list[list[Any]] = []
        for r in range(rows):
            line: list[Any] = []
            for g in range(groups):
                k = g * rows + r
                if k < len(page):
                    iid, when, number, dest = page[k]
                    line += [LinkCell(iid, dest), when, LinkCell(number, dest)]
                else:
                    line += ["", "", ""]
            grid.append(line)
        title = "Index of interactions" + ("" if first and start == 0 else " (continued)")
        out.append(Paragraph(title, st["h2"]))
        if first and start == 0:
            out.append(
                Paragraph(
                    "Every interaction of the report by id, with its derived start (UTC) and the page its section begins on; an id or a page number takes you there.",
                    st["small"],
                )
            )
        out.append(
            _table(
                ["Interaction", "Start (UTC, derived)", "Page"] * groups,
                grid,
                INDEX_WIDTHS * groups,
                row_height=INDEX_ROW,  # fixed rows: a page holds a known number of entries
            )
        )
        if start + chunk < len(entries) or more:
            out.append(PageBreak())
    return out


def render_index(
    path: Path,
    entries: Sequence[IndexEntry],
    bundle_id: str,
    scope: str,
    first: bool,
    more: bool,
    demo: bool = False,
    per_page: int | None = None,
) -> int:
    return render_story(
        path,
        index_story(entries, first, more, per_page),
        Decor(bundle_id, scope, "Index of interactions", demo=demo),
    )
