"""Proof pages: a page per pull request and per run, and an overview, drawn from the planes.

A reviewer's question — can I trust this merge? — answered in one picture: the
chain from the issue through the run(s), handoffs, MCP tool calls, leases, review
and merge to each evidence artifact, with the artifact's inclusion proof checked
against the log's current signed checkpoint (green or red) and the proof gap when
one is open. Served read-only by the worker (``/pages/…``) and written as a
self-contained offline file by ``proofstream report``. See ``docs/proof-pages.md``.

Modules, from the pure core out:

- :mod:`~proofstream.pages.model` — the pages' data (frozen dataclasses);
- :mod:`~proofstream.pages.sql` — the bounded, read-only facts queries (text);
- :mod:`~proofstream.pages.chain` — query rows → model (pure);
- :mod:`~proofstream.pages.render` — model → HTML (pure; escaping, CSP);
- :mod:`~proofstream.pages.assets` — the vendored Apache ECharts, ``pages.js``, ``pages.css``;
- :mod:`~proofstream.pages.proofs` — each artifact's mark, from the log's files;
- :mod:`~proofstream.pages.gather` — the facts sources, and a page's data gathered;
- :mod:`~proofstream.pages.serve` — the worker's page handler and routes.
"""

from __future__ import annotations

from proofstream.pages.model import MarkState, Overview, PrChain, RunTimeline
from proofstream.pages.render import AssetMode, Links, render_overview, render_pr, render_run

__all__ = [
    "AssetMode",
    "Links",
    "MarkState",
    "Overview",
    "PrChain",
    "RunTimeline",
    "render_overview",
    "render_pr",
    "render_run",
]
