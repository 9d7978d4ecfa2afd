"""The pages' HTML shell and the pieces every page shares. Pure: no I/O.

Each page is rendered by its own module — :mod:`~proofstream.pages.pr_page`,
:mod:`~proofstream.pages.run_page`, :mod:`~proofstream.pages.overview_page` —
model in, one HTML string out, through :func:`page` here; what follows holds for
all of them.

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
from proofstream.pages.model import (
    LANES,
    ChainEdge,
    ChainNode,
    CheckpointView,
    EvidenceItem,
    MarkState,
)

__all__ = [
    "AssetMode",
    "Links",
    "aria_label",
    "checkpoint_html",
    "data_json",
    "edges_json",
    "esc",
    "events_html",
    "evidence_html",
    "lanes_used",
    "link",
    "nodes_json",
    "page",
    "render_message",
    "time_text",
]


class AssetMode(StrEnum):
    """How a page gets its scripts and style (module docstring)."""

    LINKED = "linked"
    INLINE = "inline"


@dataclass(frozen=True)
class Links:
    """Where a page links to; ``None`` renders plain text (a report file has no
    server to link to). ``assets`` is where the served pages find their CSS and JS."""

    pr: Callable[[str], str | None] = field(default=lambda _ref: None)
    run: Callable[[str], str | None] = field(default=lambda _run: None)
    overview: str | None = None
    assets: str = "/pages/assets/"


def esc(value: object) -> str:
    """``value`` as HTML text or attribute value (quotes too; ``None`` is empty)."""
    return html.escape("" if value is None else str(value), quote=True)


_JSON_INERT = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
_JSON_INERT |= {0x2028: "\\u2028", 0x2029: "\\u2029"}


def data_json(data: Any) -> str:
    """``data`` as JSON that is inert inside ``<script type="application/json">``:
    it can never close the element or open a comment. Pure."""
    text = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
    return text.translate(_JSON_INERT)


def time_text(ms: int | None) -> str:
    """Milliseconds since the epoch as UTC ISO 8601 to the second (``—`` for none)."""
    if ms is None:
        return "—"
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def link(href: str | None, text: str, cls: str = "") -> str:
    """A link to ``href``, or plain text where there is nothing to link to."""
    klass = f' class="{esc(cls)}"' if cls else ""
    if href is None:
        return f"<span{klass}>{esc(text)}</span>"
    return f'<a href="{esc(href)}"{klass}>{esc(text)}</a>'


def page(title: str, body: str, data: dict[str, Any], mode: AssetMode, links: Links) -> str:
    """The page shell: CSP, style, body, the page's JSON, the scripts."""
    scripts = [asset("echarts.min.js"), asset("pages.js")]
    style = asset("pages.css")
    if mode is AssetMode.INLINE:
        script_src = " ".join(s.csp_hash for s in scripts)
        head_style = f"<style>{style.text}</style>"
        tail = "".join(f"<script>{s.text}</script>" for s in scripts)
    else:
        script_src = "'self'"
        head_style = f'<link rel="stylesheet" href="{esc(links.assets)}pages.css">'
        tail = "".join(f'<script src="{esc(links.assets)}{esc(s.name)}"></script>' for s in scripts)
    style_src = "'self' 'unsafe-inline'" if mode is AssetMode.LINKED else "'unsafe-inline'"
    csp = (
        f"default-src 'none'; script-src {script_src}; style-src {style_src}; "
        "img-src data:; connect-src 'none'; font-src 'none'; object-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    nav = [link(links.overview, "overview", "nav")] if links.overview else []
    version = echarts_version()["version"]
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=False)}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · proofstream</title>{head_style}</head>"
        f'<body><header class="top"><span class="brand">proofstream</span>'
        f'{"".join(nav)}<span class="note">proof pages · drawn with Apache ECharts '
        f"{esc(version)}</span></header><main>{body}</main>"
        f'<script type="application/json" id="page-data">{data_json(data)}</script>'
        f"{tail}</body></html>\n"
    )


def checkpoint_html(cp: CheckpointView | None, log_error: str | None) -> str:
    """The checkpoint the marks were checked against, or why there is none."""
    if cp is None:
        return f'<p class="log-error">Evidence log: {esc(log_error or "not available")}</p>'
    return (
        '<dl class="checkpoint">'
        f"<dt>checkpoint</dt><dd>{esc(cp.origin)} · size {cp.size}</dd>"
        f"<dt>root</dt><dd><code>{esc(cp.root_b64)}</code></dd>"
        f"<dt>trusted key</dt><dd><code>{esc(cp.key)}</code></dd></dl>"
    )


def _mark_symbol(item: EvidenceItem) -> str:
    return "✓" if item.mark.ok else ("…" if item.mark.state is MarkState.PENDING else "✗")


def evidence_html(items: Sequence[EvidenceItem], cp: CheckpointView | None) -> str:
    """Every evidence artifact with its mark, its inclusion proof on demand."""
    if not items:
        return '<p class="empty">No evidence was recorded.</p>'
    out = ['<div class="evidence-list">']
    for n, item in enumerate(items):
        state = item.mark.state.value
        proofs = []
        for proof in item.mark.inclusion:
            path = "".join(f"<li><code>{esc(node)}</code></li>" for node in proof.audit_path)
            proofs.append(
                f'<div class="inclusion"><h4>leaf {proof.leaf_index}</h4><dl>'
                f"<dt>entry</dt><dd><code>{esc(proof.entry)}</code></dd>"
                f"<dt>leaf hash</dt><dd><code>{esc(proof.leaf_hash)}</code></dd>"
                f'<dt>audit path</dt><dd><ol class="path">{path or "<li>(empty: one leaf)</li>"}'
                "</ol></dd></dl></div>"
            )
        note = f'<pre class="note">{esc(cp.note)}</pre>' if cp is not None and item.mark.ok else ""
        root = (
            f"<p>root of size {cp.size}: <code>{esc(cp.root_hex)}</code></p>"
            if cp is not None and item.mark.ok
            else ""
        )
        out.append(
            f'<details class="evidence mark-{esc(state)}" id="evidence-{n}"'
            f' data-event="{esc(item.event_id)}">'
            f'<summary><span class="mark" data-mark="{esc(state)}">{_mark_symbol(item)}</span> '
            f"<strong>{esc(item.kind)}</strong> proves {esc(item.proves)} · "
            f"<code>sha256:{esc(item.sha256[:16])}…</code> · {esc(state)}</summary>"
            f'<p class="reason">{esc(item.mark.reason)}</p>'
            f"<dl><dt>sha256</dt><dd><code>{esc(item.sha256)}</code></dd>"
            f"<dt>media type</dt><dd>{esc(item.media_type)} · {item.size_bytes} bytes</dd>"
            f"<dt>recorded</dt><dd>{esc(time_text(item.at_ms))} · event {esc(item.event_id)}</dd>"
            f"<dt>artifact</dt><dd>{esc(item.mark.artifact.replace('_', ' '))}</dd></dl>"
            f"{''.join(proofs)}{root}{note}</details>"
        )
    out.append("</div>")
    return "".join(out)


def events_html(nodes: Sequence[ChainNode]) -> str:
    """All events as a list, in order (the drawing's text alternative)."""
    items = "".join(
        f'<li class="status-{esc(n.status)}"><time>{esc(time_text(n.at_ms))}</time> '
        f'<b>{esc(n.event_type)}</b> {esc(n.label)} <span class="actor">{esc(n.actor)}</span></li>'
        for n in nodes
    )
    return (
        f'<details class="events"><summary>All {len(nodes)} events, in order</summary>'
        f"<ol>{items}</ol></details>"
    )


def nodes_json(nodes: Iterable[ChainNode]) -> list[dict[str, Any]]:
    """The nodes as the page's JSON has them for ``pages.js``."""
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


def edges_json(edges: Iterable[ChainEdge]) -> list[dict[str, str]]:
    """The lines as the page's JSON has them for ``pages.js``."""
    return [{"source": e.source, "target": e.target, "kind": e.kind} for e in edges]


def lanes_used(nodes: Iterable[ChainNode]) -> list[str]:
    """The lanes that hold a node, in the drawing's order."""
    used = {n.lane for n in nodes}
    return [lane for lane in LANES if lane in used]


def aria_label(nodes: Sequence[ChainNode]) -> str:
    """A drawing's text for screen readers: its first nodes' lanes and labels."""
    return "; ".join(f"{n.lane}: {n.label}" for n in nodes[:60])


def render_message(title: str, message: str, links: Links, mode: AssetMode) -> str:
    """A page that only says something (not found, bad request, unavailable)."""
    body = f'<h1>{esc(title)}</h1><p class="verdict bad" id="verdict">{esc(message)}</p>'
    return page(title, body, {"page": "message"}, mode, links)
