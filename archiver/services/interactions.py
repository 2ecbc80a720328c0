"""One interaction for review (the app's Interactions tab): its latest rows from the archive,
shown the way a bundle's report shows them: the same columns, the same derived values with
the same labels, agents and queues by name with their ids (:mod:`archiver.export.derive`);
and the legal holds that cover it.

Opening it (:func:`open_interaction`) is recorded in the access log first (``interaction
opened``: the id; who and when are the entry's own), so the audit log answers "who looked at
this customer's interactions, and when"; an interaction whose opening cannot be recorded is
not shown. (The command line's `case show` records its own entry for every interaction it
lists: services/cases.py.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from archiver.archive.errors import StorageError
from archiver.archive.queries import cases as case_reads
from archiver.archive.queries.cases import Hold
from archiver.archive.queries.review import ArchiveReader
from archiver.archive.store import Archive
from archiver.export import derive
from archiver.export.derive import SEGMENT_COLUMNS, Cell, Column, Named
from archiver.export.scope import Names, Scope

__all__ = [
    "OPENED",
    "SEGMENT_COLUMNS",
    "TRACE_COLUMNS",
    "TRANSCRIPT_COLUMNS",
    "Cell",
    "Column",
    "Hold",
    "InteractionView",
    "Named",
    "NotRecorded",
    "load",
    "open_interaction",
    "transcript_lines",
]

TRACE_COLUMNS: list[Column] = [c for c, _ in derive.TRACE_COLUMNS]
#: the transcript's messages: the guide does not document its columns ("inspect
#: columnHeaders"); the text, and the channel and language where the tenant sends them
_TRANSCRIPT = (
    (
        Column("Message", 0, "TRANSCRIPT_TEXT (a transcript sent as one row: a line of it)"),
        "TRANSCRIPT_TEXT",
    ),
    (Column("Channel", 0, "CHANNEL"), "CHANNEL"),
    (Column("Language", 0, "LANGUAGE"), "LANGUAGE"),
)
TRANSCRIPT_COLUMNS: list[Column] = [c for c, _ in _TRANSCRIPT]


@dataclass
class InteractionView:
    id: str
    #: start, end and total (derived), channel and counts: derive.interaction_line
    line: str
    #: customer and subject
    people: str
    notes: str
    #: the latest version of each segment and each workflow step (the timeline's input)
    segments: list[dict[str, str]] = field(default_factory=list)
    steps: list[dict[str, str]] = field(default_factory=list)
    #: cells of SEGMENT_COLUMNS and TRACE_COLUMNS
    segment_rows: list[list[Cell]] = field(default_factory=list)
    step_rows: list[list[str]] = field(default_factory=list)
    #: cells of TRANSCRIPT_COLUMNS: the transcript's messages in order
    message_rows: list[list[str]] = field(default_factory=list)
    #: the legal holds that cover it (one per held case; [] when none)
    holds: list[Hold] = field(default_factory=list)


#: the access log's event (WAVE2 decision 5)
OPENED = "interaction opened"


class NotRecorded(Exception):
    """The opening could not be written to the access log, so the rows are not shown."""


def open_interaction(path: Path, interaction_id: str, *, via: str = "gui") -> InteractionView:
    """:func:`load`, after the opening is recorded in the access log (``interaction
    opened``), with the holds that cover the interaction."""
    if not path.exists():
        raise FileNotFoundError(f"No archive at {path}.")
    try:
        with Archive(path, create=False) as a:
            a.audit(OPENED, {"interactions": [interaction_id], "via": via})
    except (StorageError, OSError) as exc:
        raise NotRecorded(
            f"Opening interaction {interaction_id} could not be recorded in the archive's "
            f"access log ({exc}), so it is not shown: every look at an interaction is logged."
        ) from exc
    view = load(path, interaction_id)
    with ArchiveReader(path) as r:
        view.holds = case_reads.holds_on_interactions(r, [interaction_id]).get(interaction_id, [])
    return view


def transcript_lines(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """One row per message: a transcript delivered as one row (its messages a line each,
    MESSAGE_COUNT of them) is split into its lines, as a tenant that sends a row per
    message sends them (the simulator's two readings give the same messages)."""
    out = []
    for row in rows:
        for line in (row.get("TRANSCRIPT_TEXT") or "").split("\n"):
            out.append({**row, "TRANSCRIPT_TEXT": line})
    return out


def _day(segments: list[dict[str, str]]) -> date | None:
    """The UTC day of the interaction's first segment's own interval (STARTTIME_UTC)."""
    for v in segments:
        t = derive.parse_utc(v.get("STARTTIME_UTC")) or derive.parse_utc(v.get("END_TIME"))
        if t is not None:
            return t.date()
    return None


def load(archive: Path, interaction_id: str) -> InteractionView:
    """The interaction's latest rows and how they are shown. Names come from archived agent
    and queue rows as in the report: the newest version of the interaction's day, else
    anywhere in the archive."""
    with ArchiveReader(archive) as r:
        segs, steps = r.interaction(interaction_id)
        messages = transcript_lines(r.transcript(interaction_id))
        day = _day(segs)
        names = Names.load(r, Scope(day, day)) if day else Names()
        names.complete(
            r,
            {v.get("USER_ID", "") for v in segs},
            {v.get("QUEUE_ID", "") for v in segs},
        )
    book = derive.NameBook(names.agents, names.queues)
    first = segs[0] if segs else {}
    return InteractionView(
        interaction_id,
        derive.interaction_line(segs, steps, day or date.today()),
        derive.interaction_people(segs),
        first.get("INTERACTION_NOTES", ""),
        segs,
        steps,
        [derive.segment_cells(v, v.get("COMMIT_TS", ""), day, book) for v in segs],
        [derive.trace_cells(v) for v in steps],
        [[m.get(name, "") for _c, name in _TRANSCRIPT] for m in messages],
    )
