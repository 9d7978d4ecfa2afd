"""Query rows → the chain of one pull request. Pure: no I/O.

An event row has the columns of :data:`proofstream.pages.sql.EVENT_COLUMNS`; its
``payload`` is the JSON object of the event's own fields, as the facts plane
stores it. Each event becomes a :class:`~proofstream.pages.model.ChainNode` in the
lane of its kind (:mod:`~proofstream.pages.labels`); the lines between them are the
run's order (each event to the run's next one), ``causation_id`` links, the issue a
PR closes, and evidence to the merge it proves. The evidence items and the run-order
and causation lines are the run timeline's too (:mod:`~proofstream.pages.timeline`).
Nothing is escaped here (the renderer does it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from proofstream.pages.labels import node_of, payload_of, text
from proofstream.pages.model import (
    ChainEdge,
    ChainNode,
    CheckpointView,
    EvidenceItem,
    Mark,
    MarkState,
    PrChain,
    ProofGap,
)
from schemas.refs import closes_issue_ref

__all__ = [
    "EvidenceRef",
    "build_pr_chain",
    "chain_edges",
    "evidence_items",
    "evidence_refs",
    "records",
]


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """An evidence event to check against the log: its id and artifact digest."""

    event_id: str
    sha256: str


def records(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``{"columns": [...], "rows": [[...]]}`` → one dict per row. Pure."""
    columns = [str(c) for c in answer["columns"]]
    return [dict(zip(columns, row, strict=True)) for row in answer["rows"]]


def evidence_refs(rows: Iterable[Mapping[str, Any]]) -> list[EvidenceRef]:
    """The evidence events among ``rows``, to check against the log. Pure."""
    found = []
    for row in rows:
        if row.get("event_type") == "evidence.recorded":
            sha256 = text(payload_of(row).get("sha256"))
            found.append(EvidenceRef(text(row.get("event_id")), sha256))
    return found


def evidence_items(
    rows: Iterable[Mapping[str, Any]], marks: Mapping[str, Mark]
) -> list[EvidenceItem]:
    """The evidence events among ``rows`` as items, each with its mark from ``marks``
    (``missing`` when it was not checked). Pure."""
    items = []
    for row in rows:
        if row.get("event_type") != "evidence.recorded":
            continue
        p = payload_of(row)
        event_id = text(row.get("event_id"))
        mark = marks.get(event_id) or Mark(MarkState.MISSING, "not checked")
        items.append(
            EvidenceItem(
                event_id=event_id,
                sha256=text(p.get("sha256")),
                kind=text(p.get("kind")),
                proves=text(p.get("proves")),
                media_type=text(p.get("media_type")),
                size_bytes=int(p.get("size_bytes") or 0),
                at_ms=int(row.get("at_ms") or 0),
                run_id=row.get("run_id"),
                mark=mark,
            )
        )
    return items


def chain_edges(nodes: Sequence[ChainNode], rows: Sequence[Mapping[str, Any]]) -> list[ChainEdge]:
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
        cause, effect = text(row.get("causation_id")), text(row.get("event_id"))
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
    nodes = [node_of(row, marks) for row in rows]
    edges = chain_edges(nodes, rows)
    payloads = [(payload_of(row), row, node) for row, node in zip(rows, nodes, strict=True)]
    pr_nodes = [(p, row, n) for p, row, n in payloads if p.get("pr_ref") == pr_ref]
    opened = next((p for p, _, n in pr_nodes if n.event_type == "pr.opened"), None)
    merged = next((n for _, _, n in reversed(pr_nodes) if n.event_type == "pr.merged"), None)
    merged_payload = next((p for p, _, n in pr_nodes if n is merged), {})
    first = pr_nodes[0][1] if pr_nodes else (rows[0] if rows else {})
    attributes = first.get("attributes") if isinstance(first.get("attributes"), dict) else None
    issue_ref = (
        closes_issue_ref(attributes, text(opened.get("title")), first.get("repository"))
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
    runs = tuple(dict.fromkeys(text(r.get("run_id")) for r in rows if r.get("run_id")))
    return PrChain(
        pr_ref=pr_ref,
        project=first.get("project"),
        repository=first.get("repository"),
        title=text(opened.get("title")) if opened else None,
        issue_ref=issue_ref,
        merged_at_ms=merged_ms,
        runs=runs,
        nodes=tuple(nodes),
        edges=tuple(edges),
        evidence=tuple(evidence_items(rows, marks)),
        checkpoint=checkpoint,
        log_error=log_error,
        gap=open_gap,
        truncated=truncated,
    )
