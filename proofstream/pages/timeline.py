"""Query rows → the timeline of one run. Pure: no I/O.

The run's events are drawn as the same kind of chain as a pull request's
(:mod:`~proofstream.pages.chain`), plus its tool calls and its workspace and
browser leases as spans over time. Nothing is escaped here (the renderer does it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from proofstream.pages.chain import chain_edges, evidence_items
from proofstream.pages.labels import node_of, payload_of, text
from proofstream.pages.model import CheckpointView, Mark, RunTimeline, Span, ToolCall

__all__ = ["build_run_timeline"]


def _spans(rows: Sequence[Mapping[str, Any]]) -> list[Span]:
    """Workspace and browser leases, from each ``*.leased`` to its ``*.released``."""
    spans: list[Span] = []
    open_: dict[tuple[str, str], tuple[str, int]] = {}
    for row in rows:
        event_type = text(row.get("event_type"))
        if not event_type.startswith(("workspace.", "browser.")):
            continue
        p = payload_of(row)
        lane, verb = event_type.split(".")
        what = text(p.get("workspace_id") if lane == "workspace" else p.get("browser_id"))
        key = (lane, text(p.get("lease_id")))
        at = int(row.get("at_ms") or 0)
        if verb == "leased":
            open_[key] = (what, at)
        elif key in open_:
            label, start = open_.pop(key)
            spans.append(Span(lane, label, start, at))
    spans += [Span(lane, label, start, None) for (lane, _), (label, start) in open_.items()]
    return sorted(spans, key=lambda s: (s.start_ms, s.lane))


def build_run_timeline(
    run_id: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    marks: Mapping[str, Mark],
    checkpoint: CheckpointView | None,
    log_error: str | None,
    limit: int,
) -> RunTimeline:
    """The timeline of ``run_id`` from the rows of :func:`sql.run_events_sql`."""
    truncated = len(rows) > limit
    rows = list(rows[:limit])
    nodes = [node_of(row, marks) for row in rows]
    started = next((r for r in rows if r.get("event_type") == "run.started"), None)
    finished = next((r for r in reversed(rows) if r.get("event_type") == "run.finished"), None)
    calls = []
    for row in rows:
        if row.get("event_type") == "tool.invoked":
            p = payload_of(row)
            calls.append(
                ToolCall(
                    event_id=text(row.get("event_id")),
                    at_ms=int(row.get("at_ms") or 0),
                    server=text(p.get("mcp_server")),
                    tool=text(p.get("tool")),
                    duration_ms=int(p.get("duration_ms") or 0),
                    outcome=text(p.get("outcome")),
                    retries=int(p.get("retries") or 0),
                    role=text(row.get("actor_role")),
                )
            )
    prs = tuple(
        dict.fromkeys(
            text(payload_of(r).get("pr_ref"))
            for r in rows
            if text(r.get("event_type")).startswith("pr.")
        )
    )
    roles = tuple(dict.fromkeys(text(r.get("actor_role")) for r in rows))
    first = rows[0] if rows else {}
    return RunTimeline(
        run_id=run_id,
        project=first.get("project"),
        repository=first.get("repository"),
        team_type=first.get("team_type"),
        goal=text(payload_of(started).get("goal")) if started else None,
        outcome=text(payload_of(finished).get("outcome")) if finished else None,
        started_ms=int(started["at_ms"]) if started else None,
        finished_ms=int(finished["at_ms"]) if finished else None,
        roles=roles,
        nodes=tuple(nodes),
        edges=tuple(chain_edges(nodes, rows)),
        tool_calls=tuple(calls),
        spans=tuple(_spans(rows)),
        prs=prs,
        evidence=tuple(evidence_items(rows, marks)),
        checkpoint=checkpoint,
        log_error=log_error,
        truncated=truncated,
    )
