"""The pages as HTML. Pure: model in, one HTML string out; no I/O.

A page is static HTML (headings, the verdict, every evidence artifact with its
mark and its inclusion proof in a ``<details>``, the events as a list) that
reads without JavaScript, plus the drawings: the page's model as JSON in a
``<script type="application/json">`` element, which ``pages.js`` hands to ECharts.

Escaping — every string may come from an event:

- HTML text and attribute values go through :func:`html.escape` (quotes too);
- the JSON is made inert inside ``<script>``: ``<``, ``>``, ``&`` and U+2028/9 are
  written as ``\\uXXXX`` escapes (JSON.parse reads them back);
- ``pages.js`` puts strings into the DOM with ``textContent`` only and escapes
  what ECharts' tooltips take as HTML.

And a Content-Security-Policy in a ``<meta>`` allows only the page's own scripts
(``'self'`` when served, their sha256 hashes when inlined), no network
(``connect-src 'none'``), no plugins, no base or form targets: injected markup
that slipped past the escaping still could not run or call out.

Two ways to ship the scripts (:class:`AssetMode`): ``LINKED`` (served pages load
``/pages/assets/…``, cached by the browser) and ``INLINE`` (a report file that
holds everything and works offline, from ``file://``, with no network).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from proofstream.pages.assets import asset, echarts_version
from proofstream.pages.chain import LABEL_MAX
from proofstream.pages.model import (
    LANES,
    ChainEdge,
    ChainNode,
    CheckpointView,
    EvidenceItem,
    MarkState,
    Overview,
    PrChain,
    RunTimeline,
)
from proofstream.text import plural

__all__ = [
    "AssetMode",
    "Links",
    "data_json",
    "render_message",
    "render_overview",
    "render_pr",
    "render_run",
]


class AssetMode(StrEnum):
    """How a page gets its scripts and style (module docstring)."""

    LINKED = "linked"
    INLINE = "inline"


@dataclass(frozen=True)
class Links:
    """Where a page links to; ``None`` renders plain text (a report file has no
    server to link to). ``base`` prefixes the served paths."""

    pr: Callable[[str], str | None] = field(default=lambda _ref: None)
    run: Callable[[str], str | None] = field(default=lambda _run: None)
    overview: str | None = None
    assets: str = "/pages/assets/"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


_JSON_INERT = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
_JSON_INERT |= {0x2028: "\\u2028", 0x2029: "\\u2029"}


def data_json(data: Any) -> str:
    """``data`` as JSON that is inert inside ``<script type="application/json">``:
    it can never close the element or open a comment. Pure."""
    text = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
    return text.translate(_JSON_INERT)


def _time(ms: int | None) -> str:
    if ms is None:
        return "—"
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _link(href: str | None, text: str, cls: str = "") -> str:
    klass = f' class="{_e(cls)}"' if cls else ""
    if href is None:
        return f"<span{klass}>{_e(text)}</span>"
    return f'<a href="{_e(href)}"{klass}>{_e(text)}</a>'


def _page(title: str, body: str, data: dict[str, Any], mode: AssetMode, links: Links) -> str:
    """The page shell: CSP, style, body, the page's JSON, the scripts."""
    scripts = [asset("echarts.min.js"), asset("pages.js")]
    style = asset("pages.css")
    if mode is AssetMode.INLINE:
        script_src = " ".join(s.csp_hash for s in scripts)
        head_style = f"<style>{style.text}</style>"
        tail = "".join(f"<script>{s.text}</script>" for s in scripts)
    else:
        script_src = "'self'"
        head_style = f'<link rel="stylesheet" href="{_e(links.assets)}pages.css">'
        tail = "".join(f'<script src="{_e(links.assets)}{_e(s.name)}"></script>' for s in scripts)
    style_src = "'self' 'unsafe-inline'" if mode is AssetMode.LINKED else "'unsafe-inline'"
    csp = (
        f"default-src 'none'; script-src {script_src}; style-src {style_src}; "
        "img-src data:; connect-src 'none'; font-src 'none'; object-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    nav = [_link(links.overview, "overview", "nav")] if links.overview else []
    version = echarts_version()["version"]
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=False)}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · proofstream</title>{head_style}</head>"
        f'<body><header class="top"><span class="brand">proofstream</span>'
        f'{"".join(nav)}<span class="note">proof pages · drawn with Apache ECharts '
        f"{_e(version)}</span></header><main>{body}</main>"
        f'<script type="application/json" id="page-data">{data_json(data)}</script>'
        f"{tail}</body></html>\n"
    )


def _checkpoint_html(cp: CheckpointView | None, log_error: str | None) -> str:
    if cp is None:
        return f'<p class="log-error">Evidence log: {_e(log_error or "not available")}</p>'
    return (
        '<dl class="checkpoint">'
        f"<dt>checkpoint</dt><dd>{_e(cp.origin)} · size {cp.size}</dd>"
        f"<dt>root</dt><dd><code>{_e(cp.root_b64)}</code></dd>"
        f"<dt>trusted key</dt><dd><code>{_e(cp.key)}</code></dd></dl>"
    )


def _mark_symbol(item: EvidenceItem) -> str:
    return "✓" if item.mark.ok else ("…" if item.mark.state is MarkState.PENDING else "✗")


def _evidence_html(items: Sequence[EvidenceItem], cp: CheckpointView | None) -> str:
    if not items:
        return '<p class="empty">No evidence was recorded.</p>'
    out = ['<div class="evidence-list">']
    for n, item in enumerate(items):
        state = item.mark.state.value
        proofs = []
        for proof in item.mark.inclusion:
            path = "".join(f"<li><code>{_e(node)}</code></li>" for node in proof.audit_path)
            proofs.append(
                f'<div class="inclusion"><h4>leaf {proof.leaf_index}</h4><dl>'
                f"<dt>entry</dt><dd><code>{_e(proof.entry)}</code></dd>"
                f"<dt>leaf hash</dt><dd><code>{_e(proof.leaf_hash)}</code></dd>"
                f'<dt>audit path</dt><dd><ol class="path">{path or "<li>(empty: one leaf)</li>"}'
                "</ol></dd></dl></div>"
            )
        note = f'<pre class="note">{_e(cp.note)}</pre>' if cp is not None and item.mark.ok else ""
        root = (
            f"<p>root of size {cp.size}: <code>{_e(cp.root_hex)}</code></p>"
            if cp is not None and item.mark.ok
            else ""
        )
        out.append(
            f'<details class="evidence mark-{_e(state)}" id="evidence-{n}"'
            f' data-event="{_e(item.event_id)}">'
            f'<summary><span class="mark" data-mark="{_e(state)}">{_mark_symbol(item)}</span> '
            f"<strong>{_e(item.kind)}</strong> proves {_e(item.proves)} · "
            f"<code>sha256:{_e(item.sha256[:16])}…</code> · {_e(state)}</summary>"
            f'<p class="reason">{_e(item.mark.reason)}</p>'
            f"<dl><dt>sha256</dt><dd><code>{_e(item.sha256)}</code></dd>"
            f"<dt>media type</dt><dd>{_e(item.media_type)} · {item.size_bytes} bytes</dd>"
            f"<dt>recorded</dt><dd>{_e(_time(item.at_ms))} · event {_e(item.event_id)}</dd>"
            f"<dt>artifact</dt><dd>{_e(item.mark.artifact.replace('_', ' '))}</dd></dl>"
            f"{''.join(proofs)}{root}{note}</details>"
        )
    out.append("</div>")
    return "".join(out)


def _events_html(nodes: Sequence[ChainNode]) -> str:
    items = "".join(
        f'<li class="status-{_e(n.status)}"><time>{_e(_time(n.at_ms))}</time> '
        f'<b>{_e(n.event_type)}</b> {_e(n.label)} <span class="actor">{_e(n.actor)}</span></li>'
        for n in nodes
    )
    return (
        f'<details class="events"><summary>All {len(nodes)} events, in order</summary>'
        f"<ol>{items}</ol></details>"
    )


def _nodes_json(nodes: Iterable[ChainNode]) -> list[dict[str, Any]]:
    return [
        {
            "id": n.id,
            "lane": n.lane,
            "label": n.label,
            "at": n.at_ms,
            "type": n.event_type,
            "run": n.run_id,
            "actor": n.actor,
            "status": n.status,
            "detail": [list(kv) for kv in n.detail],
        }
        for n in nodes
    ]


def _edges_json(edges: Iterable[ChainEdge]) -> list[dict[str, str]]:
    return [{"source": e.source, "target": e.target, "kind": e.kind} for e in edges]


def _lanes(nodes: Iterable[ChainNode]) -> list[str]:
    used = {n.lane for n in nodes}
    return [lane for lane in LANES if lane in used]


def _verdict(items: Sequence[EvidenceItem], gap: bool) -> tuple[str, str]:
    """``(css class, sentence)`` summing up the page's evidence."""
    verified = sum(1 for i in items if i.mark.ok)
    if gap:
        return "bad", "PROOF GAP: merged without browser proof"
    if not items:
        return "bad", "no evidence recorded"
    if verified == len(items):
        return "good", f"{verified} of {len(items)} evidence artifacts verified in the log"
    return "bad", f"only {verified} of {len(items)} evidence artifacts verified in the log"


def render_pr(chain: PrChain, links: Links, mode: AssetMode) -> str:
    """The proof page of one pull request (module docstring for what is escaped)."""
    klass, verdict = _verdict(chain.evidence, chain.gap is not None)
    runs = ", ".join(_link(links.run(r), r) for r in chain.runs) or "—"
    gap = ""
    if chain.gap is not None:
        gap = (
            '<section class="gap" id="proof-gap" role="alert"><h2>Proof gap</h2>'
            f"<p>{_e(chain.pr_ref)} was merged at {_e(_time(chain.gap.merged_at_ms))} and no "
            "browser-proof evidence proves it (<code>v_prs_without_browser_proof</code>; the "
            "proof-closure detector reports it on <code>fractalops.proof-gaps.v1</code>).</p>"
            "</section>"
        )
    truncated = (
        '<p class="truncated">Only the first events are drawn.</p>' if chain.truncated else ""
    )
    body = (
        f'<h1>Pull request <span class="ref">{_e(chain.pr_ref)}</span></h1>'
        f'<p class="title">{_e(chain.title or "")}</p>'
        f'<p class="verdict {klass}" id="verdict">{_e(verdict)}</p>{gap}'
        '<dl class="facts">'
        f"<dt>issue</dt><dd>{_e(chain.issue_ref or '—')}</dd>"
        f"<dt>merged</dt><dd>{_e(_time(chain.merged_at_ms))}</dd>"
        f"<dt>run(s)</dt><dd>{runs}</dd>"
        f"<dt>repository</dt><dd>{_e(chain.repository or '—')}</dd></dl>"
        '<h2>The chain</h2><p class="hint">Issue → run(s) → handoffs → tool calls → leases →'
        " review and merge → evidence, in the order they happened. Click an evidence node"
        " for its inclusion proof.</p>"
        f'<div id="chain" class="chart chain" role="img" aria-label="{_e(_aria(chain.nodes))}">'
        f"</div>{truncated}"
        f"<h2>Evidence</h2>{_checkpoint_html(chain.checkpoint, chain.log_error)}"
        f"{_evidence_html(chain.evidence, chain.checkpoint)}{_events_html(chain.nodes)}"
    )
    if not chain.found:
        body = (
            f'<h1>Pull request <span class="ref">{_e(chain.pr_ref)}</span></h1>'
            '<p class="verdict bad" id="verdict">No event mentions this pull request.</p>'
        )
    data = {
        "page": "pr",
        "ref": chain.pr_ref,
        "lanes": _lanes(chain.nodes),
        "nodes": _nodes_json(chain.nodes),
        "edges": _edges_json(chain.edges),
        "labelMax": LABEL_MAX,
    }
    return _page(f"PR {chain.pr_ref}", body, data, mode, links)


def _aria(nodes: Sequence[ChainNode]) -> str:
    return "; ".join(f"{n.lane}: {n.label}" for n in nodes[:60])


def render_run(timeline: RunTimeline, links: Links, mode: AssetMode) -> str:
    """The page of one run: its events as a chain, leases and tool calls over time."""
    t = timeline
    prs = ", ".join(_link(links.pr(p), p) for p in t.prs) or "—"
    failed = sum(1 for c in t.tool_calls if c.outcome != "success")
    body = (
        f'<h1>Run <span class="ref">{_e(t.run_id)}</span></h1>'
        f'<p class="title">{_e(t.goal or "")}</p>'
        '<dl class="facts">'
        f'<dt>outcome</dt><dd class="outcome-{_e(t.outcome or "running")}">'
        f"{_e(t.outcome or 'running')}</dd>"
        f"<dt>team</dt><dd>{_e(t.team_type or '—')} · {_e(', '.join(t.roles))}</dd>"
        f"<dt>started</dt><dd>{_e(_time(t.started_ms))}</dd>"
        f"<dt>finished</dt><dd>{_e(_time(t.finished_ms))}</dd>"
        f"<dt>pull requests</dt><dd>{prs}</dd>"
        f"<dt>tool calls</dt><dd>{len(t.tool_calls)} ({failed} failed)</dd></dl>"
        '<h2>Timeline</h2><div id="timeline" class="chart timeline" role="img"'
        f' aria-label="{_e(_aria(t.nodes))}"></div>'
        "<h2>Leases and tool calls over time</h2>"
        '<div id="gantt" class="chart gantt" role="img" aria-label="leases and tool calls"></div>'
        "<h2>Tool call latency</h2>"
        '<div id="tools" class="chart tools" role="img" aria-label="tool call latency"></div>'
        f"<h2>Evidence</h2>{_checkpoint_html(t.checkpoint, t.log_error)}"
        f"{_evidence_html(t.evidence, t.checkpoint)}{_events_html(t.nodes)}"
    )
    if not t.found:
        body = (
            f'<h1>Run <span class="ref">{_e(t.run_id)}</span></h1>'
            '<p class="verdict bad" id="verdict">No event of this run was found.</p>'
        )
    data = {
        "page": "run",
        "run": t.run_id,
        "lanes": _lanes(t.nodes),
        "nodes": _nodes_json(t.nodes),
        "edges": _edges_json(t.edges),
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
    return _page(f"run {t.run_id}", body, data, mode, links)


def render_overview(overview: Overview, links: Links, mode: AssetMode) -> str:
    """The overview: coverage per project over time, merges without browser proof,
    tool latency p95 and lag per plane, as charts; the unproven merges as links."""
    o = overview
    unproven = "".join(
        f"<li>{_link(links.pr(u.pr_ref), u.pr_ref)} <time>{_e(_time(u.merged_at_ms))}</time></li>"
        for u in o.unproven
    )
    recent = "".join(
        f'<li class="{"proven" if proven else "unproven"}">{"✓" if proven else "✗"} '
        f"{_link(links.pr(ref), ref)} <time>{_e(_time(at))}</time></li>"
        for ref, at, proven in o.recent_prs
    )
    note = f'<p class="log-error">{_e(o.status_note)}</p>' if o.status_note else ""
    body = (
        "<h1>Proof overview</h1>"
        f'<p class="title">as of {_e(_time(o.generated_at_ms))}</p>'
        f'<p class="verdict {"bad" if o.unproven_total else "good"}" id="verdict">'
        f"{plural(o.unproven_total, 'merge')} without browser proof</p>"
        '<div class="grid">'
        f"<section><h2>Browser-proof coverage per project (by {_e(o.bucket)})</h2>"
        '<div id="coverage" class="chart" role="img" aria-label="coverage over time"></div>'
        "</section>"
        f"<section><h2>Merges without browser proof (by {_e(o.bucket)})</h2>"
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
    return _page("overview", body, data, mode, links)


def render_message(title: str, message: str, links: Links, mode: AssetMode) -> str:
    """A page that only says something (not found, bad request, unavailable)."""
    body = f'<h1>{_e(title)}</h1><p class="verdict bad" id="verdict">{_e(message)}</p>'
    return _page(title, body, {"page": "message"}, mode, links)
