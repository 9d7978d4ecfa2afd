"""``FactsProjection``: the pure mapping from a batch of decoded events to ClickHouse rows.

This is the Mapper half of the ClickHouse plane (the Recorder is
:class:`sinks.clickhouse.ClickHouseSink`). It does no I/O and holds no state: the
same batch always yields the same rows, which is what makes replay and the
insert deduplication token sound.

Every event becomes one ``proof_facts`` row; some event types also become one row
of a typed table (``runs``, ``tool_calls``, ``deliveries``, ``evidence``,
``handoffs``). Rows are returned column-oriented (one list per column), the shape
ClickHouse inserts fastest. Column names and order match the DDL in
``sinks/clickhouse_migrations``.

Accepted record shapes: what :meth:`schemas.EventCodec.decode_record` produces
(timestamps as int microseconds, UUIDs and enums as strings) and the same with
``datetime``/``UUID``/``StrEnum`` values (records built from models by hand).
Timestamps leave this module as int microseconds since the epoch (UTC).

The ClickHouse plane holds proof facts only: digests, refs, ids and short
fields. Event payloads never carry bodies (a producer-side seed rule), so the
``payload`` JSON is the event's own fields minus the envelope.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from sinks.base import LoggedEvent

Batch = Sequence[LoggedEvent]

__all__ = [
    "PROJECTION_VERSION",
    "TABLE_COLUMNS",
    "FactsProjection",
    "TableRows",
    "closes_issue_ref",
    "trace_id",
]

PROJECTION_VERSION = 1
"""Written to every row as ``ingest_version`` (the ReplacingMergeTree version).

Bump it when the mapping changes: a rebuild then wins over rows of the old mapping."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_ENVELOPE = frozenset(
    {
        "event_id",
        "event_type",
        "occurred_at",
        "producer",
        "actor",
        "subject",
        "causation_id",
        "correlation_id",
        "trace",
        "attributes",
    }
)

TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "proof_facts": (
        "event_id",
        "event_type",
        "occurred_at",
        "producer_service",
        "producer_version",
        "workload_id",
        "actor_kind",
        "actor_id",
        "actor_role",
        "team_type",
        "project",
        "repository",
        "run_id",
        "attempt",
        "generation",
        "causation_id",
        "correlation_id",
        "trace_id",
        "attributes",
        "payload",
        "log_topic",
        "log_partition",
        "log_offset",
        "ingest_version",
    ),
    "runs": (
        "event_id",
        "event_type",
        "occurred_at",
        "project",
        "repository",
        "run_id",
        "attempt",
        "actor_id",
        "actor_role",
        "team_type",
        "parent_run_id",
        "outcome",
        "duration_ms",
        "ingest_version",
    ),
    "tool_calls": (
        "event_id",
        "occurred_at",
        "project",
        "run_id",
        "actor_id",
        "team_type",
        "mcp_server",
        "tool",
        "input_digest",
        "output_digest",
        "duration_ms",
        "outcome",
        "retries",
        "ingest_version",
    ),
    "deliveries": (
        "event_id",
        "event_type",
        "occurred_at",
        "kind",
        "state",
        "project",
        "repository",
        "ref",
        "number",
        "installation_id",
        "delivery_identity",
        "review_state",
        "sha",
        "merged_at",
        "closes_issue_ref",
        "ingest_version",
    ),
    "evidence": (
        "event_id",
        "occurred_at",
        "project",
        "repository",
        "run_id",
        "sha256",
        "media_type",
        "size_bytes",
        "kind",
        "proves",
        "uri",
        "leaf_index",
        "tree_size",
        "ledger_root",
        "ingest_version",
    ),
    "handoffs": (
        "event_id",
        "occurred_at",
        "project",
        "run_id",
        "actor_id",
        "team_type",
        "from_role",
        "to_role",
        "ingest_version",
    ),
}
"""Columns of every table this projection writes, in insert order."""


@dataclass(frozen=True, slots=True)
class TableRows:
    """The rows of one table, column-oriented: ``data[i]`` holds column ``columns[i]``."""

    table: str
    columns: tuple[str, ...]
    data: tuple[list[Any], ...]

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0

    def column(self, name: str) -> list[Any]:
        """The values of column ``name`` (for tests and readers)."""
        return self.data[self.columns.index(name)]


# --- helpers -------------------------------------------------------------------------


def _micros(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:  # naive means UTC throughout the pipeline
            value = value.replace(tzinfo=UTC)
        return int((value - _EPOCH) // _MICROSECOND)  # exact; floats lose a microsecond
    raise TypeError(f"not a timestamp: {value!r}")


def _json_default(value: Any) -> Any:
    # Only reached for types orjson does not serialize itself (and for datetimes,
    # passed through so the payload holds int microseconds as the codec decodes them).
    if isinstance(value, datetime):
        return _micros(value)
    return str(value)


_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _str(value: Any) -> str | None:
    # UUID and StrEnum values become their plain string form.
    return None if value is None else str(value)


def trace_id(trace: Mapping[str, Any] | None) -> str | None:
    """The 32-hex trace id of a W3C ``traceparent`` (``00-<trace>-<span>-<flags>``)."""
    if not trace:
        return None
    parts = str(trace.get("traceparent", "")).split("-")
    return parts[1] if len(parts) >= 4 and len(parts[1]) == 32 else None


_CLOSING = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+([\w.-]+/[\w.-]+)?#(\d+)", re.IGNORECASE
)


def closes_issue_ref(
    attributes: Mapping[str, str] | None, title: str | None, repository: str | None
) -> str | None:
    """The issue a pull request closes, as ``owner/name#number``, or ``None``.

    Events carry no dedicated link field, so the rule is: an explicit
    ``attributes["issue_ref"]`` wins; else the first GitHub closing keyword in the
    PR title (``Fixes #12``, ``closes owner/name#12``), a bare ``#12`` resolved
    against the PR's repository. Pure.
    """
    if attributes and attributes.get("issue_ref"):
        return attributes["issue_ref"]
    if not title:
        return None
    match = _CLOSING.search(title)
    if match is None:
        return None
    repo = match.group(1) or repository
    return f"{repo}#{match.group(2)}" if repo else None


def _number(ref: str) -> int | None:
    _, _, tail = ref.rpartition("#")
    return int(tail) if tail.isdigit() else None


# --- the projection ------------------------------------------------------------------

_Row = tuple[Any, ...]
_Typed = Callable[[Mapping[str, Any], tuple[Any, ...], list[_Row]], None]


def _runs(r: Mapping[str, Any], env: tuple[Any, ...], out: list[_Row]) -> None:
    event_id, event_type, occurred, project, repository, run_id, attempt, actor, team, v = env
    out.append(
        (
            event_id,
            event_type,
            occurred,
            project,
            repository,
            run_id or "",
            attempt,
            actor["id"],
            actor["role"],
            team,
            r.get("parent_run_id"),
            _str(r.get("outcome")),
            r.get("duration_ms"),
            v,
        )
    )


def _tool_calls(r: Mapping[str, Any], env: tuple[Any, ...], out: list[_Row]) -> None:
    event_id, _, occurred, project, _, run_id, _, actor, team, v = env
    out.append(
        (
            event_id,
            occurred,
            project,
            run_id,
            actor["id"],
            team,
            r["mcp_server"],
            r["tool"],
            r["input_digest"],
            r.get("output_digest"),
            r["duration_ms"],
            _str(r["outcome"]),
            r.get("retries", 0),
            v,
        )
    )


_DELIVERY_STATE = {
    "issue.opened": ("issue", "opened"),
    "pr.opened": ("pull_request", "opened"),
    "pr.reviewed": ("pull_request", "reviewed"),
    "pr.merged": ("pull_request", "merged"),
}


def _deliveries(r: Mapping[str, Any], env: tuple[Any, ...], out: list[_Row]) -> None:
    event_id, event_type, occurred, project, repository, *_, v = env
    kind, state = _DELIVERY_STATE[event_type]
    ref = r["issue_ref"] if kind == "issue" else r["pr_ref"]
    repo = repository or ref.rpartition("#")[0]
    closes = (
        closes_issue_ref(r.get("attributes"), r.get("title"), repo)
        if event_type == "pr.opened"
        else None
    )
    out.append(
        (
            event_id,
            event_type,
            occurred,
            kind,
            state,
            project,
            repo,
            ref,
            _number(ref),
            r.get("github_app_installation_id"),
            r["delivery_identity"],
            _str(r.get("review_state")),
            r.get("head_sha") or r.get("commit_sha") or r.get("merge_sha"),
            _micros(r.get("merged_at")),
            closes,
            v,
        )
    )


def _evidence(r: Mapping[str, Any], env: tuple[Any, ...], out: list[_Row]) -> None:
    event_id, _, occurred, project, repository, run_id, *_, v = env
    out.append(
        (
            event_id,
            occurred,
            project,
            repository,
            run_id,
            r["sha256"],
            r["media_type"],
            r["size_bytes"],
            _str(r["kind"]),
            r["proves"],
            r.get("uri"),
            None,  # leaf_index, tree_size, ledger_root: filled by the Chronicle ledger later
            None,
            None,
            v,
        )
    )


def _handoffs(r: Mapping[str, Any], env: tuple[Any, ...], out: list[_Row]) -> None:
    event_id, _, occurred, project, _, run_id, _, actor, team, v = env
    out.append(
        (event_id, occurred, project, run_id, actor["id"], team, r["from_role"], r["to_role"], v)
    )


_TYPED: Mapping[str, tuple[str, _Typed]] = {
    "run.started": ("runs", _runs),
    "run.finished": ("runs", _runs),
    "tool.invoked": ("tool_calls", _tool_calls),
    "issue.opened": ("deliveries", _deliveries),
    "pr.opened": ("deliveries", _deliveries),
    "pr.reviewed": ("deliveries", _deliveries),
    "pr.merged": ("deliveries", _deliveries),
    "evidence.recorded": ("evidence", _evidence),
    "agent.handoff": ("handoffs", _handoffs),
}


def _columns(table: str, rows: list[_Row]) -> TableRows:
    columns = TABLE_COLUMNS[table]
    # One C-level transpose instead of one list.append per cell.
    data = tuple(map(list, zip(*rows, strict=True))) if rows else tuple([] for _ in columns)
    return TableRows(table, columns, data)


@dataclass(frozen=True, slots=True)
class FactsProjection:
    """Maps a batch to the rows of every ClickHouse table. Pure and stateless.

    ``version`` is written as ``ingest_version`` on every row.
    """

    version: int = PROJECTION_VERSION

    def project(self, batch: Batch) -> dict[str, TableRows]:
        """Rows per table for ``batch`` (every table, possibly empty), in batch order.

        Raises ``KeyError``/``TypeError`` when a record lacks a field its event
        type requires: the codec guarantees the shape, so that is a bug upstream.
        """
        version = self.version
        dumps = orjson.dumps
        facts: list[_Row] = []
        typed: dict[str, list[_Row]] = {
            table: [] for table in TABLE_COLUMNS if table != "proof_facts"
        }
        for item in batch:
            r = item.record
            producer = r["producer"]
            actor = r["actor"]
            subject = r["subject"]
            team = _str(actor.get("team_type"))
            occurred = _micros(r["occurred_at"])
            event_id = item.event_id
            event_type = item.event_type
            project = subject["project"]
            repository = subject.get("repository")
            run_id = subject.get("run_id")
            attempt = subject.get("attempt", 1)
            pos = item.position
            payload = {k: v for k, v in r.items() if k not in _ENVELOPE}
            facts.append(
                (
                    event_id,
                    event_type,
                    occurred,
                    producer["service"],
                    producer["version"],
                    producer["workload_id"],
                    _str(actor["kind"]),
                    actor["id"],
                    actor["role"],
                    team,
                    project,
                    repository,
                    run_id,
                    attempt,
                    subject.get("generation", 0),
                    _str(r.get("causation_id")),
                    _str(r.get("correlation_id")),
                    trace_id(r.get("trace")),
                    r.get("attributes") or {},
                    dumps(payload, default=_json_default, option=_JSON_OPTIONS).decode(),
                    pos.topic,
                    pos.partition,
                    pos.offset,
                    version,
                )
            )
            route = _TYPED.get(event_type)
            if route is not None:
                env = (
                    event_id,
                    event_type,
                    occurred,
                    project,
                    repository,
                    run_id,
                    attempt,
                    actor,
                    team,
                    version,
                )
                route[1](r, env, typed[route[0]])
        out = {"proof_facts": _columns("proof_facts", facts)}
        out.update((table, _columns(table, rows)) for table, rows in typed.items())
        return out
