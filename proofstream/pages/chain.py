"""Query rows → the pages' model. Pure: no I/O.

An event row has the columns of :data:`proofstream.pages.sql.EVENT_COLUMNS`; its
``payload`` is the JSON object of the event's own fields, as the facts plane
stores it. Each event becomes a :class:`~proofstream.pages.model.ChainNode` in the
lane of its kind; the lines between them are the run's order (each event to the
run's next one), ``causation_id`` links, the issue a PR closes, and evidence to
the merge it proves. Labels are cut to :data:`LABEL_MAX` characters; nothing is
escaped here (the renderer does it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from proofstream.pages.model import (
    ChainEdge,
    ChainNode,
    CheckpointView,
    CoveragePoint,
    EvidenceItem,
    Mark,
    MarkState,
    Overview,
    PlaneLag,
    PrChain,
    ProofGap,
    RunTimeline,
    Span,
    ToolCall,
    ToolLatency,
    UnprovenMerge,
)
from schemas.refs import closes_issue_ref

__all__ = [
    "LABEL_MAX",
    "EvidenceRef",
    "build_overview",
    "build_pr_chain",
    "build_run_timeline",
    "evidence_refs",
    "lane_of",
    "planes_of_status",
    "records",
]

LABEL_MAX = 48

_LANES = {
    "issue.opened": "issue",
    "run.started": "run",
    "run.finished": "run",
    "agent.handoff": "handoff",
    "tool.invoked": "tool",
    "workspace.leased": "workspace",
    "workspace.released": "workspace",
    "browser.leased": "browser",
    "browser.released": "browser",
    "pr.opened": "pull request",
    "pr.reviewed": "pull request",
    "pr.merged": "pull request",
    "evidence.recorded": "evidence",
    "proof.closed": "evidence",
}
_GOOD = frozenset({"success", "approved", "accepted"})


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """An evidence event to check against the log: its id and artifact digest."""

    event_id: str
    sha256: str


def records(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``{"columns": [...], "rows": [[...]]}`` → one dict per row. Pure."""
    columns = [str(c) for c in answer["columns"]]
    return [dict(zip(columns, row, strict=True)) for row in answer["rows"]]


def lane_of(event_type: str) -> str:
    """The lane an event type is drawn in (``other`` for types without one)."""
    return _LANES.get(event_type, "other")


def _cut(text: str, limit: int = LABEL_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _payload(row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        value = orjson.loads(row.get("payload") or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _number(ref: str) -> str:
    return "#" + ref.rpartition("#")[2] if "#" in ref else ref


def _duration(ms: int) -> str:
    if ms < 1_000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def _label_and_status(  # noqa: PLR0911 - one answer per event type
    event_type: str, p: Mapping[str, Any], row: Mapping[str, Any], mark: Mark | None
) -> tuple[str, str]:
    """The drawn label and the status colour of one event."""
    if event_type == "issue.opened":
        return f"issue {_number(_str(p.get('issue_ref')))} {_str(p.get('title'))}", "ok"
    if event_type == "run.started":
        return f"{_str(row.get('run_id'))} started", "ok"
    if event_type == "run.finished":
        outcome = _str(p.get("outcome"))
        status = "ok" if outcome in _GOOD else "failed"
        return f"{_str(row.get('run_id'))} {outcome}", status
    if event_type == "agent.handoff":
        return f"{_str(p.get('from_role'))} → {_str(p.get('to_role'))}", "ok"
    if event_type == "tool.invoked":
        outcome = _str(p.get("outcome"))
        failed = outcome != "success"
        took = _duration(int(p.get("duration_ms") or 0))
        label = f"{_str(p.get('tool'))} {took}" + (f" ✗ {outcome}" if failed else "")
        return label, "failed" if failed else "ok"
    if event_type in ("workspace.leased", "workspace.released"):
        verb = event_type.split(".")[1]
        return f"{_str(p.get('workspace_id'))} {verb}", "ok"
    if event_type in ("browser.leased", "browser.released"):
        verb = event_type.split(".")[1]
        return f"{_str(p.get('browser_id'))} {verb}", "ok"
    if event_type == "pr.opened":
        return f"PR {_number(_str(p.get('pr_ref')))} opened", "ok"
    if event_type == "pr.reviewed":
        state = _str(p.get("review_state"))
        return f"review: {state}", "ok" if state in _GOOD else "failed"
    if event_type == "pr.merged":
        return f"merged {_str(p.get('merge_sha'))[:7]}", "ok"
    if event_type == "evidence.recorded":
        kind = _str(p.get("kind"))
        if mark is None:
            return f"{kind} ?", "unverified"
        sign = "✓" if mark.ok else "✗"
        return f"{kind} {sign} {mark.state.value}", "verified" if mark.ok else "unverified"
    return event_type, "ok"


def _node(row: Mapping[str, Any], marks: Mapping[str, Mark]) -> ChainNode:
    event_type = _str(row.get("event_type"))
    event_id = _str(row.get("event_id"))
    payload = _payload(row)
    label, status = _label_and_status(event_type, payload, row, marks.get(event_id))
    actor = f"{_str(row.get('actor_role'))} {_str(row.get('actor_id'))}".strip()
    detail = [("event", event_type), ("event id", event_id), ("actor", actor)]
    if row.get("run_id"):
        detail.append(("run", _str(row.get("run_id"))))
    detail += [(str(k), _str(v)) for k, v in sorted(payload.items()) if v is not None]
    return ChainNode(
        id=event_id,
        lane=lane_of(event_type),
        label=_cut(label),
        at_ms=int(row.get("at_ms") or 0),
        event_type=event_type,
        run_id=row.get("run_id"),
        actor=actor,
        status=status,
        detail=tuple((k, _cut(v, 200)) for k, v in detail),
    )


def evidence_refs(rows: Iterable[Mapping[str, Any]]) -> list[EvidenceRef]:
    """The evidence events among ``rows``, to check against the log. Pure."""
    found = []
    for row in rows:
        if row.get("event_type") == "evidence.recorded":
            sha256 = _str(_payload(row).get("sha256"))
            found.append(EvidenceRef(_str(row.get("event_id")), sha256))
    return found


def _evidence(rows: Iterable[Mapping[str, Any]], marks: Mapping[str, Mark]) -> list[EvidenceItem]:
    items = []
    for row in rows:
        if row.get("event_type") != "evidence.recorded":
            continue
        p = _payload(row)
        event_id = _str(row.get("event_id"))
        mark = marks.get(event_id) or Mark(MarkState.MISSING, "not checked")
        items.append(
            EvidenceItem(
                event_id=event_id,
                sha256=_str(p.get("sha256")),
                kind=_str(p.get("kind")),
                proves=_str(p.get("proves")),
                media_type=_str(p.get("media_type")),
                size_bytes=int(p.get("size_bytes") or 0),
                at_ms=int(row.get("at_ms") or 0),
                run_id=row.get("run_id"),
                mark=mark,
            )
        )
    return items


def _edges(nodes: Sequence[ChainNode], rows: Sequence[Mapping[str, Any]]) -> list[ChainEdge]:
    """The run order, causation links (deduplicated, in first-seen order)."""
    edges: dict[tuple[str, str], ChainEdge] = {}
    by_run: dict[str, list[ChainNode]] = {}
    for node in nodes:
        if node.run_id:
            by_run.setdefault(node.run_id, []).append(node)
    for run_nodes in by_run.values():
        for before, after in itertools.pairwise(run_nodes):
            edges.setdefault((before.id, after.id), ChainEdge(before.id, after.id, "next"))
    ids = {n.id for n in nodes}
    for row in rows:
        cause, effect = _str(row.get("causation_id")), _str(row.get("event_id"))
        if cause in ids and cause != effect:
            edges[(cause, effect)] = ChainEdge(cause, effect, "caused")
    return list(edges.values())


def build_pr_chain(
    pr_ref: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    marks: Mapping[str, Mark],
    gap: Mapping[str, Any] | None,
    checkpoint: CheckpointView | None,
    log_error: str | None,
    limit: int,
) -> PrChain:
    """The chain of ``pr_ref`` from the event rows of :func:`sql.pr_events_sql`
    (oldest first; ``limit + 1`` rows mean truncated), the marks of its evidence by
    event id, and its open gap row (``v_prs_without_browser_proof``) if any."""
    truncated = len(rows) > limit
    rows = list(rows[:limit])
    nodes = [_node(row, marks) for row in rows]
    edges = _edges(nodes, rows)
    payloads = [(_payload(row), row, node) for row, node in zip(rows, nodes, strict=True)]
    pr_nodes = [(p, row, n) for p, row, n in payloads if p.get("pr_ref") == pr_ref]
    opened = next((p for p, _, n in pr_nodes if n.event_type == "pr.opened"), None)
    merged = next((n for _, _, n in reversed(pr_nodes) if n.event_type == "pr.merged"), None)
    merged_payload = next((p for p, _, n in pr_nodes if n is merged), {})
    first = pr_nodes[0][1] if pr_nodes else (rows[0] if rows else {})
    attributes = first.get("attributes") if isinstance(first.get("attributes"), dict) else None
    issue_ref = (
        closes_issue_ref(attributes, _str(opened.get("title")), first.get("repository"))
        if opened
        else None
    )
    issue_node = next(
        (
            n
            for p, _, n in payloads
            if n.event_type == "issue.opened" and p.get("issue_ref") == issue_ref
        ),
        None,
    )
    opened_node = next((n for _, _, n in pr_nodes if n.event_type == "pr.opened"), None)
    if issue_node and opened_node:
        edges.append(ChainEdge(issue_node.id, opened_node.id, "closes"))
    for p, _, node in payloads:
        if merged and node.event_type == "evidence.recorded" and p.get("proves") == pr_ref:
            # an artifact the log does not prove only claims to prove the merge
            kind = "proves" if node.status == "verified" else "claims"
            edges.append(ChainEdge(node.id, merged.id, kind))
    open_gap = None
    if gap:
        open_gap = ProofGap(pr_ref, int(gap.get("merged_at_ms") or 0))
        at = merged.at_ms if merged else open_gap.merged_at_ms
        nodes.append(
            ChainNode(
                id=f"gap:{pr_ref}",
                lane="evidence",
                label="proof gap: no browser proof",
                at_ms=at,
                event_type="proof.gap",
                run_id=None,
                actor="proof-closure",
                status="gap",
                detail=(("gap", "merged without browser proof"), ("pr", pr_ref)),
            )
        )
        if merged:
            edges.append(ChainEdge(merged.id, f"gap:{pr_ref}", "gap"))
    merged_ms = None
    if merged is not None:
        raw = merged_payload.get("merged_at")
        merged_ms = int(raw) // 1000 if isinstance(raw, int) else merged.at_ms
    runs = tuple(dict.fromkeys(_str(r.get("run_id")) for r in rows if r.get("run_id")))
    return PrChain(
        pr_ref=pr_ref,
        project=first.get("project"),
        repository=first.get("repository"),
        title=_str(opened.get("title")) if opened else None,
        issue_ref=issue_ref,
        merged_at_ms=merged_ms,
        runs=runs,
        nodes=tuple(nodes),
        edges=tuple(edges),
        evidence=tuple(_evidence(rows, marks)),
        checkpoint=checkpoint,
        log_error=log_error,
        gap=open_gap,
        truncated=truncated,
    )


def _spans(rows: Sequence[Mapping[str, Any]]) -> list[Span]:
    """Workspace and browser leases, from each ``*.leased`` to its ``*.released``."""
    spans: list[Span] = []
    open_: dict[tuple[str, str], tuple[str, int]] = {}
    for row in rows:
        event_type = _str(row.get("event_type"))
        if not event_type.startswith(("workspace.", "browser.")):
            continue
        p = _payload(row)
        lane, verb = event_type.split(".")
        what = _str(p.get("workspace_id") if lane == "workspace" else p.get("browser_id"))
        key = (lane, _str(p.get("lease_id")))
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
    nodes = [_node(row, marks) for row in rows]
    started = next((r for r in rows if r.get("event_type") == "run.started"), None)
    finished = next((r for r in reversed(rows) if r.get("event_type") == "run.finished"), None)
    calls = []
    for row in rows:
        if row.get("event_type") == "tool.invoked":
            p = _payload(row)
            calls.append(
                ToolCall(
                    event_id=_str(row.get("event_id")),
                    at_ms=int(row.get("at_ms") or 0),
                    server=_str(p.get("mcp_server")),
                    tool=_str(p.get("tool")),
                    duration_ms=int(p.get("duration_ms") or 0),
                    outcome=_str(p.get("outcome")),
                    retries=int(p.get("retries") or 0),
                    role=_str(row.get("actor_role")),
                )
            )
    prs = tuple(
        dict.fromkeys(
            _str(_payload(r).get("pr_ref"))
            for r in rows
            if _str(r.get("event_type")).startswith("pr.")
        )
    )
    roles = tuple(dict.fromkeys(_str(r.get("actor_role")) for r in rows))
    first = rows[0] if rows else {}
    return RunTimeline(
        run_id=run_id,
        project=first.get("project"),
        repository=first.get("repository"),
        team_type=first.get("team_type"),
        goal=_str(_payload(started).get("goal")) if started else None,
        outcome=_str(_payload(finished).get("outcome")) if finished else None,
        started_ms=int(started["at_ms"]) if started else None,
        finished_ms=int(finished["at_ms"]) if finished else None,
        roles=roles,
        nodes=tuple(nodes),
        edges=tuple(_edges(nodes, rows)),
        tool_calls=tuple(calls),
        spans=tuple(_spans(rows)),
        prs=prs,
        evidence=tuple(_evidence(rows, marks)),
        checkpoint=checkpoint,
        log_error=log_error,
        truncated=truncated,
    )


def planes_of_status(status: Mapping[str, Any] | None) -> list[PlaneLag]:
    """Lag and health per plane from a status report: the worker's ``/status`` or
    :func:`proofstream.status.collect_status` (both have ``projections.<name>.lag``
    and ``.health``). Pure."""
    if not status:
        return []
    planes = []
    for name, item in sorted((status.get("projections") or {}).items()):
        lag = item.get("lag") if isinstance(item, Mapping) else None
        health = _str(item.get("health")) if isinstance(item, Mapping) else ""
        planes.append(
            PlaneLag(str(name), int(lag) if isinstance(lag, int | float) else None, health)
        )
    return planes


def build_overview(
    *,
    now_ms: int,
    bucket: str,
    coverage: Sequence[Mapping[str, Any]],
    unproven: Sequence[Mapping[str, Any]],
    unproven_total: int,
    tools: Sequence[Mapping[str, Any]],
    recent: Sequence[Mapping[str, Any]],
    planes: Sequence[PlaneLag],
    status_note: str | None,
) -> Overview:
    """The overview from the rows of the overview queries (see :mod:`sql`). Pure."""
    return Overview(
        generated_at_ms=now_ms,
        bucket=bucket,
        coverage=tuple(
            CoveragePoint(
                _str(r["project"]),
                int(r["bucket_ms"]),
                int(r["merged"]),
                int(r["with_browser_proof"]),
            )
            for r in coverage
        ),
        unproven=tuple(
            UnprovenMerge(
                _str(r["project"]),
                _str(r["repository"]),
                _str(r["pr_ref"]),
                int(r["merged_at_ms"]),
            )
            for r in unproven
        ),
        unproven_total=unproven_total,
        tools=tuple(
            ToolLatency(
                _str(r["mcp_server"]),
                _str(r["tool"]),
                int(r["calls"]),
                float(r["p50_ms"]),
                float(r["p95_ms"]),
                float(r["failure_rate"]),
            )
            for r in tools
        ),
        planes=tuple(planes),
        status_note=status_note,
        recent_prs=tuple(
            (_str(r["pr_ref"]), int(r["merged_at_ms"]), bool(r["proven"])) for r in recent
        ),
    )
