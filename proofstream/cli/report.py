"""``proofstream report``: one proof page as a single, self-contained HTML file.

The file holds its scripts, style and data (no CDN, no network: it opens from
disk, offline, and its Content-Security-Policy forbids any connection). The data
come the way ``proofstream query`` gets them — through the running worker of this
state directory, else from the facts store opened here — and every evidence
artifact is checked against the log's current signed checkpoint as the file is
written. Exit 0 when written; 2 on a malformed ref or an unreadable store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from proofstream.cli.common import console, settings_of
from proofstream.pages.gather import gather_overview, gather_pr, gather_run, open_source
from proofstream.pages.overview_page import render_overview
from proofstream.pages.pr_page import render_pr
from proofstream.pages.render import AssetMode, Links
from proofstream.pages.run_page import render_run
from proofstream.pages.sql import check_pr_ref, check_run_id
from proofstream.status import collect_status
from proofstream.text import plural
from proofstream.worker_client import WorkerClient
from schemas.durable import atomic_write
from schemas.errors import ConfigError, ProofstreamError

__all__ = ["report"]


def report(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The HTML file to write.", dir_okay=False)
    ],
    pr: Annotated[
        str | None, typer.Option("--pr", help="Proof page of pull request OWNER/REPO#N.")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Page of run RUN_ID.")] = None,
    overview: Annotated[
        bool, typer.Option("--overview", help="The overview page (coverage, gaps, latency, lag).")
    ] = False,
) -> None:
    """Write one proof page (--pr, --run or --overview) to a self-contained HTML file
    that works offline: the chain drawn as a graph, each evidence artifact's inclusion
    proof checked against the current signed checkpoint (green or red), any proof gap.
    """
    settings = settings_of(ctx)
    if sum((pr is not None, run is not None, overview)) != 1:
        raise ConfigError("give exactly one of --pr OWNER/REPO#N, --run RUN_ID, --overview")
    if pr is not None:
        check_pr_ref(pr)
    if run is not None:
        check_run_id(run)
    links = Links()
    status, note = None, None
    if overview and not WorkerClient(settings).available():
        try:  # no worker: read the stores' watermarks here, before the facts are opened
            status = collect_status(settings, list(settings.processors.projections))
        except ProofstreamError as exc:
            note = f"lag unknown: {exc}"
    with open_source(settings) as (source, worker_status):
        if pr is not None:
            chain = gather_pr(settings, source, pr)
            page = render_pr(chain, links, AssetMode.INLINE)
            artifacts = plural(len(chain.evidence), "evidence artifact")
            summary = f"{plural(len(chain.nodes), 'event')}, {artifacts}"
            summary += ", proof gap open" if chain.gap else ""
        elif run is not None:
            timeline = gather_run(settings, source, run)
            page = render_run(timeline, links, AssetMode.INLINE)
            summary = f"{len(timeline.nodes)} events, {len(timeline.tool_calls)} tool calls"
        else:
            data = gather_overview(source, worker_status or status, status_note=note)
            page = render_overview(data, links, AssetMode.INLINE)
            summary = f"{plural(data.unproven_total, 'merge')} without browser proof"
    atomic_write(out, page.encode())
    console.print(f"wrote {out.resolve()} ({summary})", highlight=False, soft_wrap=True)
