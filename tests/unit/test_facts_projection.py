"""``FactsProjection`` (pure): a batch's encoded records → Avro blocks, and the SQL
the plane generates from the schemas. The rows themselves are made by ClickHouse:
``tests/contract/test_facts_store.py`` checks them on a real chDB."""

from __future__ import annotations

import fastavro
import pytest

from schemas.codec import EventCodec
from schemas.refs import closes_issue_ref
from sinks.base import Batch
from sinks.facts.avro_types import columns_of, payload_expr
from sinks.facts.blocks import LOG_FIELDS, Container, block_of
from sinks.facts.projection import FactsProjection, positions_signature
from sinks.facts.views import TABLE_COLUMNS, TYPED_TABLES, pipeline_checksum, pipeline_statements
from tests import facts_scenario
from tests.contract.store_contract import batch_for

CODEC = EventCodec()
TYPES = {t: {c: "String" for c in cols} for t, cols in TABLE_COLUMNS.items()}


def test_one_block_per_event_type_and_writer_schema_in_first_seen_order() -> None:
    projection = FactsProjection(CODEC)
    batch = batch_for(projection, facts_scenario.records(CODEC))
    writes = projection.project(batch)
    assert len(writes) == len(batch.encoded) == 120
    types = [b.event_type for b in writes.blocks]
    assert types == list(dict.fromkeys(e.event_type for e in batch.encoded))
    tools = next(b for b in writes.blocks if b.event_type == "tool.invoked")
    assert tools.count == 103
    assert [p.offset for p in tools.positions] == [
        e.position.offset for e in batch.encoded if e.event_type == "tool.invoked"
    ]


def test_a_block_is_an_avro_container_any_reader_reads() -> None:
    projection = FactsProjection(CODEC)
    batch = batch_for(projection, facts_scenario.records(CODEC))
    block = next(b for b in projection.project(batch).blocks if b.event_type == "run.started")
    import io

    rows = list(fastavro.reader(io.BytesIO(block.data)))
    assert [r["__log_offset"] for r in rows] == [p.offset for p in block.positions]
    assert {r["__log_topic"] for r in rows} == {"events"}
    assert {r["goal"] for r in rows} == {"fix issue #1", "refactor", "explore"}


def test_projection_is_pure_and_deterministic() -> None:
    projection = FactsProjection(CODEC)
    batch = batch_for(projection, facts_scenario.records(CODEC))
    before = list(batch.encoded)
    assert projection.project(batch) == projection.project(batch)
    assert list(batch.encoded) == before  # the argument is untouched
    assert projection.project(Batch()).blocks == ()


def test_container_header_is_cached_per_schema_and_appends_the_log_fields() -> None:
    schema = CODEC.catalog.current("run.started").schema
    container = Container.of(schema)
    assert container == Container.of(schema)
    assert block_of(container, []).startswith(container.header)
    names = [f["name"] for f in fastavro.parse_schema(
        fastavro.reader(__import__("io").BytesIO(container.header + b"\x00")).writer_schema
    )["fields"]]  # fmt: skip
    assert names[-3:] == [f["name"] for f in LOG_FIELDS]


def test_positions_signature_is_order_independent_and_exact() -> None:
    from sinks.base import LogPosition

    a = [LogPosition("t", 0, o) for o in range(5)] + [LogPosition("t", 1, 7)]
    assert positions_signature(a) == positions_signature(list(reversed(a)))
    assert positions_signature(a).startswith("t:0:0-4,t:1:7-7:")
    assert positions_signature(a[:2] + a[3:]) != positions_signature(a)


def test_the_pipeline_covers_every_event_type_and_typed_table() -> None:
    statements = pipeline_statements(CODEC.catalog, 1, TYPES)
    names = [n for n, _ in statements]
    types = CODEC.catalog.event_types
    assert sum(n.startswith("land_") for n in names) == len(types)
    assert sum(n.endswith("__proof_facts") for n in names) == len(types)
    for event_type, table in TYPED_TABLES.items():
        assert f"mv_{event_type.replace('.', '_')}__{table}" in names
    shadow = pipeline_statements(CODEC.catalog, 1, TYPES, "__g3")
    assert all(name.endswith("__g3") for name, _ in shadow)
    assert all("TO `proof_facts__g3`" in sql for name, sql in shadow if "__proof_facts" in name)
    assert pipeline_checksum(statements) == pipeline_checksum(
        pipeline_statements(CODEC.catalog, 1, TYPES)
    )
    assert pipeline_checksum(statements) != pipeline_checksum(
        pipeline_statements(CODEC.catalog, 2, TYPES)
    )


def test_landing_columns_follow_the_avro_schema() -> None:
    columns = {c.name: c for c in columns_of(CODEC.catalog.current("tool.invoked").schema)}
    assert columns["occurred_at"].type == "Int64"  # int microseconds, as the codec reads it
    assert columns["trace"].type.startswith("Nullable(Tuple(")
    assert columns["outcome"].type == "String"
    assert columns["retries"].default == "0"  # an older writer lands with the default
    assert columns["attributes"].type == "Map(String, String)"


def test_payload_sorts_keys_at_every_level() -> None:
    expr = payload_expr(CODEC.catalog.current("lineage.declared").schema)
    assert expr.startswith("toJSONString(")
    assert "arrayMap(item0 ->" not in expr or "'kind'" in expr


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
