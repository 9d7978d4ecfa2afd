"""The proof page of one pull request as HTML. Pure: model in, one HTML string out;
no I/O.

The verdict on the PR's evidence, the proof gap when one is open, the chain drawn
from issue to merge, every evidence artifact with its mark and inclusion proof.
Every string is escaped and the page shell (CSP, scripts) is made by
:mod:`~proofstream.pages.render` (see there for what is escaped, and how).
"""

from __future__ import annotations

from collections.abc import Sequence

from proofstream.pages.labels import LABEL_MAX
from proofstream.pages.model import EvidenceItem, PrChain
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

__all__ = ["render_pr"]


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
    runs = ", ".join(link(links.run(r), r) for r in chain.runs) or "—"
    gap = ""
    if chain.gap is not None:
        gap = (
            '<section class="gap" id="proof-gap" role="alert"><h2>Proof gap</h2>'
            f"<p>{esc(chain.pr_ref)} was merged at {esc(time_text(chain.gap.merged_at_ms))} and no "
            "browser-proof evidence proves it (<code>v_prs_without_browser_proof</code>; the "
            "proof-closure detector reports it on <code>fractalops.proof-gaps.v1</code>).</p>"
            "</section>"
        )
    truncated = (
        '<p class="truncated">Only the first events are drawn.</p>' if chain.truncated else ""
    )
    body = (
        f'<h1>Pull request <span class="ref">{esc(chain.pr_ref)}</span></h1>'
        f'<p class="title">{esc(chain.title or "")}</p>'
        f'<p class="verdict {klass}" id="verdict">{esc(verdict)}</p>{gap}'
        '<dl class="facts">'
        f"<dt>issue</dt><dd>{esc(chain.issue_ref or '—')}</dd>"
        f"<dt>merged</dt><dd>{esc(time_text(chain.merged_at_ms))}</dd>"
        f"<dt>run(s)</dt><dd>{runs}</dd>"
        f"<dt>repository</dt><dd>{esc(chain.repository or '—')}</dd></dl>"
        '<h2>The chain</h2><p class="hint">Issue → run(s) → handoffs → tool calls → leases →'
        " review and merge → evidence, in the order they happened. Click an evidence node"
        " for its inclusion proof.</p>"
        '<div id="chain" class="chart chain" role="img"'
        f' aria-label="{esc(aria_label(chain.nodes))}">'
        f"</div>{truncated}"
        f"<h2>Evidence</h2>{checkpoint_html(chain.checkpoint, chain.log_error)}"
        f"{evidence_html(chain.evidence, chain.checkpoint)}{events_html(chain.nodes)}"
    )
    if not chain.found:
        body = (
            f'<h1>Pull request <span class="ref">{esc(chain.pr_ref)}</span></h1>'
            '<p class="verdict bad" id="verdict">No event mentions this pull request.</p>'
        )
    data = {
        "page": "pr",
        "ref": chain.pr_ref,
        "lanes": lanes_used(chain.nodes),
        "nodes": nodes_json(chain.nodes),
        "edges": edges_json(chain.edges),
        "labelMax": LABEL_MAX,
    }
    return page(f"PR {chain.pr_ref}", body, data, mode, links)
