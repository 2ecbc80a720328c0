"""Join the report's sections (each a PDF written by reportlab) into one PDF, one section
at a time, so memory holds one section however long the report.

Each section's objects are copied with their numbers shifted (stream bytes untouched); its
page tree becomes a branch of the joined one. Every page gets "Page x of y" (the total is
known only once every section is rendered, so sections are rendered without it) in the
standard Helvetica that reportlab declares in every document. The outline (bookmarks) is
written from a stream of entries, and an entry's children may themselves be a stream.

Links between sections (the contents and the index): a section links to a place in another
section by a URI link to ``archiver-dest:NAME`` (:func:`link_uri`); the joiner turns each into
a go-to link to the named destination NAME, and :meth:`Joiner.finish` writes the names (a
``/Dests`` dictionary: NAME → page and height), known once every section is joined.

Only what reportlab writes is accepted: a classic cross-reference table, generation-0
objects, page dictionaries sharing one font resource dictionary. Anything else is refused
with a message rather than joined wrongly.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from reportlab.pdfbase import pdfmetrics

_REF_OR_STRING = re.compile(rb"\((?:\\.|[^\\()])*\)|<[0-9A-Fa-f\s]*>|(\d+) 0 R\b")
DEST_SCHEME = "archiver-dest:"
_DEST_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
#: the action reportlab writes for a URI link to ``archiver-dest:NAME``
_DEST_LINK = re.compile(rb"/S /URI /Type /Action /URI \(archiver-dest:([A-Za-z0-9-]{1,64})\)")


def link_uri(name: str) -> str:
    """The URI a section links with to the joined document's destination ``name``."""
    if not _DEST_NAME.fullmatch(name):
        raise ValueError(f"not a destination name: {name!r}")
    return DEST_SCHEME + name


_OBJ_HEAD = re.compile(rb"\s*(\d+) 0 obj\s*")
_STREAM = re.compile(rb">>\s*stream(?:\r\n|\n)")


class JoinError(Exception):
    """A section is not a PDF this joiner understands (see the module docstring)."""


@dataclass
class Mark:
    """One outline entry: ``page`` is 0-based in the joined document, ``top`` the y of the
    target on that page (None: the whole page). ``children`` may be a generator."""

    title: str
    page: int
    top: float | None = None
    children: Iterable[Mark] = field(default_factory=tuple)
    open: bool = False


def pdf_text(s: str) -> bytes:
    """A PDF text string: literal when ASCII, UTF-16BE with a BOM otherwise."""
    if s.isascii() and s.isprintable():
        return (
            b"(" + s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode() + b")"
        )
    return b"<FEFF" + s.encode("utf-16-be").hex().upper().encode() + b">"


@dataclass
class _Part:
    """A section read from its file: object bodies by number, the page tree's root, pages."""

    data: bytes
    spans: dict[int, tuple[int, int]]  # number → (start, end) of "N 0 obj … endobj"
    root_pages: int
    pages: list[int]

    def body(self, num: int) -> bytes:
        a, b = self.spans[num]
        chunk = self.data[a:b]
        m = _OBJ_HEAD.match(chunk)
        if not m or int(m.group(1)) != num:
            raise JoinError(f"object {num} is not where the cross-reference table puts it")
        end = chunk.rfind(b"endobj")
        return chunk[m.end() : end].rstrip()

    def dict_of(self, num: int) -> bytes:
        body = self.body(num)
        m = _STREAM.search(body)
        return body[: m.start() + 2] if m else body


def _read(path: Path) -> _Part:
    data = path.read_bytes()
    at = data.rfind(b"startxref")
    if at < 0:
        raise JoinError(f"{path.name}: no startxref")
    xref = int(data[at + 9 :].split()[0])
    trailer_at = data.find(b"trailer", xref)
    if not data.startswith(b"xref", xref) or trailer_at < 0:
        raise JoinError(f"{path.name}: not a classic cross-reference table")
    tokens = data[xref + 4 : trailer_at].split()
    offsets: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        first, count = int(tokens[i]), int(tokens[i + 1])
        i += 2
        for n in range(count):
            off, gen, kind = tokens[i : i + 3]
            i += 3
            if kind == b"n":
                if int(gen) != 0:
                    raise JoinError(f"{path.name}: object {first + n} has generation {int(gen)}")
                offsets.append((int(off), first + n))
    offsets.sort()
    spans = {
        num: (off, offsets[k + 1][0] if k + 1 < len(offsets) else xref)
        for k, (off, num) in enumerate(offsets)
    }
    root = re.search(rb"/Root (\d+) 0 R", data[trailer_at:])
    if not root:
        raise JoinError(f"{path.name}: no /Root")
    part = _Part(data, spans, 0, [])
    pages_ref = re.search(rb"/Pages (\d+) 0 R", part.dict_of(int(root.group(1))))
    if not pages_ref:
        raise JoinError(f"{path.name}: the catalog names no page tree")
    part.root_pages = int(pages_ref.group(1))
    part.pages = _leaves(part, part.root_pages)
    return part


def _leaves(part: _Part, num: int) -> list[int]:
    d = part.dict_of(num)
    if re.search(rb"/Type\s*/Page\b(?!s)", d):
        return [num]
    kids = re.search(rb"/Kids\s*\[([^\]]*)\]", d)
    if not kids:
        raise JoinError(f"page tree node {num} has no /Kids")
    out: list[int] = []
    for k in re.findall(rb"(\d+) 0 R", kids.group(1)):
        out += _leaves(part, int(k))
    return out


def _shift(d: bytes, by: int) -> bytes:
    """References in a dictionary renumbered by ``by``; strings left alone."""

    def sub(m: re.Match[bytes]) -> bytes:
        return f"{int(m.group(1)) + by} 0 R".encode() if m.group(1) else m.group(0)

    return _REF_OR_STRING.sub(sub, d)


def _helvetica(part: _Part, page: int) -> tuple[int, str | None]:
    """(the page's font resource dictionary, the name it gives standard Helvetica or None)."""
    m = re.search(rb"/Font (\d+) 0 R", part.dict_of(page))
    if not m:
        raise JoinError(f"page object {page} has no shared font resource dictionary")
    fonts = int(m.group(1))
    for name, ref in re.findall(rb"/([^\s/<>\[\]()]+)\s+(\d+) 0 R", part.dict_of(fonts)):
        if re.search(rb"/BaseFont\s*/Helvetica\b(?!-)", part.dict_of(int(ref))):
            return fonts, name.decode()
    return fonts, None


class Joiner:
    """Writes the joined PDF to ``out``: ``add`` each section in order, then ``finish``."""

    CATALOG, PAGES, INFO, OUTLINES, SAVE, RESTORE, HELVETICA = range(1, 8)

    def __init__(self, out: BinaryIO, total_pages: int, page_size: tuple[float, float]) -> None:
        self.out = out
        self.total = total_pages
        self.size = page_size
        self.offsets = array("q", [0] * 8)  # by object number; 0 unused
        self.page_refs = array("q")
        self.branches: list[int] = []
        self.next_page = 0
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._put(self.SAVE, b"<< /Length 2 >>\nstream\nq\n\nendstream")
        self._put(self.RESTORE, b"<< /Length 2 >>\nstream\nQ\n\nendstream")
        self._put(
            self.HELVETICA,
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        )

    # -- objects -----------------------------------------------------------------------------
    def _alloc(self) -> int:
        self.offsets.append(0)
        return len(self.offsets) - 1

    def _put(self, num: int, body: bytes) -> None:
        self.offsets[num] = self.out.tell()
        self.out.write(b"%d 0 obj\n" % num + body + b"\nendobj\n")

    def _stream(self, content: bytes) -> int:
        num = self._alloc()
        self._put(num, b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        return num

    # -- sections ----------------------------------------------------------------------------
    def _page_number(self, font: str, n: int) -> bytes:
        text = f"Page {n:,} of {self.total:,}"
        x = self.size[0] - 34.0157 - pdfmetrics.stringWidth(text, "Helvetica", 7)  # 12 mm margin
        return (
            f"q 0.329 0.431 0.478 rg BT /{font} 7 Tf {x:.2f} 19.84 Td {pdf_text(text).decode()} Tj ET Q"
        ).encode()

    def add(self, path: Path) -> int:
        """Copy one section; returns the 0-based index of its first page."""
        part = _read(path)
        base = len(self.offsets) - 1  # the section's object n becomes base + n
        for _ in range(max(part.spans)):
            self._alloc()
        fonts, font = _helvetica(part, part.pages[0])
        pages = set(part.pages)
        for num in sorted(part.spans):
            body = part.body(num)
            m = _STREAM.search(body)
            d, rest = (body[: m.start() + 2], body[m.start() + 2 :]) if m else (body, b"")
            d = _shift(d, base)
            d = _DEST_LINK.sub(rb"/S /GoTo /Type /Action /D /\1", d)
            if num in pages:
                d = self._stamped(d, font or "FArchHelv", part.pages.index(num))
            elif num == part.root_pages:
                d = d.replace(b"<<", b"<< /Parent %d 0 R" % self.PAGES, 1)
            elif num == fonts and font is None:
                d = d[: d.rfind(b">>")] + b" /FArchHelv %d 0 R >>" % self.HELVETICA
            self._put(base + num, d + rest)
        first = self.next_page
        for p in part.pages:
            self.page_refs.append(base + p)
        self.next_page += len(part.pages)
        self.branches.append(base + part.root_pages)
        return first

    def _stamped(self, d: bytes, font: str, index: int) -> bytes:
        """The page's contents wrapped in q … Q, then its page number."""
        stamp = self._stream(self._page_number(font, self.next_page + index + 1))
        m = re.search(rb"/Contents\s*(\[[^\]]*\]|\d+ 0 R)", d)
        if not m:
            raise JoinError("a page without /Contents")
        inner = m.group(1).strip(b"[] ")
        new = b"/Contents [ %d 0 R %s %d 0 R %d 0 R ]" % (self.SAVE, inner, self.RESTORE, stamp)
        return d[: m.start()] + new + d[m.end() :]

    # -- outline and the end -------------------------------------------------------------------
    def _dest(self, m: Mark) -> bytes:
        ref = self.page_refs[m.page]
        if m.top is None:
            return b"[ %d 0 R /Fit ]" % ref
        return b"[ %d 0 R /XYZ null %.1f null ]" % (ref, m.top)

    def _items(self, marks: Iterable[Mark], parent: int) -> tuple[int, int, int]:
        """Write the entries (children before their parent, each once its next sibling is
        known); returns (first, last, visible count if the parent is open)."""
        first = last = 0
        visible = 0
        pending: tuple[int, Mark, tuple[int, int, int], int] | None = None
        for m in marks:
            num = self._alloc()
            if pending:
                self._item(*pending, nxt=num, parent=parent)
            kids = self._items(m.children, num)
            pending = (num, m, kids, last)
            first = first or num
            last = num
            visible += 1 + (kids[2] if m.open else 0)
        if pending:
            self._item(*pending, nxt=0, parent=parent)
        return first, last, visible

    def _item(
        self, num: int, m: Mark, kids: tuple[int, int, int], prev: int, *, nxt: int, parent: int
    ) -> None:
        parts = [
            b"<< /Title " + pdf_text(m.title),
            b"/Parent %d 0 R" % parent,
            b"/Dest " + self._dest(m),
        ]
        if prev:
            parts.append(b"/Prev %d 0 R" % prev)
        if nxt:
            parts.append(b"/Next %d 0 R" % nxt)
        if kids[0]:
            count = kids[2] if m.open else -kids[2]
            parts.append(b"/First %d 0 R /Last %d 0 R /Count %d" % (kids[0], kids[1], count))
        self._put(num, b" ".join(parts) + b" >>")

    def _dests(self, dests: Iterable[Mark]) -> int:
        """The named destinations the sections link to (a Mark's title is its name)."""
        num = self._alloc()
        self.offsets[num] = self.out.tell()
        self.out.write(b"%d 0 obj\n<<" % num)
        for m in dests:
            if not _DEST_NAME.fullmatch(m.title):
                raise JoinError(f"not a destination name: {m.title!r}")
            self.out.write(b"\n/" + m.title.encode() + b" " + self._dest(m))
        self.out.write(b"\n>>\nendobj\n")
        return num

    def finish(
        self, outline: Iterable[Mark], title: str, subject: str, dests: Iterable[Mark] = ()
    ) -> None:
        """Write the outline, the named destinations ``dests`` (each Mark's title is the
        name a link uses, see :func:`link_uri`), the page tree and the trailer."""
        if self.next_page != self.total:
            raise JoinError(f"{self.next_page} pages joined, {self.total} announced")
        names = self._dests(dests)
        first, last, visible = self._items(outline, self.OUTLINES)
        self._put(
            self.OUTLINES,
            b"<< /Type /Outlines"
            + (b" /First %d 0 R /Last %d 0 R /Count %d" % (first, last, visible) if first else b"")
            + b" >>",
        )
        kids = b" ".join(b"%d 0 R" % k for k in self.branches)
        self._put(self.PAGES, b"<< /Type /Pages /Kids [ %s ] /Count %d >>" % (kids, self.total))
        self._put(
            self.CATALOG,
            b"<< /Type /Catalog /Pages %d 0 R /Outlines %d 0 R /Dests %d 0 R /PageMode /UseOutlines >>"
            % (self.PAGES, self.OUTLINES, names),
        )
        now = datetime.now(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
        self._put(
            self.INFO,
            b"<< /Title "
            + pdf_text(title)
            + b" /Subject "
            + pdf_text(subject)
            + b" /Author (archiver) /Creator (archiver) /Producer (archiver with ReportLab)"
            + b" /CreationDate "
            + pdf_text(now)
            + b" >>",
        )
        xref = self.out.tell()
        n = len(self.offsets)
        self.out.write(b"xref\n0 %d\n0000000000 65535 f \n" % n)
        for num in range(1, n):  # a number no section used is a free entry
            off = self.offsets[num]
            self.out.write(b"%010d 00000 n \n" % off if off else b"0000000000 65535 f \n")
        digest = hashlib.md5(subject.encode(), usedforsecurity=False).hexdigest().encode()
        self.out.write(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [ <%s> <%s> ] >>\nstartxref\n%d\n%%%%EOF\n"
            % (n, self.CATALOG, self.INFO, digest, digest, xref)
        )
