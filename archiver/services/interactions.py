"""Opening an interaction: its segments, workflow trace steps and transcript messages, the
legal holds that cover it, and the access log's entry that says who looked and when.

Every front-end that shows an interaction's rows opens it here (the Interactions view; the
command line's `case show` records its own entry for every interaction it lists), so the
audit log answers "who looked at this customer's interactions, and when". An interaction
whose opening cannot be recorded is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archiver.archive.errors import StorageError
from archiver.archive.queries import cases as case_reads
from archiver.archive.queries import interactions as reads
from archiver.archive.queries.cases import Hold
from archiver.archive.queries.reader import Reader
from archiver.archive.store import Archive

#: the access log's event (WAVE2 decision 5)
OPENED = "interaction opened"

__all__ = ["OPENED", "Hold", "NotRecorded", "Opened", "open_interaction"]


class NotRecorded(Exception):
    """The opening could not be written to the access log, so the rows are not shown."""


@dataclass(frozen=True)
class Opened:
    """An interaction as the Interactions view shows it (latest versions)."""

    interaction: str
    segments: list[dict[str, str]]
    steps: list[dict[str, str]]
    messages: list[dict[str, str]]
    holds: list[Hold] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.segments or self.steps or self.messages)


def open_interaction(path: Path, interaction_id: str, *, via: str = "gui") -> Opened:
    """The interaction's rows and holds, after its opening is recorded in the access log
    (``interaction opened``: the id, and who and when as the entry's own)."""
    if not path.exists():
        raise FileNotFoundError(f"No archive at {path}.")
    try:
        with Archive(path) as a:
            a.audit(OPENED, {"interactions": [interaction_id], "via": via})
    except (StorageError, OSError) as exc:
        raise NotRecorded(
            f"Opening interaction {interaction_id} could not be recorded in the archive's "
            f"access log ({exc}), so it is not shown: every look at an interaction is logged."
        ) from exc
    with Reader(path) as r:
        segments, steps = reads.interaction(r, interaction_id)
        messages = reads.transcript(r, interaction_id)
        holds = case_reads.holds_on_interactions(r, [interaction_id]).get(interaction_id, [])
    return Opened(interaction_id, segments, steps, messages, holds)
