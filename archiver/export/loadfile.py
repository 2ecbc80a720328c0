"""A case production's eDiscovery load file: a Concordance DAT and each interaction's natives.

    data/loadfile/loadfile.dat          one document per interaction (docs/cases.md lists
                                        the fields)
    data/loadfile/NATIVES/<BEGDOC>.pdf  that interaction's pages, as the report lays them out
    data/loadfile/TEXT/<BEGDOC>.txt     its plain text: what it is, and its transcript in order

The DAT is Concordance's delimited text with its default delimiters: every value between
þ (U+00FE, the quote), values separated by U+0014 (the field separator Concordance shows as
¶), a line break inside a value written as ® (U+00AE), records ended by CR LF, the first
record the field names; UTF-8 with a byte-order mark. Concordance has no escape for its
delimiters, so a value holding one has it replaced (þ → "th", U+0014 → space, ® → "(R)") and
the natives keep the exact text. Paths are relative to the DAT's folder, with backslashes
(what review platforms expect). The files are payload of the bag: its manifests cover them,
and ``archiver verify`` reads the DAT back and checks every native against its hash.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from archiver.archive.hashing import sha256_hex
from archiver.export import derive, pdf
from archiver.export.scope import CDR, SEGMENTS, TRACE, TRANSCRIPT, Interaction

QUOTE = "\u00fe"  # þ
SEPARATOR = "\u0014"  # DC4, shown as ¶ by Concordance
NEWLINE = "\u00ae"  # ®: a line break inside a value
BOM = "\ufeff"
RECORD_END = "\r\n"
#: where the load file lives in a bundle, and its parts
FOLDER = "data/loadfile"
DAT = "loadfile.dat"
NATIVES = "NATIVES"
TEXT = "TEXT"
#: the DAT's fields, in order, and what each holds (docs/cases.md shows the same)
FIELDS: tuple[tuple[str, str], ...] = (
    ("BEGDOC", "control number of the document: the case's prefix and a number, in report order"),
    ("ENDDOC", "the same (one document per interaction)"),
    ("INTERACTIONID", "the interaction's id (INTERACTION_ID / WORKFLOWSESSION_INTERACTIONID)"),
    ("CASE", "the case's name"),
    ("DATE", "the interaction's start, UTC day, YYYYMMDD (derived as the report derives it)"),
    ("TIME", "its start, UTC time of day, HH:MM:SS"),
    ("CHANNEL", "COMM_TYPE of its first segment, else the transcript's or CDR's CHANNEL"),
    (
        "PARTICIPANTS",
        "the customer (FIRST_LAST_NAME), their phone or e-mail (SOURCE_PHONE_NUMBER, "
        "SOURCE_EMAIL, the CDR's CALLING_NUMBER) and the agents, '; ' between them",
    ),
    ("QUEUE", "the queues of its segments (QUEUE_NAME, else the archived queue name of QUEUE_ID)"),
    ("AGENT", "the agents of its segments and CDR (names from archived agent rows, else ids)"),
    ("SUBJECT", "INTERACTION_SUBJECT"),
    ("NOTES", "INTERACTION_NOTES"),
    ("LEGALHOLD", "the legal holds covering it when the production was made ('' when none)"),
    ("RECORDS", "its records in the production, per dataset"),
    ("SHA256", "SHA-256 of the native (NATIVEPATH)"),
    ("NATIVEPATH", "its native: its pages as a PDF, relative to the DAT"),
    ("TEXTPATH", "its plain text (facts and transcript), relative to the DAT"),
)
FIELD_NAMES = tuple(name for name, _ in FIELDS)
_REPLACE = {QUOTE: "th", SEPARATOR: " ", NEWLINE: "(R)", BOM: ""}


def value(text: str) -> str:
    """A value as the DAT holds it: line breaks as ®, the delimiters replaced (Concordance
    cannot escape them; the natives keep the exact text)."""
    for ch, repl in _REPLACE.items():
        text = text.replace(ch, repl)
    return re.sub(r"\r\n|\r|\n", NEWLINE, text)


def record(values: Sequence[str]) -> str:
    return SEPARATOR.join(f"{QUOTE}{value(v)}{QUOTE}" for v in values) + RECORD_END


def prefix(case: str) -> str:
    """The control numbers' prefix: the case's name in capital letters and digits (at most
    20), never empty."""
    plain = unicodedata.normalize("NFKD", case).encode("ascii", "ignore").decode()
    letters = re.sub(r"[^A-Z0-9]+", "", plain.upper())[:20]
    return letters or "CASE"


def read_dat(path: Path) -> list[dict[str, str]]:
    """The documents of a DAT this module wrote (ValueError naming the first record that is
    not one): field name → value, ® left as it is."""
    text = path.read_bytes().decode("utf-8")  # (not read_text: CR LF is kept)
    if not text.startswith(BOM):
        raise ValueError(f"{path.name} does not start with a UTF-8 byte-order mark")
    if not text.endswith(RECORD_END):
        raise ValueError(f"{path.name} does not end with a record end (CR LF)")
    records = text[1:].split(RECORD_END)[:-1]
    rows = [_fields(r, n) for n, r in enumerate(records, 1)]
    if not rows or tuple(rows[0]) != FIELD_NAMES:
        raise ValueError(f"{path.name}: the first record is not the field names {FIELD_NAMES}")
    for n, row in enumerate(rows[1:], 2):
        if len(row) != len(FIELD_NAMES):
            raise ValueError(
                f"{path.name} record {n} has {len(row)} fields, not {len(FIELD_NAMES)}"
            )
    return [dict(zip(FIELD_NAMES, row, strict=True)) for row in rows[1:]]


def _fields(text: str, n: int) -> list[str]:
    parts = text.split(SEPARATOR)
    if any(len(p) < 2 or p[0] != QUOTE or p[-1] != QUOTE or QUOTE in p[1:-1] for p in parts):
        raise ValueError(f"record {n} is not þ-quoted values separated by U+0014")
    return [p[1:-1] for p in parts]


def native_path(control: str) -> str:
    return f"{NATIVES}\\{control}.pdf"


def text_path(control: str) -> str:
    return f"{TEXT}\\{control}.txt"


def local(root: Path, dat_path: str) -> Path:
    """A DAT path (relative, backslashes) as a file under the load file's folder."""
    return root.joinpath(*dat_path.split("\\"))


@dataclass
class LoadFile:
    """Fed each interaction in report order (:meth:`add`), then :meth:`close`d: renders its
    native, writes its text, and keeps its DAT row (a few hundred bytes) until the DAT is
    written."""

    root: Path  # data/loadfile of the bundle being made
    case: str
    bundle_id: str
    header: str  # the running header of each native's pages
    rows: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / NATIVES).mkdir(parents=True)
        (self.root / TEXT).mkdir()
        self.prefix = prefix(self.case)

    @property
    def documents(self) -> int:
        return len(self.rows)

    def add(self, it: Interaction, day: date, names: pdf.NameBook) -> str:
        """The interaction's native, text and DAT row; returns its control number."""
        control = f"{self.prefix}-{len(self.rows) + 1:06d}"
        native = local(self.root, native_path(control))
        sink: list[tuple[str, int, float]] = []
        pdf.render_story(
            native,
            pdf.interaction_story(it, day, names, sink),
            pdf.Decor(
                self.bundle_id,
                f"{control} · {self.header}",
                f"Native {control} (interaction {it.id})",
            ),
            title=f"{control}: interaction {it.id}",
        )
        facts = Facts.of(it, names)
        local(self.root, text_path(control)).write_text(
            plain_text(control, self.case, it, facts), encoding="utf-8", newline="\n"
        )
        self.rows.append(
            [
                control,
                control,
                it.id,
                self.case,
                facts.start[:10].replace("-", ""),
                facts.start[11:19],
                facts.channel,
                "; ".join(facts.participants),
                "; ".join(facts.queues),
                "; ".join(facts.agents),
                facts.subject,
                facts.notes,
                "; ".join(it.holds),
                "; ".join(f"{ds} {n}" for ds, n in facts.records.items()),
                sha256_hex(native.read_bytes()),
                native_path(control),
                text_path(control),
            ]
        )
        return control

    def close(self) -> Path:
        """Write the DAT (UTF-8 with BOM, CR LF records, the field names first)."""
        path = self.root / DAT
        with path.open("w", encoding="utf-8", newline="") as f:
            f.write(BOM)
            f.write(record(FIELD_NAMES))
            for row in self.rows:
                f.write(record(row))
        return path


@dataclass(frozen=True)
class Facts:
    """What the DAT and the text say an interaction is, from its rows in the production."""

    start: str  # ISO, UTC ("" when no row says)
    channel: str
    participants: list[str]
    queues: list[str]
    agents: list[str]
    subject: str
    notes: str
    records: dict[str, int]

    @classmethod
    def of(cls, it: Interaction, names: pdf.NameBook) -> Facts:
        segs = [s.values for s in it.segments]
        others = [r.values for r in (*it.cdrs, *it.messages)]
        start = derive.span(it).start
        if start is None:
            starts = [derive.parse_utc(v.get("START_TIME")) for v in others]
            found = [t for t in starts if t]
            start = min(found) if found else None
        ids = _unique(
            [v.get("USER_ID", "") for v in segs] + [v.get("AGENT_ID", "") for v in others]
        )
        agents = [f"{names.agent(a)} ({a})" if names.agent(a) != a else a for a in ids]
        customer = _unique(
            [v.get("FIRST_LAST_NAME", "") for v in segs]
            + [v.get(c, "") for v in segs for c in ("SOURCE_PHONE_NUMBER", "SOURCE_EMAIL")]
            + [v.get("CALLING_NUMBER", "") for v in others]
        )
        return cls(
            start.strftime("%Y-%m-%dT%H:%M:%SZ") if start else "",
            _first(segs, "COMM_TYPE") or _first(others, "CHANNEL"),
            customer + agents,
            _unique([names.queue(v.get("QUEUE_ID", ""), v.get("QUEUE_NAME", "")) for v in segs]),
            agents,
            _first(segs, "INTERACTION_SUBJECT"),
            _first(segs, "INTERACTION_NOTES"),
            {
                ds: n
                for ds, n in (
                    (SEGMENTS, len(it.segments)),
                    (TRACE, len(it.steps)),
                    (TRANSCRIPT, len(it.messages)),
                    (CDR, len(it.cdrs)),
                )
                if n
            },
        )


def _unique(items: Iterable[str]) -> list[str]:
    return [i for i in dict.fromkeys(items) if i]


def _first(rows: list[dict[str, str]], column: str) -> str:
    return next((r[column] for r in rows if r.get(column)), "")


def plain_text(control: str, case: str, it: Interaction, facts: Facts) -> str:
    """The interaction's plain text: what it is, then its transcript in order."""
    lines = [
        f"{control} · interaction {it.id} · case {case}",
        f"Started: {facts.start or 'not stated by its records'} (UTC)",
        f"Channel: {facts.channel}",
        f"Participants: {'; '.join(facts.participants)}",
        f"Queue: {'; '.join(facts.queues)}",
        f"Subject: {facts.subject}",
        f"Notes: {facts.notes}",
    ]
    lines += [f"{pdf.HOLD_BADGE}: {h}" for h in it.holds]
    lines.append("Records: " + "; ".join(f"{ds} {n}" for ds, n in facts.records.items()))
    messages = pdf.message_lines(it.messages)
    lines.append("")
    if messages:
        lines.append(f"Transcript ({len(messages)} messages, in the order the API delivered them):")
        lines += [text for _n, _row, text in messages]
    else:
        lines.append("No transcript is archived for this interaction.")
    return "\n".join(lines) + "\n"
