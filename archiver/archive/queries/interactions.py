"""Interactions: found by id or by text, and their segments and workflow trace steps
(the Interactions tab; the archive's latest versions only); which ids the archive knows, the
records of an interaction in every dataset whatever their dates (a case, a case production),
and what an interaction is in a line (a case's list, a load file's row)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archiver.archive import values
from archiver.archive.compact import stream_id
from archiver.datasets import INTERACTION_COLUMN as INTERACTION_COLUMN

if TYPE_CHECKING:  # (the writer's search index reads INTERACTION_COLUMN: no import circle)
    from archiver.archive.queries.reader import Source


def has_records(db: Source, dataset: str) -> bool:
    """Whether the archive holds any row of ``dataset``, in any of its streams (cheap: an
    index probe per stream)."""
    row = db.conn.execute(
        """SELECT 1 FROM records
           WHERE stream_id IN (SELECT stream_id FROM streams WHERE dataset=?) LIMIT 1""",
        (dataset,),
    ).fetchone()
    return row is not None


def interaction_count(db: Source) -> int:
    """Interactions in the archive (archiver.counts.INTERACTIONS): distinct
    INTERACTION_ID values among the 15-minute interactionSegments records."""
    if "INTERACTION_ID" not in values.table_columns(db.conn, "interactionSegments"):
        return 0
    sid = stream_id(db.conn, "interactionSegments", "interval", create=False) or -1
    (n,) = db.conn.execute(
        f"""SELECT count(DISTINCT v."INTERACTION_ID") FROM
            {values.table("interactionSegments")} v
            CROSS JOIN records r ON r.record_id = v.record_id WHERE r.stream_id = ?""",
        (sid,),
    ).fetchone()
    return int(n)


def find_interactions(db: Source, text: str, limit: int = 200) -> list[tuple[str, str, int]]:
    """(interaction id, first segment start day, segments) whose id starts with ``text``
    (an index lookup); when none does, those whose values contain it."""
    t = values.table("interactionSegments")
    if not values.table_columns(db.conn, "interactionSegments"):
        return []
    sid = stream_id(db.conn, "interactionSegments", "interval", create=False) or -1
    head = f"""SELECT v."INTERACTION_ID", min(r.interval_start), count(*)
               FROM {t} v CROSS JOIN records r ON r.record_id = v.record_id
               WHERE r.stream_id = ?
                 AND NOT EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id)"""
    tail = """ GROUP BY v."INTERACTION_ID" ORDER BY min(r.interval_start) DESC, 1 LIMIT ?"""
    hits = db.conn.execute(
        head + """ AND v."INTERACTION_ID" >= ? AND v."INTERACTION_ID" < ?""" + tail,
        (sid, text, text + "\U0010ffff", limit),
    ).fetchall()
    if not hits:
        cols = values.table_columns(db.conn, "interactionSegments")
        hits = db.conn.execute(
            head + f" AND {values.any_like(cols)}" + tail, (sid, *[f"%{text}%"] * len(cols), limit)
        ).fetchall()
    return [(r[0], _day(r[1]), r[2]) for r in hits]


def interaction(
    db: Source, interaction_id: str
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(segments by SEGMENT_NUMBER, workflow trace steps by start time), latest versions."""
    segs = _latest_by(db, "interactionSegments", interaction_id)
    segs.sort(key=lambda s: (int(s.get("SEGMENT_NUMBER") or 0), s.get("END_TIME", "")))
    steps = _latest_by(db, "workflowTrace", interaction_id)
    steps.sort(key=lambda s: s.get("UPDATEHISTORYITEM_STARTTIME", ""))
    return segs, steps


#: a transcript column that numbers its messages, where a tenant's transcript has one (the
#: guide documents none: the simulator's has none); otherwise the order received is used
_SEQUENCE = re.compile(
    r"(^|_)(SEQ|SEQUENCE|SEQ_NO|MESSAGE_(NUMBER|INDEX|SEQ|SEQUENCE|ORDER)|POSITION)$"
)


def transcript(db: Source, interaction_id: str) -> list[dict[str, str]]:
    """The interaction's transcript messages in order, latest versions: by a sequence
    column where the transcript has one (numerically), else in the order the API delivered
    them (page, then position in the page; a re-issued message keeps its first place).
    A transcript delivered as one row (the whole text) is one row here (the review splits
    it into its lines: services.interactions.transcript_lines)."""
    column = values.stored_names(db.conn, "transcript").get(INTERACTION_COLUMN["transcript"])
    if column is None:
        return []
    sid = stream_id(db.conn, "transcript", "interval", create=False) or -1
    ids = [
        rid
        for (rid,) in db.conn.execute(
            f"""SELECT r.record_id FROM {values.table("transcript")} v
                CROSS JOIN records r ON r.record_id = v.record_id
                WHERE v.{values.quote(column)} = ? AND r.stream_id = ?
                  AND NOT EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id)""",
            (interaction_id, sid),
        )
    ]
    rows = values.fetch(db.conn, "transcript", ids)
    return [rows[rid] for rid in message_order(db, rows)]


def message_order(db: Source, rows: Mapping[int, Mapping[str, str]]) -> list[int]:
    """Transcript records (record id → values) in message order: by a sequence column where
    the transcript has one (numerically), else in the order the API delivered them (page,
    then position in the page; a re-issued message keeps its first place). The one rule
    for the Interactions view and a case production."""
    if not rows:
        return []
    order = {
        rid: (first_page, first_row)
        for rid, first_page, first_row in db.conn.execute(
            """SELECT r.record_id,
                      (SELECT min(o.page_id) FROM records o
                       WHERE o.stream_id = r.stream_id AND o.row_key = r.row_key),
                      (SELECT o.row_index FROM records o
                       WHERE o.stream_id = r.stream_id AND o.row_key = r.row_key
                       ORDER BY o.page_id, o.row_index LIMIT 1)
               FROM records r WHERE r.record_id IN (SELECT value FROM json_each(?))""",
            (json.dumps(list(rows)),),
        )
    }
    seq = next(
        (c for c in values.table_columns(db.conn, "transcript") if _SEQUENCE.search(c)), None
    )

    def key(rid: int) -> tuple[int, int, int, int, int]:
        n = rows[rid].get(seq, "") if seq else ""
        first = order.get(rid, (0, 0))
        return (0 if n.isdigit() else 1, int(n) if n.isdigit() else 0, *first, rid)

    return sorted(rows, key=key)


def _latest_by(db: Source, dataset: str, value: str) -> list[dict[str, str]]:
    column = INTERACTION_COLUMN[dataset]
    if column not in values.table_columns(db.conn, dataset):
        return []
    sid = stream_id(db.conn, dataset, "interval", create=False) or -1
    ids = [
        r[0]
        for r in db.conn.execute(
            f"""SELECT v.record_id FROM {values.table(dataset)} v
                CROSS JOIN records r ON r.record_id = v.record_id
                WHERE v.{values.col(column)} = ? AND r.stream_id = ?
                  AND NOT EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id)""",
            (value, sid),
        )
    ]
    return list(values.fetch(db.conn, dataset, ids).values())


def _day(interval: str) -> str:
    """YYYY-MM-DD of an interval key (YYYYMMDDHHmm or YYYYMMDD)."""
    return f"{interval[:4]}-{interval[4:6]}-{interval[6:8]}" if len(interval) >= 8 else interval


# -- interactions by id: known, their records, what they are ------------------------------
def id_column(db: Source, dataset: str) -> str | None:
    """The values column naming a record's interaction in ``dataset`` (None: the archive
    holds no row of it, or none with that column)."""
    column = INTERACTION_COLUMN.get(dataset)
    if column is None:
        return None
    return values.stored_names(db.conn, dataset).get(column)


def known_interactions(db: Source, ids: Sequence[str]) -> set[str]:
    """Those of ``ids`` some archived record (any dataset, any version) names as its
    interaction."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    for dataset in INTERACTION_COLUMN:
        column = id_column(db, dataset)
        if column is None or not wanted:
            continue
        found.update(
            r[0]
            for r in db.conn.execute(
                f"""SELECT DISTINCT {values.quote(column)} FROM {values.table(dataset)}
                    WHERE {values.quote(column)} IN (SELECT value FROM json_each(?))""",
                (json.dumps(wanted),),
            )
        )
    return found


def record_interactions(db: Source, record_ids: Sequence[int]) -> dict[int, str]:
    """record id → the interaction it belongs to, for those records of an interaction
    dataset (others are left out)."""
    out: dict[int, str] = {}
    for dataset in INTERACTION_COLUMN:
        column = id_column(db, dataset)
        if column is None:
            continue
        for n in range(0, len(record_ids), 500):
            part = list(record_ids[n : n + 500])
            out.update(
                (rid, iid)
                for rid, iid in db.conn.execute(
                    f"""SELECT record_id, {values.quote(column)} FROM {values.table(dataset)}
                        WHERE record_id IN (SELECT value FROM json_each(?))""",
                    (json.dumps(part),),
                )
                if iid
            )
    return out


def interaction_records(
    db: Source, ids: Sequence[str], *, latest: bool = True, dataset_type: str = "interval"
) -> dict[str, dict[str, list[tuple[int, str]]]]:
    """dataset → interaction id → (record id, own interval) of its records in that
    dataset's stream (latest versions, or every version), whatever their dates."""
    out: dict[str, dict[str, list[tuple[int, str]]]] = {}
    wanted = json.dumps(sorted(set(ids)))
    for dataset in INTERACTION_COLUMN:
        column = id_column(db, dataset)
        sid = stream_id(db.conn, dataset, dataset_type, create=False)
        if column is None or sid is None:
            continue
        newest = (
            " AND NOT EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id)"
            if latest
            else ""
        )
        per: dict[str, list[tuple[int, str]]] = {}
        for iid, rid, interval in db.conn.execute(
            f"""SELECT v.{values.quote(column)}, r.record_id, r.interval_start
                FROM {values.table(dataset)} v CROSS JOIN records r ON r.record_id = v.record_id
                WHERE v.{values.quote(column)} IN (SELECT value FROM json_each(?))
                  AND r.stream_id = ?{newest}
                ORDER BY r.record_id""",
            (wanted, sid),
        ):
            per.setdefault(iid, []).append((rid, interval))
        out[dataset] = per
    return out


@dataclass(frozen=True)
class Summary:
    """What an interaction is, from its latest records: when (its first and last own
    interval of any dataset), its channel, customer, queue, agents, subject and notes, and
    its records per dataset. Empty strings where no record says."""

    interaction: str
    first: str  # own interval (YYYYMMDDHHmm), "" when none
    last: str
    started: str  # the earliest START_TIME / derived start the records state, ISO
    channel: str
    customer: str
    contact: str  # phone or e-mail
    queue: str
    agents: tuple[str, ...]
    subject: str
    notes: str
    records: dict[str, int]


def summaries(db: Source, ids: Sequence[str]) -> dict[str, Summary]:
    """:class:`Summary` of each of ``ids`` the archive knows (latest versions)."""
    found = interaction_records(db, ids)
    out: dict[str, Summary] = {}
    rows: dict[str, dict[str, list[dict[str, str]]]] = {}
    for dataset, per in found.items():
        wanted = [rid for recs in per.values() for rid, _ in recs]
        vals = values.fetch(db.conn, dataset, wanted) if wanted else {}
        for iid, recs in per.items():
            rows.setdefault(iid, {})[dataset] = [vals[rid] for rid, _ in recs if rid in vals]
    for iid in ids:
        per_ds = rows.get(iid)
        if not per_ds:
            continue
        intervals = sorted(
            k for recs in (found[d].get(iid, []) for d in found) for _, k in recs if k
        )
        out[iid] = _summary(iid, per_ds, intervals)
    return out


def _summary(iid: str, per: dict[str, list[dict[str, str]]], intervals: list[str]) -> Summary:
    segs = sorted(
        per.get("interactionSegments", []),
        key=lambda s: (
            int(s.get("SEGMENT_NUMBER") or 0) if (s.get("SEGMENT_NUMBER") or "").isdigit() else 0
        ),
    )
    others = per.get("mpccdr", []) + per.get("transcript", [])

    def first_of(rows: list[dict[str, str]], *cols: str) -> str:
        for r in rows:
            for c in cols:
                if r.get(c):
                    return r[c]
        return ""

    starts = [
        s
        for s in (
            *(r.get("START_TIME", "") for r in others),
            *(r.get("STARTTIME_UTC", "") for r in segs[:1]),
            *(r.get("UPDATEHISTORYITEM_STARTTIME", "") for r in per.get("workflowTrace", [])),
        )
        if s
    ]
    agents = tuple(
        dict.fromkeys(
            a
            for a in (
                *(s.get("USER_ID", "") for s in segs),
                *(r.get("AGENT_ID", "") for r in others),
            )
            if a
        )
    )
    return Summary(
        iid,
        intervals[0] if intervals else "",
        intervals[-1] if intervals else "",
        min(starts) if starts else "",
        first_of(segs, "COMM_TYPE") or first_of(others, "CHANNEL"),
        first_of(segs, "FIRST_LAST_NAME"),
        first_of(segs, "SOURCE_PHONE_NUMBER", "SOURCE_EMAIL") or first_of(others, "CALLING_NUMBER"),
        first_of(segs, "QUEUE_NAME", "QUEUE_ID") or first_of(others, "QUEUE_ID"),
        agents,
        first_of(segs, "INTERACTION_SUBJECT"),
        first_of(segs, "INTERACTION_NOTES"),
        {d: len(r) for d, r in per.items() if r},
    )
