"""The bundle's report: reportlab, embedded Unicode fonts (DejaVu with a CJK fallback),
"page x of y" and the bundle id in every footer."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from archiver.export.scope import Row, Selection
from archiver.resources import resource

SEGMENT_COLUMNS = [
    ("#", "SEGMENT_NUMBER", 8),
    ("Queue", "QUEUE_NAME", 30),
    ("Agent (USER_ID)", "USER_ID", 42),
    ("Status", "STATUS", 18),
    ("Wait s", "WAIT_TIME", 13),
    ("Hold s", "HOLD_TIME", 13),
    ("Talk s", "TIME_INTERACTING", 13),
    ("Wrap s", "WRAP_UP_TIME", 13),
    ("Ended (UTC)", "END_TIME", 34),
    ("Transfer to", "TRANSFER_LOCATION", 28),
    ("Completion", "COMPLETION_DISPLAY_NAME", 20),
    ("COMMIT_TS", "COMMIT_TS", 36),
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


@functools.cache
def register_fonts() -> frozenset[int]:
    """Register the embedded fonts; returns the code points DejaVu Sans covers."""
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


def styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = ParagraphStyle("base", fontName="DejaVu", fontSize=8.5, leading=10.5, alignment=TA_LEFT)
    return {
        "base": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=7, leading=8.5),
        "head": ParagraphStyle(
            "head",
            parent=base,
            fontName="DejaVu-Bold",
            fontSize=7,
            leading=8.5,
            textColor=colors.white,
        ),
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


def _table(
    header: list[str],
    rows: Iterable[list[str]],
    widths_mm: list[float],
    st: dict[str, ParagraphStyle],
) -> Table:
    data = [[Paragraph(escape(h), st["head"]) for h in header]]
    data += [[Paragraph(rich(v), st["cell"]) if v else "" for v in row] for row in rows]
    t = Table(data, colWidths=[w * mm for w in widths_mm], repeatRows=1, hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f4e79")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0bec5")),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f2f6fa")]),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return t


def _kv(
    rows: list[tuple[str, str]],
    st: dict[str, ParagraphStyle],
    key_mm: float = 48,
    val_mm: float = 220,
) -> Table:
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


def interaction_story(
    iid: str, segs: list[Row], steps: list[Row], st: dict[str, ParagraphStyle]
) -> list:
    """One interaction: heading, segments table, workflow trace table."""
    first = segs[0].values if segs else {}
    who = " · ".join(
        x
        for x in (
            first.get("FIRST_LAST_NAME", ""),
            first.get("INTERACTION_SUBJECT", ""),
            first.get("COMM_TYPE", ""),
        )
        if x
    )
    head: list = [Paragraph(f"Interaction {escape(iid)}", st["h2"])]
    if who:
        head.append(Paragraph(rich(who), st["small"]))
    notes = first.get("INTERACTION_NOTES", "")
    if notes:
        head.append(Paragraph("Notes: " + rich(notes), st["small"]))
    seg_rows = [
        [
            s.values.get(col, "") if col != "COMMIT_TS" else s.commit_ts
            for _, col, _ in SEGMENT_COLUMNS
        ]
        for s in segs
    ]
    out: list = []
    out.append(
        KeepTogether(
            [
                *head,
                Paragraph(f"Segments ({len(segs)})", st["h3"]),
                _table(
                    [c[0] for c in SEGMENT_COLUMNS],
                    seg_rows[:3],
                    [c[2] for c in SEGMENT_COLUMNS],
                    st,
                ),
            ]
        )
    )
    if len(seg_rows) > 3:
        out.append(
            _table(
                [c[0] for c in SEGMENT_COLUMNS], seg_rows[3:], [c[2] for c in SEGMENT_COLUMNS], st
            )
        )
    if steps:
        out.append(
            Paragraph(
                f"Workflow trace ({len(steps)} steps, workflow {escape(steps[0].values.get('WORKFLOWSESSION_WORKFLOWNAME', ''))})",
                st["h3"],
            )
        )
        out.append(
            _table(
                [c[0] for c in TRACE_COLUMNS],
                ([t.values.get(col, "") for _, col, _ in TRACE_COLUMNS] for t in steps),
                [c[2] for c in TRACE_COLUMNS],
                st,
            )
        )
    else:
        out.append(Paragraph("No workflow trace is archived for this interaction.", st["small"]))
    out.append(Spacer(1, 4 * mm))
    return out


def group(sel: Selection) -> list[tuple[str, list[Row], list[Row]]]:
    steps: dict[str, list[Row]] = {}
    for t in sel.traces:
        steps.setdefault(t.values.get("WORKFLOWSESSION_INTERACTIONID", ""), []).append(t)
    segs: dict[str, list[Row]] = {}
    for s in sel.segments:
        segs.setdefault(s.values.get("INTERACTION_ID", ""), []).append(s)
    out = []
    for iid, rows in segs.items():
        rows.sort(key=lambda r: (int(r.values.get("SEGMENT_NUMBER") or 0), r.commit_ts))
        st = sorted(
            steps.get(iid, []),
            key=lambda r: (r.values.get("UPDATEHISTORYITEM_STARTTIME", ""), r.commit_ts),
        )
        out.append((iid, rows, st))
    out.sort(key=lambda x: (x[1][0].values.get("STARTTIME_UTC", ""), x[0]))
    return out


def cover_story(sel: Selection, meta: ReportMeta, st: dict[str, ParagraphStyle]) -> list:
    groups = group(sel)
    conflicts = sum(r.conflict for r in sel.segments + sel.traces)
    gaps = sel.gaps
    rows = [
        ("Bundle", meta.bundle_id),
        ("Generated", f"{meta.generated_at} (UTC) by archiver {meta.tool_version}"),
        ("Tenant", meta.tenant),
        ("Scope", sel.scope.describe()),
        (
            "Contents",
            f"{len(groups):,} interactions; {len(sel.segments):,} interactionSegments rows; {len(sel.traces):,} workflowTrace rows",
        ),
        (
            "Time zone",
            "All timestamps are UTC exactly as the Historical API delivered them (ISO 8601 with Z). STARTTIME values are the tenant's local time; ROW_DATE_UTC is the UTC partition date. No value was converted.",
        ),
        (
            "Coverage",
            (
                "Complete: every 15-minute interval of the scope was walked to the end for both datasets (from the archive's coverage evidence)."
                if not gaps
                else f"{len(gaps)} gap(s): intervals of the scope that no finished walk covers; data for these may be missing from this bundle:"
            )
            + (f" Server's reading of an interval `ending`: {sel.reading}." if sel.reading else ""),
        ),
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
            f"{conflicts} row version(s) share key and COMMIT_TS with different content (kept, flagged)"
            if conflicts
            else "none",
        ),
        (
            "Archive",
            f"id {meta.archive_id}; page chain head {meta.chain_head}; audit chain head {meta.audit_head}",
        ),
        ("Signer", f"{meta.signer}; certificate SHA-256 fingerprint {meta.fingerprint}"),
        (
            "Signatures",
            "This PDF carries a PAdES signature (pyHanko). The bag's tagmanifest-sha256.txt has a detached CMS signature (tagmanifest-sha256.txt.p7s) by the same key. VERIFY.txt gives the commands to check everything with standard tools.",
        ),
    ]
    out: list = [
        Paragraph("Audit bundle: interaction segments and workflow traces", st["h1"]),
        _kv(rows, st),
    ]
    if gaps:
        out.append(Spacer(1, 2 * mm))
        out.append(_table(["Coverage gap"], ([g] for g in gaps[:200]), [268], st))
        if len(gaps) > 200:
            out.append(Paragraph(f"… and {len(gaps) - 200} more (see bag-info.txt)", st["small"]))
    out.append(Paragraph("Chain of custody", st["h2"]))
    out.append(
        Paragraph(
            "From the archive's audit log (hash-chained): who pulled the data and when, and every export and verification before this bundle.",
            st["small"],
        )
    )
    custody = [
        [e["at"], e["event"], e["os_user"], e["tool_version"], e.get("run_id") or "", e["summary"]]
        for e in meta.custody
    ]
    out.append(
        _table(
            ["When (UTC)", "Event", "OS user", "Tool", "Run", "Details"],
            custody,
            [40, 28, 26, 16, 48, 110],
            st,
        )
    )
    out.append(PageBreak())
    return out


class NumberedCanvas(rl_canvas.Canvas):
    """Draws "Page x of y" and the bundle id on every page. The total is a form XObject
    drawn on each page and defined once at the end, so no page is held in memory."""

    bundle_id = ""

    def showPage(self) -> None:
        self.saveState()
        self.setFont("DejaVu", 7)
        self.setFillColor(colors.HexColor("#546e7a"))
        w, _ = self._pagesize
        self.drawString(12 * mm, 7 * mm, f"Audit bundle {self.bundle_id}")
        label = f"Page {self._pageNumber} of "
        x = w - 12 * mm - pdfmetrics.stringWidth(label + "00000", "DejaVu", 7)
        self.drawString(x, 7 * mm, label)
        self.translate(x + pdfmetrics.stringWidth(label, "DejaVu", 7), 7 * mm)
        self.doForm("pageCount")
        self.restoreState()
        super().showPage()

    def save(self) -> None:
        total = self._pageNumber - 1
        self.beginForm("pageCount")
        self.setFont("DejaVu", 7)
        self.setFillColor(colors.HexColor("#546e7a"))
        self.drawString(0, 0, str(total))
        self.endForm()
        super().save()


def render(path: Path, story: list, bundle_id: str, title: str = "Audit bundle") -> int:
    """Write the PDF; returns the number of pages."""
    register_fonts()
    canvas_cls = type("BundleCanvas", (NumberedCanvas,), {"bundle_id": bundle_id})
    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=title,
        author="archiver",
        subject=f"Audit bundle {bundle_id}",
        creator="archiver",
    )
    doc.build(story, canvasmaker=canvas_cls)
    return doc.page


class LazyStory(list):
    """A story that creates its flowables while reportlab consumes them, so memory holds a
    few interactions' tables instead of the whole report. reportlab's build loop asks
    len() before each flowable; that is where the buffer is topped up."""

    def __init__(self, head: list, more: Iterator[list], low: int = 64) -> None:
        super().__init__(head)
        self._more: Iterator[list] | None = more
        self._low = low

    def __len__(self) -> int:
        n = super().__len__()
        if self._more is not None and n < self._low:
            for flowables in self._more:
                self.extend(flowables)
                if super().__len__() >= 4 * self._low:
                    break
            else:
                self._more = None
            n = super().__len__()
        return n


def build_report(
    path: Path, sel: Selection, meta: ReportMeta, progress: Callable[[int, int], None] | None = None
) -> int:
    """Render the report; ``progress(done, total)`` is called as interactions are laid out
    (it may raise to cancel)."""
    st = styles()
    groups = group(sel)

    def sections() -> Iterator[list]:
        for n, (iid, segs, steps) in enumerate(groups, 1):
            yield interaction_story(iid, segs, steps, st)
            if progress and (n % 200 == 0 or n == len(groups)):
                progress(n, len(groups))
        if not groups:
            yield [Paragraph("No interaction is in scope.", st["base"])]

    return render(path, LazyStory(cover_story(sel, meta, st), sections()), meta.bundle_id)
