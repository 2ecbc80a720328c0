"""A bundle's stated gaps agree with its contents, under either reading of an interval
`ending` (the simulator serves each: `--ending inclusive|exclusive`).

The case from the field: an archive pulled for 2025-02-02, a bundle for 2025-02-02 22:00 –
2025-02-03 01:45 (the last interval included). Against an inclusive server the pull's last
chunk (asked up to 2025-02-03 00:00) also brought back that interval's rows: the interval
was walked ("received at the previous chunk's ending"), so it is no gap, and its
interactions are in the bundle. Against an exclusive server nothing of 2025-02-03 is
archived, and the gap starts at 00:00. Either way no row in the bundle lies in a stated gap
unless its interaction's page says so."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from archiver.datasets import DATASETS
from archiver.export import keys
from archiver.export.bundle import export_bundle
from archiver.export.scope import Scope
from archiver.export.trust import TrustPolicy
from archiver.export.verify import verify_bundle
from archiver.jobs import drive
from archiver.simulator import SimConfig, Simulator
from archiver.timerange import row_interval
from tests.pulltools import params, pull

SCOPE = Scope(datetime(2025, 2, 2, 22, 0, tzinfo=UTC), datetime(2025, 2, 3, 1, 45, tzinfo=UTC))
STEP = timedelta(minutes=15)
_SPAN = re.compile(
    r"^(\S+) (\d{4}-\d\d-\d\d \d\d:\d\d)(?: – (?:(\d{4}-\d\d-\d\d) )?(\d\d:\d\d))? UTC, "
    r"(?:last interval included|one interval)(?:: (.*))?$"
)


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVER_KEY_PASSPHRASE", "bundle coverage test")
        yield keys.load_or_create(tmp_path_factory.mktemp("keys") / "signing")


def _archive(tmp_path, ending: str, **pull_kw):
    sim = Simulator(SimConfig(rows_per_interval=6, ending=ending))
    sim.start()
    try:
        arc = tmp_path / "a.sqlite3"
        p = params(["interactionSegments", "workflowTrace"], "20250202", "20250202", **pull_kw)
        pull(sim, arc, p)
    finally:
        sim.stop()
    return arc


def _intervals(span: str) -> tuple[str, set[str], str]:
    """(dataset, interval keys, why) of a stated span, parsed from its words alone."""
    m = _SPAN.match(span)
    assert m, span
    ds, first, last_day, last_time, why = m.groups()
    a = datetime.strptime(first, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    b = a
    if last_time:
        day = last_day or first[:10]
        b = datetime.strptime(f"{day} {last_time}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    keys_ = set()
    while a <= b:
        keys_.add(f"{a:%Y%m%d%H%M}")
        a += STEP
    return ds, keys_, why or ""


def _bag_info(bundle) -> list[tuple[str, str]]:
    lines = (bundle / "bag-info.txt").read_text().splitlines()
    return [tuple(line.split(": ", 1)) for line in lines if ": " in line]  # type: ignore[misc]


def _records(bundle) -> list[dict]:
    return [json.loads(x) for x in (bundle / "data" / "records.jsonl").read_text().splitlines()]


def _pages_of(bundle) -> dict[str, str]:
    """Interaction id → the text of the report page that shows its heading."""
    out = {}
    for page in PdfReader(bundle / "data" / "report.pdf").pages:
        text = page.extract_text()
        for m in re.finditer(r"^Interaction (\S+)$", text, re.M):
            out[m.group(1)] = text[m.start() :]
    return out


def _check_gaps_agree_with_contents(bundle, result) -> tuple[set[str], set[str]]:
    """Every segment or step in the bundle whose own interval lies in a stated gap belongs to
    an interaction whose page is marked; returns (gap keys of interactionSegments, marked
    interaction ids)."""
    info = _bag_info(bundle)
    gap_keys: dict[str, set[str]] = {"interactionSegments": set(), "workflowTrace": set()}
    for key, value in info:
        if key == "Archiver-Coverage-Gap":
            ds, ks, why = _intervals(value)
            assert why, value
            gap_keys[ds] |= ks
    pages = _pages_of(bundle)
    in_gap: set[str] = set()
    for r in _records(bundle):
        v = r["values"]
        own = row_interval(v[DATASETS[r["dataset"]].time_column])  # the row's own interval
        iid = v.get("INTERACTION_ID") or v["WORKFLOWSESSION_INTERACTIONID"]
        if own in gap_keys[r["dataset"]]:
            in_gap.add(iid)
    for iid, text in pages.items():
        marked = "Coverage gap:" in text.split("Segments (")[0]
        assert marked == (iid in in_gap), iid
    assert dict(info)["Archiver-Interactions-In-Gaps"] == str(len(in_gap)) == str(result.marked)
    return gap_keys["interactionSegments"], in_gap


@pytest.mark.parametrize("ending", ["inclusive", "exclusive"])
def test_the_field_case_under_either_reading(tmp_path, signing, ending):
    arc = _archive(tmp_path, ending)
    result = drive(export_bundle(arc, SCOPE, tmp_path / "b", signing, workers=0))
    bundle = result.path
    seg_gaps, marked = _check_gaps_agree_with_contents(bundle, result)
    next_day = {
        r["values"]["INTERACTION_ID"]
        for r in _records(bundle)
        if r["dataset"] == "interactionSegments"
        and row_interval(r["values"]["STARTTIME_UTC"]).startswith("20250203")
    }
    cover = " ".join(PdfReader(bundle / "data" / "report.pdf").pages[0].extract_text().split())
    if ending == "inclusive":
        assert result.gaps == [
            f"{ds} 2025-02-03 00:15 – 01:45 UTC, last interval included: never requested"
            for ds in ("interactionSegments", "workflowTrace")
        ]
        assert next_day, "the 00:00 interval's interactions are in the bundle"
        assert all(
            row_interval(r["values"]["STARTTIME_UTC"]) == "202502030000"
            for r in _records(bundle)
            if r["dataset"] == "interactionSegments"
            and r["values"]["STARTTIME_UTC"].startswith("2025-02-03")
        )
        assert result.at_ending == [
            f"{ds} 2025-02-03 00:00 UTC, one interval"
            for ds in ("interactionSegments", "workflowTrace")
        ]
        assert "received at the previous chunk's ending" in cover
        walked = [v for k, v in _bag_info(bundle) if k == "Archiver-Walked-At-Previous-Ending"]
        assert walked == result.at_ending
    else:
        assert result.gaps == [
            f"{ds} 2025-02-03 00:00 – 01:45 UTC, last interval included: never requested"
            for ds in ("interactionSegments", "workflowTrace")
        ]
        assert not next_day and not result.at_ending
        assert "received at the previous chunk's ending" not in cover
    assert "202502030000" in seg_gaps or ending == "inclusive"
    assert not marked  # nothing of the bundle lies in a gap: the gaps are intervals never asked
    assert "2 gaps: " in cover
    assert verify_bundle(bundle, TrustPolicy.local(signing.cert_path.parent)).ok


@pytest.mark.slow
def test_rows_of_a_failed_chunk_are_kept_and_marked(tmp_path, signing, monkeypatch):
    """A chunk that failed after two pages: the interval its pages reached is a stated gap
    (failed), yet its rows are archived evidence. They stay in the bundle, and the pages of
    their interactions say they lie in a gap."""
    from archiver.api.client import HistoricalClient

    real = HistoricalClient.pages

    def pages(self, query, token=None):
        for n, page in enumerate(real(self, query, token), 1):
            yield page
            if query.interval.startswith("starting:202502022300") and n == 2:
                raise KeyError("the connection broke after two pages")

    monkeypatch.setattr(HistoricalClient, "pages", pages)
    arc = _archive(tmp_path, "inclusive", page_size=6)  # a page per interval
    result = drive(export_bundle(arc, SCOPE, tmp_path / "b", signing, workers=0))
    seg_gaps, marked = _check_gaps_agree_with_contents(result.path, result)
    assert "202502022315" in seg_gaps and "202502022300" not in seg_gaps  # 23:00: at ending
    assert any(g.startswith("interactionSegments 2025-02-02 23:15 – 23:45") for g in result.gaps)
    assert any("failed (" in g for g in result.gaps)
    assert marked and result.marked == len(marked)
    cover = " ".join(PdfReader(result.path / "data" / "report.pdf").pages[0].extract_text().split())
    assert "lie in these gaps (rows the archive does hold)" in cover
