"""The overview as HTML. Pure: model in, one HTML string out; no I/O.

Coverage per project over time, merges without browser proof, tool latency p95
and lag per plane as charts; the unproven and the latest merges as links. Every
string is escaped and the page shell (CSP, scripts) is made by
:mod:`~proofstream.pages.render` (see there for what is escaped, and how).
"""

from __future__ import annotations

from proofstream.pages.model import Overview
from proofstream.pages.render import AssetMode, Links, esc, link, page, time_text
from proofstream.text import plural

__all__ = ["render_overview"]


def render_overview(overview: Overview, links: Links, mode: AssetMode) -> str:
    """The overview: coverage per project over time, merges without browser proof,
    tool latency p95 and lag per plane, as charts; the unproven merges as links."""
    o = overview
    unproven = "".join(
        f"<li>{link(links.pr(u.pr_ref), u.pr_ref)} "
        f"<time>{esc(time_text(u.merged_at_ms))}</time></li>"
        for u in o.unproven
    )
    recent = "".join(
        f'<li class="{"proven" if proven else "unproven"}">{"✓" if proven else "✗"} '
        f"{link(links.pr(ref), ref)} <time>{esc(time_text(at))}</time></li>"
        for ref, at, proven in o.recent_prs
    )
    note = f'<p class="log-error">{esc(o.status_note)}</p>' if o.status_note else ""
    body = (
        "<h1>Proof overview</h1>"
        f'<p class="title">as of {esc(time_text(o.generated_at_ms))}</p>'
        f'<p class="verdict {"bad" if o.unproven_total else "good"}" id="verdict">'
        f"{plural(o.unproven_total, 'merge')} without browser proof</p>"
        '<div class="grid">'
        f"<section><h2>Browser-proof coverage per project (by {esc(o.bucket)})</h2>"
        '<div id="coverage" class="chart" role="img" aria-label="coverage over time"></div>'
        "</section>"
        f"<section><h2>Merges without browser proof (by {esc(o.bucket)})</h2>"
        '<div id="unproven" class="chart" role="img" aria-label="merges without proof"></div>'
        "</section>"
        "<section><h2>MCP tool latency p95</h2>"
        '<div id="latency" class="chart" role="img" aria-label="tool latency p95"></div>'
        "</section>"
        "<section><h2>Lag per plane (records behind the log)</h2>"
        f'<div id="lag" class="chart" role="img" aria-label="lag per plane"></div>{note}'
        "</section></div>"
        f'<div class="grid"><section><h2>Latest merges without browser proof</h2>'
        f'<ul class="prs" id="unproven-list">{unproven or "<li>none</li>"}</ul></section>'
        f'<section><h2>Latest merges</h2><ul class="prs">{recent or "<li>none</li>"}</ul>'
        "</section></div>"
    )
    data = {
        "page": "overview",
        "bucket": o.bucket,
        "coverage": [
            {
                "project": c.project,
                "at": c.bucket_ms,
                "merged": c.merged,
                "proven": c.with_browser_proof,
            }
            for c in o.coverage
        ],
        "tools": [
            {
                "server": t.server,
                "tool": t.tool,
                "calls": t.calls,
                "p50": t.p50_ms,
                "p95": t.p95_ms,
                "failures": t.failure_rate,
            }
            for t in o.tools
        ],
        "planes": [{"name": p.name, "lag": p.lag, "health": p.health} for p in o.planes],
    }
    return page("overview", body, data, mode, links)
