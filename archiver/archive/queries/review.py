"""The review screens' connection (Browse, Row history, Interactions, Coverage, the Audit
tab, the Download tab's resume banner): one read-only :class:`ArchiveReader` whose methods
are the questions of :mod:`.browse`, :mod:`.interactions` and :mod:`.audit` (Coverage's grid
asks services.archive.coverage).
Cheap queries only; bulk work runs in the GUI's workers, each on its own reader."""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from archiver.archive.queries import audit, browse, cases, interactions, pulls
from archiver.archive.queries.audit import AuditEntry, ChainHead
from archiver.archive.queries.browse import RecordRow, Version, parse_stream, stream_name
from archiver.archive.queries.pulls import RunRecord
from archiver.archive.queries.reader import Reader

__all__ = [
    "ArchiveReader",
    "AuditEntry",
    "ChainHead",
    "RecordRow",
    "RunRecord",
    "Version",
    "parse_stream",
    "stream_name",
]


class ArchiveReader(Reader):
    """One read-only connection to an archive; cheap queries only (bulk work runs in workers)."""

    # -- datasets -------------------------------------------------------------------------
    def dataset_names(self) -> dict[str, int]:
        """The streams :meth:`dataset_counts` lists, each 1 if it holds rows, else 0."""
        return browse.dataset_names(self)

    def dataset_counts(self) -> dict[str, int]:
        """Row versions per stream (see :func:`.browse.dataset_counts`)."""
        return browse.dataset_counts(self)

    def columns(self, stream: str) -> list[tuple[str, str]]:
        """(name, type) of every column the dataset has had, in API order."""
        return browse.columns(self, stream)

    def archived_span(self, stream: str) -> tuple[str, str] | None:
        """The first and the last own interval of the stream's records (None: it holds none)."""
        return browse.archived_span(self, stream)

    # -- record windows -------------------------------------------------------------------
    def first_records(
        self, stream: str, after: tuple[str, int] | None, limit: int
    ) -> list[RecordRow]:
        return browse.first_records(self, stream, after, limit)

    def record_ids(
        self,
        stream: str,
        *,
        sort: str | None = None,
        descending: bool = False,
        column_filter: tuple[str, str] | None = None,
        search: str | None = None,
        latest_only: bool = False,
        limit: int | None = None,
    ) -> array[int]:
        """Ids of the matching records in display order (see :func:`.browse.record_ids`)."""
        return browse.record_ids(
            self,
            stream,
            sort=sort,
            descending=descending,
            column_filter=column_filter,
            search=search,
            latest_only=latest_only,
            limit=limit,
        )

    def records_by_id(self, stream: str, ids: Sequence[int]) -> dict[int, RecordRow]:
        return browse.records_by_id(self, stream, ids)

    # -- row history ----------------------------------------------------------------------
    def versions(self, record_id: int) -> list[Version]:
        """Every archived version of the record's row, oldest first, with provenance."""
        return browse.versions(self, record_id)

    # -- interactions ---------------------------------------------------------------------
    def has_records(self, dataset: str) -> bool:
        return interactions.has_records(self, dataset)

    def interaction_count(self) -> int:
        """Interactions in the archive (archiver.counts.INTERACTIONS)."""
        return interactions.interaction_count(self)

    def find_interactions(self, text: str, limit: int = 200) -> list[tuple[str, str, int]]:
        return interactions.find_interactions(self, text, limit)

    def interaction(self, interaction_id: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """(segments by SEGMENT_NUMBER, workflow trace steps by start time), latest versions."""
        return interactions.interaction(self, interaction_id)

    def transcript(self, interaction_id: str) -> list[dict[str, str]]:
        """The interaction's transcript messages in order (latest versions)."""
        return interactions.transcript(self, interaction_id)

    # -- audit ---------------------------------------------------------------------------
    def audit_log(self) -> list[AuditEntry]:
        """Every audit entry, newest first."""
        return audit.audit_log(self)

    def audit_ids(self, kinds: Sequence[str] | None = None, about: str | None = None) -> array[int]:
        """Ids of the audit entries, newest first (the Audit tab holds these, and reads
        the entries it shows with :meth:`audit_entries`): every one, or those of the events
        ``kinds`` and those that mention ``about`` (an interaction id: also the case and
        hold entries of the cases that held it; :func:`.cases.entries_about`)."""
        if about:
            return array("q", cases.entries_about(self, about, kinds))
        if kinds is not None:
            return array("q", cases.entry_ids(self, kinds))
        return audit.audit_ids(self)

    def audit_entries(self, ids: Sequence[int]) -> dict[int, AuditEntry]:
        """The audit entries with these ids, by id."""
        return audit.audit_entries(self, ids)

    def unfinished_runs(self) -> list[RunRecord]:
        """Pull runs still running or interrupted, newest first (Resume offers the first)."""
        return pulls.unfinished_runs(self)

    def chain_head(self) -> ChainHead:
        return audit.chain_head(self)
