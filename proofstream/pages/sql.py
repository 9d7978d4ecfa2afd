"""The read-only SQL the pages run on the facts plane. Pure: text only.

Every value that comes from a request (a PR ref, a run id) is checked against its
shape first (:func:`check_pr_ref`, :func:`check_run_id`) and then still quoted as
a ClickHouse string literal, never pasted: the queries also run under the facts
reader's ``readonly=1`` and limits. Every query is bounded by a ``LIMIT``. Times
come back as epoch milliseconds (``toUnixTimestamp64Milli``), so both read paths
(the worker's JSON and a direct chDB reader) give the same numbers.
"""

from __future__ import annotations

import re

from schemas.errors import ConfigError
from sinks.facts.avro_types import quote

__all__ = [
    "EVENT_COLUMNS",
    "MAX_EVENTS",
    "bucket_of",
    "check_pr_ref",
    "check_run_id",
    "coverage_sql",
    "gap_sql",
    "merged_span_sql",
    "pr_events_sql",
    "recent_prs_sql",
    "run_events_sql",
    "tool_latency_sql",
    "unproven_count_sql",
    "unproven_sql",
]

MAX_EVENTS = 2_000
"""Events one chain or timeline draws at most (one more is fetched to tell)."""

_PR_REF = re.compile(r"[\w.-]+/[\w.-]+#[0-9]+")
_RUN_ID = re.compile(r"[^\x00-\x1f\x7f]{1,256}")

EVENT_COLUMNS = (
    "event_id, event_type, toUnixTimestamp64Milli(occurred_at) AS at_ms, run_id, actor_id,"
    " actor_role, team_type, project, repository, payload, causation_id, attributes"
)
"""The columns of every event row a chain is built from (see ``chain.EventRow``)."""


def check_pr_ref(ref: str) -> str:
    """``ref`` when it is ``owner/name#number``; else :class:`ConfigError`. Pure."""
    if not _PR_REF.fullmatch(ref):
        raise ConfigError(f"not a pull request ref (owner/name#number): {ref!r}")
    return ref


def check_run_id(run_id: str) -> str:
    """``run_id`` when it is 1-256 printable characters; else :class:`ConfigError`."""
    if not _RUN_ID.fullmatch(run_id):
        raise ConfigError(f"not a run id: {run_id!r}")
    return run_id


def pr_events_sql(pr_ref: str, limit: int = MAX_EVENTS) -> str:
    """Every event of the runs that touched ``pr_ref`` — opened, reviewed or merged
    it, opened the issue it closes, or recorded evidence proving it — plus those
    events themselves, oldest first, at most ``limit + 1``."""
    pr = quote(check_pr_ref(pr_ref))
    return f"""
WITH touched AS (
    SELECT event_id FROM deliveries FINAL
    WHERE ref = {pr}
       OR ref IN (SELECT closes_issue_ref FROM deliveries FINAL
                  WHERE ref = {pr} AND event_type = 'pr.opened' AND closes_issue_ref IS NOT NULL)
    UNION ALL
    SELECT event_id FROM evidence FINAL WHERE proves = {pr}
),
touched_runs AS (
    SELECT DISTINCT assumeNotNull(run_id) AS run_id FROM proof_facts FINAL
    WHERE run_id IS NOT NULL AND event_id IN (SELECT event_id FROM touched)
)
SELECT {EVENT_COLUMNS}
FROM proof_facts FINAL
WHERE event_id IN (SELECT event_id FROM touched)
   OR run_id IN (SELECT run_id FROM touched_runs)
ORDER BY at_ms, event_id
LIMIT {int(limit) + 1}"""


def run_events_sql(run_id: str, limit: int = MAX_EVENTS) -> str:
    """Every event of run ``run_id``, oldest first, at most ``limit + 1``."""
    run = quote(check_run_id(run_id))
    return f"""
SELECT {EVENT_COLUMNS}
FROM proof_facts FINAL
WHERE run_id = {run}
ORDER BY at_ms, event_id
LIMIT {int(limit) + 1}"""


def gap_sql(pr_ref: str) -> str:
    """The row of ``v_prs_without_browser_proof`` for ``pr_ref``, if its gap is open."""
    pr = quote(check_pr_ref(pr_ref))
    return f"""
SELECT pr_ref, toUnixTimestamp64Milli(merged_at) AS merged_at_ms
FROM v_prs_without_browser_proof
WHERE pr_ref = {pr}
LIMIT 1"""


def merged_span_sql() -> str:
    """First and last merge time (ms) over every merged PR; NULLs when none."""
    return """
SELECT toUnixTimestamp64Milli(min(coalesce(merged_at, occurred_at))) AS first_ms,
       toUnixTimestamp64Milli(max(coalesce(merged_at, occurred_at))) AS last_ms,
       count() AS merges
FROM deliveries FINAL
WHERE event_type = 'pr.merged'"""


def bucket_of(span_ms: int) -> str:
    """The time bucket that draws a span of ``span_ms`` in a readable number of
    points: ``hour`` up to two days, ``day`` up to 120 days, else ``week``. Pure."""
    if span_ms <= 2 * 86_400_000:
        return "hour"
    if span_ms <= 120 * 86_400_000:
        return "day"
    return "week"


_BUCKETS = {"hour": "INTERVAL 1 HOUR", "day": "INTERVAL 1 DAY", "week": "INTERVAL 1 WEEK"}


def coverage_sql(bucket: str, limit: int = 5_000) -> str:
    """Per project and ``bucket``: merged PRs and those with browser proof."""
    interval = _BUCKETS[bucket]
    return f"""
SELECT m.project AS project,
       toUnixTimestamp(toStartOfInterval(m.merged_at, {interval})) * 1000 AS bucket_ms,
       uniqExact(m.ref) AS merged,
       uniqExactIf(m.ref, e.browser > 0) AS with_browser_proof
FROM (SELECT project, ref, min(coalesce(merged_at, occurred_at)) AS merged_at
      FROM deliveries FINAL WHERE event_type = 'pr.merged' GROUP BY project, ref) AS m
LEFT JOIN (SELECT proves, countIf(kind = 'browser_proof') AS browser
           FROM evidence FINAL GROUP BY proves) AS e ON e.proves = m.ref
GROUP BY project, bucket_ms
ORDER BY bucket_ms, project
LIMIT {int(limit)}"""


def unproven_sql(limit: int = 50) -> str:
    """The latest ``limit`` merges without browser proof, newest first."""
    return f"""
SELECT project, repository, pr_ref, toUnixTimestamp64Milli(merged_at) AS merged_at_ms
FROM v_prs_without_browser_proof
ORDER BY merged_at DESC, pr_ref
LIMIT {int(limit)}"""


def unproven_count_sql() -> str:
    """How many merges have no browser proof."""
    return "SELECT count() AS n FROM v_prs_without_browser_proof"


def recent_prs_sql(limit: int = 30) -> str:
    """The latest ``limit`` merged PRs and whether browser proof proves each."""
    return f"""
SELECT m.ref AS pr_ref, toUnixTimestamp64Milli(m.merged_at) AS merged_at_ms,
       m.ref IN (SELECT proves FROM evidence FINAL WHERE kind = 'browser_proof') AS proven
FROM (SELECT ref, min(coalesce(merged_at, occurred_at)) AS merged_at
      FROM deliveries FINAL WHERE event_type = 'pr.merged' GROUP BY ref) AS m
ORDER BY merged_at DESC, pr_ref
LIMIT {int(limit)}"""


def tool_latency_sql(limit: int = 25) -> str:
    """p50/p95 latency and failure rate per MCP server/tool, slowest p95 first (the
    analyst query ``queries/tool_latency_p95.sql``, bounded)."""
    return f"""
SELECT mcp_server, tool, count() AS calls,
       quantileExact(0.5)(duration_ms) AS p50_ms,
       quantileExact(0.95)(duration_ms) AS p95_ms,
       round(countIf(outcome != 'success') / count(), 4) AS failure_rate
FROM tool_calls FINAL
GROUP BY mcp_server, tool
ORDER BY p95_ms DESC, mcp_server, tool
LIMIT {int(limit)}"""
