"""The page of one run as HTML. Pure: model in, one HTML string out; no I/O.

The run's facts, its events as a chain, its leases and tool calls over time and
its tool-call latency, every evidence artifact with its mark. Every string is
escaped and the page shell (CSP, scripts) is made by :mod:`~proofstream.pages.render`
(see there for what is escaped, and how).
"""

from __future__ import annotations

from proofstream.pages.labels import LABEL_MAX
from proofstream.pages.model import RunTimeline
from proofstream.pages.render import (
    AssetMode,
    Links,
    aria_label,
    checkpoint_html,
    edges_json,
    esc,
    events_html,
    evidence_html,
    lanes_used,
    link,
    nodes_json,
    page,
    time_text,
)

__all__ = ["render_run"]


def render_run(timeline: RunTimeline, links: Links, mode: AssetMode) -> str:
    """The page of one run: its events as a chain, leases and tool calls over time."""
    t = timeline
    prs = ", ".join(link(links.pr(p), p) for p in t.prs) or "—"
    failed = sum(1 for c in t.tool_calls if c.outcome != "success")
    body = (
        f'<h1>Run <span class="ref">{esc(t.run_id)}</span></h1>'
        f'<p class="title">{esc(t.goal or "")}</p>'
        '<dl class="facts">'
        f'<dt>outcome</dt><dd class="outcome-{esc(t.outcome or "running")}">'
        f"{esc(t.outcome or 'running')}</dd>"
        f"<dt>team</dt><dd>{esc(t.team_type or '—')} · {esc(', '.join(t.roles))}</dd>"
        f"<dt>started</dt><dd>{esc(time_text(t.started_ms))}</dd>"
        f"<dt>finished</dt><dd>{esc(time_text(t.finished_ms))}</dd>"
        f"<dt>pull requests</dt><dd>{prs}</dd>"
        f"<dt>tool calls</dt><dd>{len(t.tool_calls)} ({failed} failed)</dd></dl>"
        '<h2>Timeline</h2><div id="timeline" class="chart timeline" role="img"'
        f' aria-label="{esc(aria_label(t.nodes))}"></div>'
        "<h2>Leases and tool calls over time</h2>"
        '<div id="gantt" class="chart gantt" role="img" aria-label="leases and tool calls"></div>'
        "<h2>Tool call latency</h2>"
        '<div id="tools" class="chart tools" role="img" aria-label="tool call latency"></div>'
        f"<h2>Evidence</h2>{checkpoint_html(t.checkpoint, t.log_error)}"
        f"{evidence_html(t.evidence, t.checkpoint)}{events_html(t.nodes)}"
    )
    if not t.found:
        body = (
            f'<h1>Run <span class="ref">{esc(t.run_id)}</span></h1>'
            '<p class="verdict bad" id="verdict">No event of this run was found.</p>'
        )
    data = {
        "page": "run",
        "run": t.run_id,
        "lanes": lanes_used(t.nodes),
        "nodes": nodes_json(t.nodes),
        "edges": edges_json(t.edges),
        "started": t.started_ms,
        "finished": t.finished_ms,
        "spans": [
            {"lane": s.lane, "label": s.label, "start": s.start_ms, "end": s.end_ms}
            for s in t.spans
        ],
        "calls": [
            {
                "id": c.event_id,
                "at": c.at_ms,
                "server": c.server,
                "tool": c.tool,
                "ms": c.duration_ms,
                "outcome": c.outcome,
                "retries": c.retries,
                "role": c.role,
            }
            for c in t.tool_calls
        ],
        "labelMax": LABEL_MAX,
    }
    return page(f"run {t.run_id}", body, data, mode, links)
