"""Coverage lists the whole range asked, every day of it, and the time rule of the
day-granular commands (`coverage`, `export-dataset`): a time that is not a day boundary is
refused, never widened. Real simulator, real archive, the CLI called in-process."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest

from archiver.archive import coverage as cov
from archiver.services import archive as archive_service
from archiver.timerange import RangeError, format_range, parse_day
from tests.clitools import run_cli
from tests.pulltools import params, pull, utc


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """One archive per reading of `ending`: queue and agent pulled for 2025-02-02 only."""
    from archiver.simulator import SimConfig, Simulator

    out = {}
    for ending in ("inclusive", "exclusive"):
        sim = Simulator(SimConfig(rows_per_interval=2, ending=ending))
        sim.start()
        try:
            arc = tmp_path_factory.mktemp(ending) / "a.sqlite3"
            pull(sim, arc, params(["queue", "agent"], "20250202", "20250202", page_size=200))
        finally:
            sim.stop()
        out[ending] = arc
    return out


def _coverage(arc, *more: str) -> tuple[int, str]:
    out = run_cli("coverage", "--archive", arc, *more)
    return out.code, out.stdout


@pytest.mark.parametrize("ending", ["inclusive", "exclusive"])
def test_every_day_of_the_range_is_listed(archives, ending):
    arc = archives[ending]
    code, out = _coverage(arc, "--from", "2025-01-31", "--to", "2025-02-04")
    assert code == 0, out
    lines = [line.split() for line in out.splitlines()]
    days = {(c[0], c[2]): c[3:] for c in lines if len(c) > 3 and c[1] == "interval"}
    want_days = ["2025-01-31", "2025-02-01", "2025-02-02", "2025-02-03", "2025-02-04"]
    for ds in ("queue", "agent"):
        assert [d for (name, d) in days if name == ds] == want_days
        for day in ("2025-01-31", "2025-02-01", "2025-02-04"):
            assert days[(ds, day)][:2] == ["never", "requested"], days[(ds, day)]
        assert days[(ds, "2025-02-02")][0] == "done"
    assert "Coverage of 2025-01-31 – 2025-02-04 UTC, last day included" in out
    last = out.strip().splitlines()[-1]
    assert "Every requested interval was walked" not in out
    if ending == "inclusive":
        # 2025-02-03 00:00 came back as the last chunk's `ending`: walked, and said so;
        # the rest of that day was never requested
        assert "received at the previous chunk's ending" in out
        assert last == (
            "8 dataset-days never requested (6 wholly, 2 in part; 766 intervals in all); "
            "every requested interval was walked to completion."
        )
    else:
        assert "received at the previous chunk's ending" not in out
        assert last == (
            "8 dataset-days never requested (wholly; 768 intervals in all); every requested "
            "interval was walked to completion."
        )


@pytest.mark.parametrize("ending", ["inclusive", "exclusive"])
def test_json_lists_never_requested_days(archives, ending):
    code, out = _coverage(
        archives[ending], "--dataset", "queue", "--from", "20250201", "--to", "20250203"
    )
    assert code == 0
    code, out = _coverage(
        archives[ending],
        "--dataset",
        "queue",
        "--from",
        "20250201",
        "--to",
        "20250203",
        "--json",
    )
    doc = json.loads(out)
    by_day = {d["day"]: d for d in doc["days"]}
    assert list(by_day) == ["2025-02-01", "2025-02-02", "2025-02-03"]
    assert by_day["2025-02-01"]["state"] == "never requested"
    assert by_day["2025-02-01"]["never_requested"] == 96 and by_day["2025-02-01"]["requested"] == 0
    assert by_day["2025-02-02"]["state"] == "done" and by_day["2025-02-02"]["walked"] == 96
    third = by_day["2025-02-03"]
    assert third["state"] == "never requested"
    at_ending = 1 if ending == "inclusive" else 0
    assert third["walked"] == third["walked_at_previous_ending"] == at_ending
    assert third["never_requested"] == 96 - at_ending
    assert doc["days_never_requested"] == 2  # 2025-02-03 wholly or (inclusive) in part
    assert doc["verdict"].startswith("2 dataset-days never requested")
    # every interval of the range is counted once, as requested or never requested
    assert all(d["requested"] + d["never_requested"] == 96 for d in doc["days"])


def test_without_a_range_it_spans_what_was_requested(archives):
    report = archive_service.coverage(archives["exclusive"])
    assert {d.day for d in report.days} == {"2025-02-02"}
    assert report.verdict() == "Every interval of the range was requested and walked to completion."
    report = archive_service.coverage(archives["inclusive"])
    # the inclusive `ending` reached into 2025-02-03: that day is listed for every stream
    assert sorted({(d.dataset, d.day) for d in report.days}) == [
        (ds, day) for ds in ("agent", "queue") for day in ("2025-02-02", "2025-02-03")
    ]
    assert report.range_text() == "2025-02-02 – 2025-02-03 UTC, last day included"


def test_records_per_day_add_up_to_the_archive(archives):
    """The records coverage counts per day are the archive's records of the stream."""
    for arc in archives.values():
        report = archive_service.coverage(arc)
        conn = sqlite3.connect(arc)
        for ds in ("queue", "agent"):
            (n,) = conn.execute(
                "SELECT count(*) FROM records_view WHERE dataset=? AND dataset_type='interval'",
                (ds,),
            ).fetchone()
            assert sum(d.records for d in report.days if d.dataset == ds) == n
        conn.close()


def test_a_walk_that_failed_is_not_walked_at_its_ending(archives, tmp_path):
    """The interval after a chunk counts as walked only when the chunk finished and the
    archive shows the inclusive reading (coverage.walked_intervals, the one definition)."""
    src = sqlite3.connect(archives["inclusive"])
    arc = tmp_path / "a.sqlite3"
    dst = sqlite3.connect(arc)
    with dst:
        src.backup(dst)
    src.close()
    dst.row_factory = sqlite3.Row
    last = dst.execute(
        "SELECT * FROM coverage WHERE dataset='queue' ORDER BY chunk_start DESC LIMIT 1"
    ).fetchone()
    walk = cov.walked_intervals(last, cov.INCLUSIVE)
    assert walk.at_ending == utc(2025, 2, 3) and walk.missing == []
    assert cov.walked_intervals(last, cov.EXCLUSIVE).at_ending is None
    assert cov.walked_intervals(last, cov.CONTRADICTORY).at_ending is None
    dst.execute("UPDATE coverage SET state='failed' WHERE chunk_start=?", (last["chunk_start"],))
    gaps = cov.gap_intervals(dst, "queue", utc(2025, 2, 2, 23, 0), utc(2025, 2, 3, 0, 15))
    dst.close()
    # 23:00 is still walked: the `ending` of the chunk before (22:00–22:45), which finished
    assert sorted(gaps) == [utc(2025, 2, 2, 23, m) for m in (15, 30, 45)] + [
        utc(2025, 2, 3, 0, 0),
        utc(2025, 2, 3, 0, 15),
    ]
    assert gaps[utc(2025, 2, 3, 0, 0)] == "never requested"
    assert gaps[utc(2025, 2, 2, 23, 15)].startswith("failed")


@pytest.mark.parametrize(
    ("text", "is_end", "day"),
    [
        ("2025-02-02", False, date(2025, 2, 2)),
        ("20250202", True, date(2025, 2, 2)),
        ("2025-02-02T00:00Z", False, date(2025, 2, 2)),
        ("202502022345", True, date(2025, 2, 2)),
        ("2025-02-02T01:00+01:00", False, date(2025, 2, 2)),  # 00:00 UTC
    ],
)
def test_day_bounds(text, is_end, day):
    assert parse_day(text, is_end=is_end) == day


@pytest.mark.parametrize(
    ("text", "is_end"),
    [
        ("2025-02-02T10:00Z", False),
        ("202502022345", False),
        ("2025-02-02T00:00Z", True),
        ("202502021015", True),
        ("2025-02-02T00:00:30Z", False),
    ],
)
def test_a_time_that_is_not_a_day_boundary_is_refused(text, is_end):
    with pytest.raises(RangeError, match="not a day boundary"):
        parse_day(text, is_end=is_end)


@pytest.mark.parametrize("command", ["coverage", "export-dataset"])
def test_commands_refuse_a_time_inside_a_day(archives, tmp_path, command):
    more = ["--dataset", "queue", "--format", "csv", "--out", str(tmp_path / "q.csv")]
    args = [command, "--archive", str(archives["exclusive"])]
    args += more if command == "export-dataset" else []
    out = run_cli(*args, "--from", "2025-02-02T06:00Z", "--to", "2025-02-02")
    err = out.stderr
    assert out.code == 2 and "not a day boundary" in err and "does not widen" in err
    assert not (tmp_path / "q.csv").exists()
    out = run_cli(*args, "--from", "2025-02-02", "--to", "2025-02-03T00:00Z")
    err = out.stderr
    assert out.code == 2 and "2025-02-02 (up to that midnight) or 2025-02-03" in err
    # whole days, or their boundaries, are accepted
    out = run_cli(*args, "--from", "2025-02-02T00:00Z", "--to", "2025-02-02T23:45Z")
    assert out.code == 0, out.stderr


@pytest.mark.parametrize("command", ["coverage", "export-dataset"])
def test_help_says_times_are_refused(command):
    out = run_cli(command, "--help")
    assert out.code == 0
    text = " ".join(out.stdout.split())
    assert "refused" in text and "never widened" in text


def test_export_dataset_says_which_records_it_wrote(archives, tmp_path):
    arc = archives["exclusive"]
    res = run_cli(
        *("export-dataset", "--archive", arc, "--dataset", "queue"),
        *("--format", "jsonl", "--out", tmp_path / "q.jsonl"),
    )
    code, out = res.code, res.stdout
    n = len((tmp_path / "q.jsonl").read_text().splitlines())
    assert code == 0 and out.startswith(f"Exported {n:,} latest records (15-minute) of queue")


def test_format_range_is_inclusive():
    assert format_range(utc(2025, 2, 2, 0, 0), utc(2025, 2, 2, 1, 45)) == (
        "2025-02-02 00:00 – 01:45 UTC, last interval included"
    )
    assert format_range(utc(2025, 2, 2, 22, 0), utc(2025, 2, 3, 1, 45)) == (
        "2025-02-02 22:00 – 2025-02-03 01:45 UTC, last interval included"
    )
    assert format_range(utc(2025, 2, 2, 22, 0), utc(2025, 2, 2, 22, 0)) == (
        "2025-02-02 22:00 UTC, one interval"
    )
    assert format_range(date(2025, 2, 1), date(2025, 2, 7)) == (
        "2025-02-01 – 2025-02-07 UTC, last day included"
    )
    assert format_range(utc(2025, 2, 1), utc(2025, 2, 1), daily=True) == "2025-02-01 UTC, one day"
