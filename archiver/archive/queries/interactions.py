"""Interactions: found by id or by text, and their segments and workflow trace steps
(the Interactions tab; the archive's latest versions only)."""

from __future__ import annotations

from archiver.archive import values
from archiver.archive.compact import stream_id
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
        like = " OR ".join(f"v.{values.quote(c)} LIKE ?" for c in cols)
        hits = db.conn.execute(
            head + f" AND ({like})" + tail, (sid, *[f"%{text}%"] * len(cols), limit)
        ).fetchall()
    return [(r[0], _day(r[1]), r[2]) for r in hits]


def interaction(
    db: Source, interaction_id: str
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(segments by SEGMENT_NUMBER, workflow trace steps by start time), latest versions."""
    segs = _latest_by(db, "interactionSegments", "INTERACTION_ID", interaction_id)
    segs.sort(key=lambda s: (int(s.get("SEGMENT_NUMBER") or 0), s.get("END_TIME", "")))
    steps = _latest_by(db, "workflowTrace", "WORKFLOWSESSION_INTERACTIONID", interaction_id)
    steps.sort(key=lambda s: s.get("UPDATEHISTORYITEM_STARTTIME", ""))
    return segs, steps


def _latest_by(db: Source, dataset: str, column: str, value: str) -> list[dict[str, str]]:
    if column not in values.table_columns(db.conn, dataset):
        return []
    sid = stream_id(db.conn, dataset, "interval", create=False) or -1
    ids = [
        r[0]
        for r in db.conn.execute(
            f"""SELECT v.record_id FROM {values.table(dataset)} v
                CROSS JOIN records r ON r.record_id = v.record_id
                WHERE v.{values.quote(column)} = ? AND r.stream_id = ?
                  AND NOT EXISTS (SELECT 1 FROM superseded x WHERE x.record_id = r.record_id)""",
            (value, sid),
        )
    ]
    return list(values.fetch(db.conn, dataset, ids).values())


def _day(interval: str) -> str:
    """YYYY-MM-DD of an interval key (YYYYMMDDHHmm or YYYYMMDD)."""
    return f"{interval[:4]}-{interval[4:6]}-{interval[6:8]}" if len(interval) >= 8 else interval
