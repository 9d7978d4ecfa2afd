"""The facts plane on a ClickHouse cluster: replicated, sharded tables behind Distributed ones.

When ``ClickHouseSettings.cluster`` names a cluster (``remote_servers`` in the
servers' configuration, ClickHouse Keeper for replication), the released DDL of
``migrations/`` is rewritten statement by statement, with the same columns,
sorting keys and partitions:

- every fact table ``T`` becomes ``T_local`` on every node, a
  ``ReplicatedReplacingMergeTree`` under ``/clickhouse/tables/{shard}/<db>/T``,
  plus ``T`` itself, a ``Distributed`` table over ``T_local`` sharded by a hash of
  the run (``run_id``, else the project: a run's facts stay on one shard, so
  ``FINAL`` collapses a re-delivered event where its first copy is), and
  ``deliveries`` by repository and ref;
- the bookkeeping tables (``watermarks``; ``schema_migrations``, ``ingest_pipelines``
  and ``generations`` when the store makes them) are replicated to every node, not
  sharded: ``/clickhouse/tables/all/<db>/T``;
- views, landing tables and materialized views are created ``ON CLUSTER`` (and
  dropped so when an ingest pipeline is replaced); the views read the Distributed
  tables, the materialized views write into them.

Deduplication keeps working: inserts reach the replicated tables with their
``insert_deduplication_token`` (``replicated_deduplication_window`` on every
table), and the store inserts with ``distributed_foreground_insert = 1``, so an
insert returns only once the shards have the rows. Pure: DDL text in, DDL text out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sinks.facts.avro_types import quote

__all__ = ["SHARDING", "cluster_statement", "on_cluster"]

SHARDING: Mapping[str, str] = {
    "proof_facts": "cityHash64(coalesce(run_id, project))",
    "runs": "cityHash64(run_id)",
    "tool_calls": "cityHash64(coalesce(run_id, project))",
    "evidence": "cityHash64(coalesce(run_id, project))",
    "handoffs": "cityHash64(coalesce(run_id, project))",
    "deliveries": "cityHash64(repository, ref)",
}
"""Fact table → its Distributed sharding key."""

_CREATE_TABLE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<name>\w+)\s*(?P<body>\(.*\))\s*ENGINE\s*=\s*"
    r"(?P<engine>\w+)(?:\((?P<args>[^)]*)\))?(?P<rest>.*)$",
    re.S,
)
_CREATE_VIEW = re.compile(
    r"^CREATE (?P<kind>(?:MATERIALIZED )?VIEW) IF NOT EXISTS (?P<name>`?\w+`?)", re.S
)
_CREATE_OTHER = re.compile(r"^CREATE TABLE IF NOT EXISTS `?\w+`?")
# a pipeline replaced or forgotten is dropped on every node: on one only, the
# others kept the old views (CREATE … IF NOT EXISTS then skips them there)
_DROP = re.compile(r"^DROP (?:TABLE|VIEW) (?:IF EXISTS )?`?\w+`?")
_NON_REPLICATED = re.compile(r"non_replicated_deduplication_window\s*=\s*(\d+)")


def on_cluster(statement: str, cluster: str) -> str:
    """``statement`` (a ``CREATE VIEW``/``CREATE TABLE … ENGINE = Null``, or the ``DROP
    TABLE`` that removes one) run on every node; any other statement as it is."""
    for pattern in (_CREATE_VIEW, _CREATE_OTHER, _DROP):
        match = pattern.match(statement)
        if match:
            head = match.group(0)
            return f"{head} ON CLUSTER {cluster}{statement[len(head) :]}"
    return statement


def cluster_statement(statement: str, cluster: str, database: str) -> list[str]:
    """The cluster form of one released DDL statement (module docstring). Pure.

    Statements that are not ``CREATE TABLE``/``CREATE VIEW`` are returned as they are.
    """
    match = _CREATE_TABLE.match(statement.strip())
    if not match or not match.group("engine").endswith("MergeTree"):
        return [on_cluster(statement, cluster)]
    name, body, engine = match.group("name"), match.group("body"), match.group("engine")
    args = match.group("args") or ""
    rest = _NON_REPLICATED.sub(r"replicated_deduplication_window = \1", match.group("rest"))
    sharded = name in SHARDING
    path = (
        f"/clickhouse/tables/{{shard}}/{database}/{name}"
        if sharded
        else f"/clickhouse/tables/all/{database}/{name}"
    )
    replicated_args = ", ".join(filter(None, [quote(path), quote("{replica}"), args.strip()]))
    local = f"{name}_local" if sharded else name
    create = (
        f"CREATE TABLE IF NOT EXISTS {local} ON CLUSTER {cluster} {body}\n"
        f"ENGINE = Replicated{engine}({replicated_args}){rest}"
    )
    if not sharded:
        return [create]
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} AS {local}\n"
        f"ENGINE = Distributed({cluster}, {database}, {local}, {SHARDING[name]})"
    )
    return [create, distributed]
