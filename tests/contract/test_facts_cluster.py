"""The facts plane's cluster layout: the DDL text, and its syntax checked by chDB's own
parser (``formatQuery``). No ClickHouse server or Keeper runs here: the statements are
parsed, never executed against a cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schemas.codec import EventCodec
from sinks.facts.cluster import SHARDING, cluster_statement, on_cluster
from sinks.facts.migrate import load_migrations
from sinks.facts.settings import ClickHouseSettings
from sinks.facts.store import layout
from sinks.facts.views import TABLE_COLUMNS, pipeline_statements

CODEC = EventCodec()


def _cluster_ddl() -> list[str]:
    ddl, _ = layout(ClickHouseSettings(cluster="proofstream", database="proofstream"))
    out = [s for m in load_migrations() for statement in m.statements for s in ddl(statement)]
    types = {t: {c: "String" for c in cols} for t, cols in TABLE_COLUMNS.items()}
    for _, sql in pipeline_statements(CODEC.catalog, 1, types):
        out += ddl(sql)
    return out


def test_fact_tables_become_replicated_locals_behind_distributed_tables() -> None:
    statements = "\n".join(_cluster_ddl())
    for table, key in SHARDING.items():
        assert f"CREATE TABLE IF NOT EXISTS {table}_local ON CLUSTER proofstream" in statements
        assert (
            f"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/proofstream/"
            f"{table}', '{{replica}}', ingest_version)"
        ) in statements
        assert (
            f"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER proofstream AS {table}_local\n"
            f"ENGINE = Distributed(proofstream, proofstream, {table}_local, {key})"
        ) in statements
    assert "non_replicated_deduplication_window" not in statements
    assert "replicated_deduplication_window = 1000" in statements
    # bookkeeping is replicated to every node, not sharded
    assert "'/clickhouse/tables/all/proofstream/watermarks', '{replica}', offset)" in statements
    assert "CREATE TABLE IF NOT EXISTS watermarks_local" not in statements


def test_views_and_ingest_pipelines_run_on_every_node() -> None:
    statements = _cluster_ddl()
    views = [s for s in statements if "VIEW" in s.split("\n", 1)[0]]
    assert views and all(" ON CLUSTER proofstream" in s.split("\n", 1)[0] for s in views)
    landing = [s for s in statements if "ENGINE = Null" in s]
    assert len(landing) == len(CODEC.catalog.event_types)
    assert all(" ON CLUSTER proofstream" in s for s in landing)


def test_a_run_stays_on_one_shard() -> None:
    # the sharding keys only read columns of the event itself: a re-delivered event
    # lands where its first copy did, so FINAL collapses it
    for table, key in SHARDING.items():
        columns = set(TABLE_COLUMNS[table])
        used = {c for c in columns if c in key}
        assert used and all(c in columns for c in used), table


def test_inserts_wait_for_the_shards() -> None:
    _, extra = layout(ClickHouseSettings(cluster="c"))
    assert extra == {"distributed_foreground_insert": 1}
    assert layout(ClickHouseSettings())[1] == {}


def test_other_statements_are_untouched() -> None:
    assert cluster_statement("SELECT 1", "c", "db") == ["SELECT 1"]
    assert on_cluster("EXCHANGE TABLES a AND b", "c") == "EXCHANGE TABLES a AND b"


def test_a_replaced_pipeline_is_dropped_on_every_node() -> None:
    drop = "DROP TABLE IF EXISTS `mv_runs__g2`"
    assert cluster_statement(drop, "c", "db") == [f"{drop} ON CLUSTER c"]
    assert on_cluster("DROP TABLE x", "c") == "DROP TABLE x ON CLUSTER c"


@pytest.fixture(scope="module")
def chdb_parser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    pytest.importorskip("chdb")
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path_factory.mktemp('parse')}")
    yield client
    client.close()


def test_every_cluster_statement_parses(chdb_parser: object) -> None:
    client = chdb_parser
    drops = cluster_statement("DROP TABLE IF EXISTS `mv_runs`", "proofstream", "proofstream")
    for statement in [*_cluster_ddl(), *drops]:
        formatted = client.query(  # type: ignore[attr-defined]
            "SELECT formatQuery({q:String})", parameters={"q": statement}
        ).result_rows[0][0]
        assert "ON CLUSTER" in formatted or "ON CLUSTER" not in statement
