"""One interaction for review (the app's Interactions tab): its latest rows from the archive,
shown the way a bundle's report shows them: the same columns, the same derived values with
the same labels, agents and queues by name with their ids (:mod:`archiver.export.derive`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from archiver.archive.queries.review import ArchiveReader
from archiver.export import derive
from archiver.export.derive import SEGMENT_COLUMNS, Cell, Column, Named
from archiver.export.scope import Names, Scope

__all__ = [
    "SEGMENT_COLUMNS",
    "TRACE_COLUMNS",
    "Cell",
    "Column",
    "InteractionView",
    "Named",
    "load",
]

TRACE_COLUMNS: list[Column] = [c for c, _ in derive.TRACE_COLUMNS]


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
    )
