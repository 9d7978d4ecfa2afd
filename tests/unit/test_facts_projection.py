"""``FactsProjection``: the pure mapping from decoded events to ClickHouse rows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from schemas.codec import EventCodec
from sinks.base import LoggedEvent
from sinks.facts import (
    PROJECTION_VERSION,
    TABLE_COLUMNS,
    FactsProjection,
    closes_issue_ref,
    trace_id,
)
from tests.facts_scenario import REPO, T0, logged


@pytest.fixture(scope="module")
def batch() -> list[LoggedEvent]:
    return logged(EventCodec())


def test_one_fact_per_event_with_log_coordinates(batch: list[LoggedEvent]) -> None:
    facts = FactsProjection().project(batch)["proof_facts"]
    assert len(facts) == len(batch)
    assert facts.columns == TABLE_COLUMNS["proof_facts"]
    assert facts.column("event_id") == [item.event_id for item in batch]
    assert facts.column("log_offset") == list(range(len(batch)))
    assert set(facts.column("log_topic")) == {"events"}
    assert set(facts.column("ingest_version")) == {PROJECTION_VERSION}


def test_envelope_fields_are_flattened(batch: list[LoggedEvent]) -> None:
    facts = FactsProjection().project(batch[:1])["proof_facts"]
    row = dict(zip(facts.columns, (col[0] for col in facts.data), strict=True))
    assert row["event_type"] == "run.started"
    assert row["occurred_at"] == int(T0.timestamp()) * 1_000_000
    assert row["producer_service"] == "planner"
    assert (row["actor_kind"], row["actor_role"], row["team_type"]) == (
        "agent",
        "planner",
        "agentsquad",
    )
    assert (row["project"], row["repository"], row["run_id"]) == ("alpha", REPO, "run-1")
    assert row["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert row["attributes"] == {"k": "v"}
    payload = json.loads(row["payload"])
    assert payload == {"goal": "fix issue #1", "parent_run_id": None}  # no envelope fields


def test_typed_tables_get_their_event_types(batch: list[LoggedEvent]) -> None:
    tables = FactsProjection().project(batch)
    assert len(tables["runs"]) == 5
    assert len(tables["tool_calls"]) == 103
    assert len(tables["deliveries"]) == 7
    assert len(tables["evidence"]) == 2
    assert len(tables["handoffs"]) == 3
    for name, rows in tables.items():
        assert rows.columns == TABLE_COLUMNS[name]
        assert all(len(col) == len(rows) for col in rows.data)


def test_deliveries_link_prs_to_issues(batch: list[LoggedEvent]) -> None:
    rows = FactsProjection().project(batch)["deliveries"]
    by_ref = {
        (t, ref): closes
        for t, ref, closes in zip(
            rows.column("event_type"),
            rows.column("ref"),
            rows.column("closes_issue_ref"),
            strict=True,
        )
    }
    assert by_ref[("pr.opened", f"{REPO}#10")] == f"{REPO}#1"  # from the title
    assert by_ref[("pr.opened", f"{REPO}#11")] == f"{REPO}#2"  # from attributes
    assert by_ref[("pr.merged", f"{REPO}#10")] is None
    merged = rows.column("merged_at")[rows.column("event_type").index("pr.merged")]
    assert merged == int(T0.timestamp() + 3 * 3600) * 1_000_000
    assert set(rows.column("installation_id")) == {42}


def test_evidence_ledger_columns_start_empty(batch: list[LoggedEvent]) -> None:
    rows = FactsProjection().project(batch)["evidence"]
    assert rows.column("kind") == ["browser_proof", "test_report"]
    assert (
        rows.column("leaf_index")
        == rows.column("tree_size")
        == rows.column("ledger_root")
        == [None, None]
    )


def test_model_shaped_records_project_like_codec_records(batch: list[LoggedEvent]) -> None:
    # datetime / UUID values (records built by hand) give the same rows as the codec's
    # int-micros / str values.
    item = batch[7]  # pr.merged: has a timestamp field in its payload too
    record = dict(item.record)
    record["occurred_at"] = datetime.fromtimestamp(record["occurred_at"] / 1e6, UTC)
    record["merged_at"] = datetime.fromtimestamp(record["merged_at"] / 1e6, UTC)
    record["causation_id"] = uuid.UUID(int=7)
    twin = LoggedEvent(item.position, item.event_type, item.event_id, record)
    a = FactsProjection().project([item])
    b = FactsProjection().project([twin])
    assert a["deliveries"] == b["deliveries"]
    assert b["proof_facts"].column("causation_id") == [str(uuid.UUID(int=7))]
    assert a["proof_facts"].column("payload") == b["proof_facts"].column("payload")


def test_empty_batch_gives_empty_tables() -> None:
    tables = FactsProjection().project([])
    assert set(tables) == set(TABLE_COLUMNS)
    assert all(len(rows) == 0 and len(rows.data) == len(rows.columns) for rows in tables.values())


def test_projection_is_deterministic(batch: list[LoggedEvent]) -> None:
    assert FactsProjection().project(batch) == FactsProjection().project(batch)
    assert FactsProjection(version=2).project(batch[:1])["proof_facts"].column(
        "ingest_version"
    ) == [2]


@pytest.mark.parametrize(
    ("attributes", "title", "expected"),
    [
        ({}, "Fixes #12", "o/r#12"),
        ({}, "closes: other/repo#3 and more", "other/repo#3"),
        ({}, "Resolved #4", "o/r#4"),
        ({"issue_ref": "x/y#9"}, "Fixes #12", "x/y#9"),
        ({}, "Refers to #12", None),
        (None, None, None),
    ],
)
def test_closes_issue_ref(
    attributes: dict[str, str] | None, title: str | None, expected: str | None
) -> None:
    assert closes_issue_ref(attributes, title, "o/r") == expected


def test_trace_id() -> None:
    assert trace_id({"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}) == "a" * 32
    assert trace_id(None) is None
    assert trace_id({"traceparent": "garbage"}) is None
