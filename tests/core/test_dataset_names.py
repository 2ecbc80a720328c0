"""Dataset names as people type them: any case, a "did you mean" for a near miss, one
helper (archiver.datasets.resolve_name) behind every flag and use case that takes one; and
the vendor guide's column descriptions in the registry."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from archiver.cli.main import build_parser
from archiver.datasets import (
    DATASET_NAMES,
    DATASETS,
    UnknownDatasetError,
    column_description,
    get_dataset,
    resolve_name,
    resolve_names,
)
from archiver.services import archive as archive_service
from archiver.services import pull as pulls
from tests.pulltools import params, pull


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("interactionsegments", "interactionSegments"),
        ("INTERACTIONSEGMENTS", "interactionSegments"),
        ("  WorkflowTrace ", "workflowTrace"),
        ("queue", "queue"),
        ("MPCCDR", "mpccdr"),
    ],
)
def test_any_case_resolves_to_the_registry_spelling(typed, name):
    assert resolve_name(typed) == name


def test_every_name_resolves_from_lower_and_upper_case():
    for name in DATASET_NAMES:
        assert resolve_name(name.lower()) == resolve_name(name.upper()) == name


@pytest.mark.parametrize(
    ("typed", "guess"),
    [
        ("agents", "agent"),
        ("intractionSegments", "interactionSegments"),
        ("segments", "interactionSegments"),
        ("trace", "workflowTrace"),
        ("workflow_trace", "workflowTrace"),
        ("agentbyqueu", "agentByQueue"),
    ],
)
def test_a_near_miss_says_did_you_mean(typed, guess):
    with pytest.raises(UnknownDatasetError) as err:
        resolve_name(typed)
    assert err.value.suggestion == guess
    assert f"Did you mean {guess!r}?" in str(err.value)
    assert "Valid datasets: agent, queue" in str(err.value)


def test_nothing_close_lists_the_valid_names_only():
    with pytest.raises(UnknownDatasetError) as err:
        resolve_name("xyz")
    assert err.value.suggestion is None and "Did you mean" not in str(err.value)
    assert all(n in str(err.value) for n in DATASET_NAMES)


def test_get_dataset_stays_exact_but_suggests():
    """The API is case-sensitive: queries use the registry's spelling, so get_dataset
    (the client's check) does not fold case, but its error points at the right name."""
    with pytest.raises(UnknownDatasetError, match="Did you mean 'interactionSegments'"):
        get_dataset("interactionsegments")


def test_resolve_names_keeps_order_and_drops_repeats():
    assert resolve_names(["QUEUE", "agent", "queue"]) == ["queue", "agent"]


def test_use_cases_resolve_names_from_outside():
    p = pulls.range_params(
        ["interactionsegments", "WORKFLOWTRACE"],
        datetime(2025, 2, 1, tzinfo=UTC),
        datetime(2025, 2, 1, 23, 45, tzinfo=UTC),
    )
    assert p.datasets == ("interactionSegments", "workflowTrace")
    with pytest.raises(UnknownDatasetError, match="Did you mean 'queue'"):
        pulls.range_params(["queu"], "20250201", "20250201")


@pytest.mark.parametrize(
    "argv",
    [
        ["export-dataset", "--dataset", "{}", "--format", "csv", "--out", "x.csv"],
        ["coverage", "--dataset", "{}"],
        ["schedule", "install", "--dataset", "{}"],
        ["simulate", "--omit-row-id", "{}"],
    ],
)
def test_every_dataset_flag_takes_any_case_and_suggests(argv, capsys):
    parser = build_parser()
    args = parser.parse_args([a.format("INTERACTIONSEGMENTS") for a in argv])
    value = args.omit_row_id if argv[0] == "simulate" else args.dataset
    assert value in ("interactionSegments", ["interactionSegments"])
    with pytest.raises(SystemExit) as stop:
        parser.parse_args([a.format("intractionSegments") for a in argv])
    assert stop.value.code == 2
    assert "Did you mean 'interactionSegments'?" in capsys.readouterr().err


def test_lowercase_dataset_from_outside_is_archived_under_its_name(sim, tmp_path):
    arc = tmp_path / "a.sqlite3"
    pull(sim, arc, params(["queue"], "202502010000", "202502010045"))
    n = archive_service.export_dataset(arc, "Queue", "jsonl", tmp_path / "q.jsonl")
    report = archive_service.coverage(arc, dataset="QUEUE")
    assert n > 0 and {d.dataset for d in report.days} == {"queue"}
    conn = sqlite3.connect(arc)
    assert (
        '"dataset":"queue"'
        in conn.execute("SELECT details FROM audit_log WHERE event='export-dataset'").fetchone()[0]
    )
    conn.close()


# -- column descriptions ---------------------------------------------------------------------
def test_every_column_of_a_documented_dataset_has_the_guides_description():
    for ds in DATASETS.values():
        if ds.documented:
            missing = [c for c in ds.column_names if not column_description(ds.name, c)]
            assert not missing, f"{ds.name}: {missing}"


def test_a_datasets_own_description_wins_over_another_datasets():
    assert "before agent connection" in column_description("interactionSegments", "WAIT_TIME")
    assert "across all interactions" in column_description("queue", "WAITTIME")
    assert "before agent accepted" in column_description("agent", "WAITTIME")
    assert column_description("queue", "COMMIT_TS").startswith("Timestamp when this row")
    assert column_description("mpccdr", "CALL_ID") == ""  # undocumented dataset
