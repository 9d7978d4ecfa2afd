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
- :mod:`~proofstream.pages.labels` — an event row → its node: lane, label, status (pure);
- :mod:`~proofstream.pages.chain` — query rows → a PR's chain (pure);
- :mod:`~proofstream.pages.timeline` — query rows → a run's timeline (pure);
- :mod:`~proofstream.pages.overview` — query rows and status → the overview (pure);
- :mod:`~proofstream.pages.render` — the HTML shell and shared pieces (pure; escaping, CSP);
- :mod:`~proofstream.pages.pr_page`, :mod:`~proofstream.pages.run_page`,
  :mod:`~proofstream.pages.overview_page` — each page's model → HTML (pure);
- :mod:`~proofstream.pages.assets` — the vendored Apache ECharts, ``pages.js``, ``pages.css``;
- :mod:`~proofstream.pages.proofs` — each artifact's mark, from the log's files;
- :mod:`~proofstream.pages.gather` — the facts sources, and a page's data gathered;
- :mod:`~proofstream.pages.serve` — the worker's page handler and routes.
"""

from __future__ import annotations

from proofstream.pages.model import MarkState, Overview, PrChain, RunTimeline
from proofstream.pages.overview_page import render_overview
from proofstream.pages.pr_page import render_pr
from proofstream.pages.render import AssetMode, Links
from proofstream.pages.run_page import render_run

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
