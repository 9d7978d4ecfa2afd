"""The facts projection in SQL: landing tables and materialized views, per event type.

ClickHouse decodes the events; this module says what becomes of them. For every
event type there is a landing table ``land_<type>`` (``ENGINE = Null``: it keeps
nothing) whose columns are the type's current Avro fields plus the record's log
coordinates, and materialized views that turn each inserted block into rows of
``proof_facts`` and of the type's typed table::

    INSERT INTO land_run_started FORMAT Avro  ──►  mv_run_started__proof_facts ──► proof_facts
                                             └──►  mv_run_started__runs        ──► runs

The rows are exactly those the former Python mapping produced (``tests``
check it against that reference on the same log). A generation of the plane has
its own set, with the generation's table suffix, feeding its shadow tables.

Everything here is pure: SQL text generated from the ``.avsc`` files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from schemas.catalog import SchemaCatalog
from sinks.facts.avro_types import columns_of, ident, payload_expr, quote

__all__ = [
    "LOG_COLUMNS",
    "TABLE_COLUMNS",
    "TYPED_TABLES",
    "ColumnTypes",
    "landing_table",
    "pipeline_checksum",
    "pipeline_statements",
    "view_name",
]

LOG_COLUMNS = (("__log_topic", "String"), ("__log_partition", "Int32"), ("__log_offset", "Int64"))
"""Appended to every landed record (see :mod:`sinks.facts.blocks`): where it sits in Kafka."""

TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "proof_facts": (
        "event_id", "event_type", "occurred_at", "producer_service", "producer_version",
        "workload_id", "actor_kind", "actor_id", "actor_role", "team_type", "project",
        "repository", "run_id", "attempt", "generation", "causation_id", "correlation_id",
        "trace_id", "attributes", "payload", "log_topic", "log_partition", "log_offset",
        "ingest_version",
    ),
    "runs": (
        "event_id", "event_type", "occurred_at", "project", "repository", "run_id", "attempt",
        "actor_id", "actor_role", "team_type", "parent_run_id", "outcome", "duration_ms",
        "ingest_version",
    ),
    "tool_calls": (
        "event_id", "occurred_at", "project", "run_id", "actor_id", "team_type", "mcp_server",
        "tool", "input_digest", "output_digest", "duration_ms", "outcome", "retries",
        "ingest_version",
    ),
    "deliveries": (
        "event_id", "event_type", "occurred_at", "kind", "state", "project", "repository", "ref",
        "number", "installation_id", "delivery_identity", "review_state", "sha", "merged_at",
        "closes_issue_ref", "ingest_version",
    ),
    "evidence": (
        "event_id", "occurred_at", "project", "repository", "run_id", "sha256", "media_type",
        "size_bytes", "kind", "proves", "uri", "leaf_index", "tree_size", "ledger_root",
        "ingest_version",
    ),
    "handoffs": (
        "event_id", "occurred_at", "project", "run_id", "actor_id", "team_type", "from_role",
        "to_role", "ingest_version",
    ),
}  # fmt: skip
"""Columns of every table the plane fills (the DDL is in ``migrations/``)."""

TYPED_TABLES: Mapping[str, str] = {
    "run.started": "runs",
    "run.finished": "runs",
    "tool.invoked": "tool_calls",
    "issue.opened": "deliveries",
    "pr.opened": "deliveries",
    "pr.reviewed": "deliveries",
    "pr.merged": "deliveries",
    "evidence.recorded": "evidence",
    "agent.handoff": "handoffs",
}
"""Event type → the typed table it also fills (every event fills ``proof_facts``)."""

# GitHub closing keywords in a PR title ("Fixes #12", "closes owner/name#12"). RE2
# syntax; \w is ASCII there, as GitHub's own repository names are.
_CLOSING = r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+([\w.-]+/[\w.-]+)?#(\d+)"

_DELIVERY = {
    "issue.opened": ("issue", "opened", "issue_ref", None),
    "pr.opened": ("pull_request", "opened", "pr_ref", "head_sha"),
    "pr.reviewed": ("pull_request", "reviewed", "pr_ref", "commit_sha"),
    "pr.merged": ("pull_request", "merged", "pr_ref", "merge_sha"),
}


def landing_table(event_type: str) -> str:
    """``land_<event type with dots as underscores>``. Pure."""
    return "land_" + event_type.replace(".", "_")


def view_name(event_type: str, table: str) -> str:
    return f"mv_{event_type.replace('.', '_')}__{table}"


def _el(column: str, name: str) -> str:
    return f"tupleElement({column}, {quote(name)})"


def _micros(expr: str) -> str:
    return f"fromUnixTimestamp64Micro({expr}, 'UTC')"


def _envelope(event_type: str, version: int) -> dict[str, str]:
    traceparent = f"ifNull({_el('trace', 'traceparent')}, '')"
    trace_parts = f"splitByChar('-', {traceparent})"
    return {
        "event_id": "event_id",
        # the decode step checked that the body's event_type is its schema's
        "event_type": quote(event_type),
        "occurred_at": _micros("occurred_at"),
        "producer_service": _el("producer", "service"),
        "producer_version": _el("producer", "version"),
        "workload_id": _el("producer", "workload_id"),
        "actor_kind": _el("actor", "kind"),
        "actor_id": _el("actor", "id"),
        "actor_role": _el("actor", "role"),
        "team_type": _el("actor", "team_type"),
        "project": _el("subject", "project"),
        "repository": _el("subject", "repository"),
        "run_id": _el("subject", "run_id"),
        "attempt": _el("subject", "attempt"),
        "generation": _el("subject", "generation"),
        "causation_id": "causation_id",
        "correlation_id": "correlation_id",
        "trace_id": (
            f"if(length({trace_parts}) >= 4 AND length({trace_parts}[2]) = 32,"
            f" {trace_parts}[2], NULL)"
        ),
        "attributes": "attributes",
        "log_topic": "__log_topic",
        "log_partition": "__log_partition",
        "log_offset": "__log_offset",
        "ingest_version": str(version),
    }


def _field_or_null(fields: set[str], name: str) -> str:
    return ident(name) if name in fields else "NULL"


def _delivery(event_type: str, env: Mapping[str, str], fields: set[str]) -> dict[str, str]:
    kind, state, ref_field, sha_field = _DELIVERY[event_type]
    ref = ident(ref_field)
    # everything before the last '#' (Python's ref.rpartition("#")[0])
    before_last = f"substring({ref}, 1, length({ref}) - position(reverse({ref}), '#'))"
    prefix = f"if(position({ref}, '#') > 0, {before_last}, '')"
    repo = (
        f"if(empty(ifNull({env['repository']}, '')), {prefix}, assumeNotNull({env['repository']}))"
    )
    tail = f"arrayElement(splitByChar('#', {ref}), -1)"
    closes = "NULL"
    if event_type == "pr.opened":
        groups = f"extractGroups(title, {quote(_CLOSING)})"
        found = f"if(empty({groups}[1]), {repo}, {groups}[1])"
        closes = (
            f"if(notEmpty(attributes['issue_ref']), attributes['issue_ref'],"
            f" if(empty({groups}) OR empty({found}), NULL, concat({found}, '#', {groups}[2])))"
        )
    return {
        "kind": quote(kind),
        "state": quote(state),
        "repository": repo,
        "ref": ref,
        "number": f"if(match({tail}, '^[0-9]+$'), toUInt64OrNull({tail}), NULL)",
        "installation_id": _field_or_null(fields, "github_app_installation_id"),
        "delivery_identity": "delivery_identity",
        "review_state": _field_or_null(fields, "review_state"),
        "sha": f"nullIf({ident(sha_field)}, '')" if sha_field else "NULL",
        "merged_at": _micros("merged_at") if "merged_at" in fields else "NULL",
        "closes_issue_ref": closes,
    }


def _typed(event_type: str, env: Mapping[str, str], fields: set[str]) -> dict[str, str]:
    table = TYPED_TABLES[event_type]
    if table == "runs":
        return {
            "run_id": f"ifNull({env['run_id']}, '')",
            "parent_run_id": _field_or_null(fields, "parent_run_id"),
            "outcome": _field_or_null(fields, "outcome"),
            "duration_ms": _field_or_null(fields, "duration_ms"),
        }
    if table == "deliveries":
        return _delivery(event_type, env, fields)
    if table == "evidence":
        return {"leaf_index": "NULL", "tree_size": "NULL", "ledger_root": "NULL"}
    return {}  # tool_calls, handoffs: their columns are the event's own fields


def _select(table: str, exprs: Mapping[str, str], landing: str, types: Mapping[str, str]) -> str:
    # every value is cast to its column's type: the view's own structure is that of
    # the target table, and a NULL or an Int32 lands exactly as the column wants it
    items = ",\n    ".join(
        f"CAST({exprs.get(column, ident(column))}, {quote(types[column])}) AS {ident(column)}"
        for column in TABLE_COLUMNS[table]
    )
    return f"SELECT\n    {items}\nFROM {landing}"


ColumnTypes = Mapping[str, Mapping[str, str]]
"""Table → column → ClickHouse type, as the migrations created them."""


def pipeline_statements(
    catalog: SchemaCatalog, version: int, types: ColumnTypes, suffix: str = ""
) -> list[tuple[str, str]]:
    """``(object name, CREATE statement)`` of every landing table and view, in creation
    order (tables first), for the tables named ``<table><suffix>``; ``types`` are the
    target tables' column types. Pure."""
    tables: list[tuple[str, str]] = []
    views: list[tuple[str, str]] = []
    for event_type in catalog.event_types:
        schema: Mapping[str, Any] = catalog.current(event_type).schema
        columns = columns_of(schema)
        fields = {c.name for c in columns}
        landing = landing_table(event_type) + suffix
        defs = [
            f"{ident(c.name)} {c.type}" + (f" DEFAULT {c.default}" if c.default else "")
            for c in columns
        ] + [f"{ident(name)} {kind}" for name, kind in LOG_COLUMNS]
        tables.append(
            (
                landing,
                f"CREATE TABLE IF NOT EXISTS {ident(landing)} ({', '.join(defs)}) ENGINE = Null",
            )
        )
        env = _envelope(event_type, version)
        targets: list[tuple[str, dict[str, str]]] = [
            ("proof_facts", {**env, "payload": payload_expr(schema)})
        ]
        if event_type in TYPED_TABLES:
            targets.append((TYPED_TABLES[event_type], {**env, **_typed(event_type, env, fields)}))
        for table, exprs in targets:
            name = view_name(event_type, table) + suffix
            views.append(
                (
                    name,
                    f"CREATE MATERIALIZED VIEW IF NOT EXISTS {ident(name)}"
                    f" TO {ident(table + suffix)} AS\n"
                    + _select(table, exprs, ident(landing), types[table]),
                )
            )
    return tables + views


def pipeline_checksum(statements: Sequence[tuple[str, str]]) -> str:
    """A digest of the generated SQL: a change means the pipeline must be rebuilt. Pure."""
    digest = hashlib.sha256()
    for name, sql in statements:
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(sql.encode())
        digest.update(b"\0")
    return digest.hexdigest()
