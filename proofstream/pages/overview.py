"""Query rows and a status report → the overview. Pure: no I/O.

Browser-proof coverage per project over time, the merges without browser proof,
MCP tool latency and lag per plane, from the rows of the overview queries (see
:mod:`~proofstream.pages.sql`). Nothing is escaped here (the renderer does it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from proofstream.pages.labels import text
from proofstream.pages.model import (
    CoveragePoint,
    Overview,
    PlaneLag,
    ToolLatency,
    UnprovenMerge,
)

__all__ = ["build_overview", "planes_of_status"]


def planes_of_status(status: Mapping[str, Any] | None) -> list[PlaneLag]:
    """Lag and health per plane from a status report: the worker's ``/status`` or
    :func:`proofstream.status.collect_status` (both have ``projections.<name>.lag``
    and ``.health``). Pure."""
    if not status:
        return []
    planes = []
    for name, item in sorted((status.get("projections") or {}).items()):
        lag = item.get("lag") if isinstance(item, Mapping) else None
        health = text(item.get("health")) if isinstance(item, Mapping) else ""
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
                text(r["project"]),
                int(r["bucket_ms"]),
                int(r["merged"]),
                int(r["with_browser_proof"]),
            )
            for r in coverage
        ),
        unproven=tuple(
            UnprovenMerge(
                text(r["project"]),
                text(r["repository"]),
                text(r["pr_ref"]),
                int(r["merged_at_ms"]),
            )
            for r in unproven
        ),
        unproven_total=unproven_total,
        tools=tuple(
            ToolLatency(
                text(r["mcp_server"]),
                text(r["tool"]),
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
            (text(r["pr_ref"]), int(r["merged_at_ms"]), bool(r["proven"])) for r in recent
        ),
    )
