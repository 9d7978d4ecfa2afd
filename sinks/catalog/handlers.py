"""Per-event handlers: one decoded event → the DataHub aspects it states. Pure.

Every event states its **envelope** (its project, repository, agent squad generation
and agent: :func:`envelope`); an event type in :data:`HANDLERS` also states the
entities of its payload (issue and PR delivery in :mod:`sinks.catalog.delivery`). A
handler emits ``(urn, aspect)`` pairs through its :class:`~sinks.catalog.context.Context`,
which turns them into DataHub ``MetadataChangeProposalWrapper``s.

Rules every aspect here follows (what makes the catalog replayable in any cut):

- **Whole-aspect UPSERTs, never accumulation.** An aspect is a function of one event
  or of a natural key alone, so writing it again changes nothing. Facts that would
  accumulate on one aspect (the tools a run used, the reviews of a PR) are entities
  of their own, keyed by what they relate (a loadout entry per run and tool, a
  delivery instance per PR event).
- FractalOps metadata goes in ``customProperties``; :data:`KIND` names the seed entity.
- No proof authority: proof closure and proof gaps have no handler (and the
  projection does not read them); nor telemetry: a tool call's timing stays in
  ClickHouse, so a loadout entry is timeless.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from datahub.metadata import schema_classes as dh

from sinks.catalog import delivery
from sinks.catalog.context import Context, Handler, Mcp, entity, micros_to_ms, props, run_event
from sinks.catalog.urns import Urns, platform_urn

__all__ = ["ENVELOPE_ONLY", "HANDLERS", "envelope"]

_RESULT = {
    "success": dh.RunResultTypeClass.SUCCESS,
    "cancelled": dh.RunResultTypeClass.SKIPPED,
}
_NO_ACTOR: Final = "urn:li:corpuser:fractalops"


# --- the envelope ------------------------------------------------------------------------


def envelope(
    urns: Urns, project: str, repository: str | None, actor: Mapping[str, Any], generation: int
) -> tuple[str, str, str, list[Mcp]]:
    """The project container, the repository container (if any), the squad flow and the
    agent job an event's envelope names: ``(project urn, home urn, flow urn, MCPs)``
    where home is the repository, else the project. Pure."""
    p = urns.project(project)
    mcps = entity(
        p,
        dh.ContainerPropertiesClass(
            name=project, customProperties=props("project", project=project)
        ),
        dh.SubTypesClass(typeNames=["Project"]),
        dh.DataPlatformInstanceClass(platform=platform_urn("fractalops")),
    )
    home = p
    if repository:
        home = urns.repository(repository)
        mcps += entity(
            home,
            dh.ContainerPropertiesClass(
                name=repository,
                externalUrl=f"https://github.com/{repository}",
                customProperties=props("repository", repository=repository, project=project),
            ),
            dh.SubTypesClass(typeNames=["Repository"]),
            dh.DataPlatformInstanceClass(platform=platform_urn("github")),
            dh.ContainerClass(container=p),
        )
    team, kind = actor.get("team_type"), actor.get("kind", "agent")
    flow = urns.squad(project, str(team or f"{kind}s"), generation)
    if team:
        info = dh.DataFlowInfoClass(
            name=f"{team} squad gen {generation} ({project})",
            customProperties=props(
                "agent_squad_generation", project=project, team_type=team, generation=generation
            ),
        )
    else:
        info = dh.DataFlowInfoClass(
            name=f"{kind}s ({project})", customProperties=props("actors", project=project)
        )
    mcps += entity(flow, info, dh.ContainerClass(container=p))
    mcps += entity(
        urns.agent(flow, str(actor["id"])),
        dh.DataJobInfoClass(
            name=str(actor["id"]),
            type="AGENT",
            customProperties=props(
                "agent", actor_kind=actor.get("kind"), role=actor.get("role"), team_type=team
            ),
        ),
    )
    return p, home, flow, mcps


# --- runs and leases ---------------------------------------------------------------------


def _run_started(ctx: Context) -> None:
    if ctx.run is None:
        return
    r, s = ctx.record, ctx.record["subject"]
    ctx.emit(
        ctx.run,
        dh.DataProcessInstancePropertiesClass(
            name=f"{s['run_id']} attempt {s.get('attempt', 1)}",
            created=ctx.stamp(),
            customProperties=props(
                "run_attempt",
                project=ctx.project,
                repository=s.get("repository"),
                run_id=s["run_id"],
                attempt=s.get("attempt", 1),
                generation=s.get("generation", 0),
                team_type=r["actor"].get("team_type"),
                goal=r.get("goal"),
                parent_run_id=r.get("parent_run_id"),
            ),
        ),
        dh.DataProcessInstanceRelationshipsClass(upstreamInstances=[], parentTemplate=ctx.flow),
        dh.ContainerClass(container=ctx.home),
    )


def _run_finished(ctx: Context) -> None:
    if ctx.run is None:
        return
    r = ctx.record
    outcome = str(r["outcome"])
    result = _RESULT.get(outcome, dh.RunResultTypeClass.FAILURE)
    ctx.emit(
        ctx.run, run_event(micros_to_ms(r["occurred_at"]), result, outcome, int(r["duration_ms"]))
    )


def _lease(kind: str, released: bool) -> Handler:
    def handle(ctx: Context) -> None:
        r = ctx.record
        urn = ctx.urns.instance(lease=kind, id=r[f"{kind}_id"], lease_id=r["lease_id"])
        if released:
            native = r.get("reason") or "released"
            ctx.emit(
                urn,
                run_event(micros_to_ms(r["occurred_at"]), dh.RunResultTypeClass.SUCCESS, native),
            )
            return
        ctx.emit(
            urn,
            dh.DataProcessInstancePropertiesClass(
                name=f"{kind} lease {r['lease_id']}",
                created=ctx.stamp(),
                customProperties=props(
                    f"{kind}_lease",
                    **{f"{kind}_id": r[f"{kind}_id"]},
                    lease_id=r["lease_id"],
                    ttl_seconds=r["ttl_seconds"],
                    run_id=r["subject"].get("run_id"),
                ),
            ),
            ctx.children(),
            dh.ContainerClass(container=ctx.home),
        )

    return handle


def _tool(ctx: Context) -> None:
    server, tool = str(ctx.record["mcp_server"]), str(ctx.record["tool"])
    urns = ctx.urns
    job = ctx.cached(("tool", server, tool), lambda: urns.tool(server, tool))

    def definition() -> list[Mcp]:
        return entity(
            urns.mcp_server(server),
            dh.DataFlowInfoClass(
                name=server, customProperties=props("mcp_server", mcp_server=server)
            ),
        ) + entity(
            job,
            dh.DataJobInfoClass(
                name=tool,
                type="MCP_TOOL",
                customProperties=props("tool", mcp_server=server, tool=tool),
            ),
        )

    ctx.repeat(("tool", job), definition)
    run = ctx.run
    if run is None:
        return

    def loadout() -> list[Mcp]:
        # One entry per (run, tool), timeless: per-call timings are telemetry
        # (ClickHouse), and a call time here would make the aspect depend on the cut.
        return entity(
            urns.instance(loadout=run, tool=job),
            dh.DataProcessInstancePropertiesClass(
                name=f"{server}/{tool}",
                created=dh.AuditStampClass(time=0, actor=_NO_ACTOR),
                customProperties=props("tool_loadout", mcp_server=server, tool=tool),
            ),
            dh.DataProcessInstanceRelationshipsClass(
                upstreamInstances=[], parentTemplate=job, parentInstance=run
            ),
        )

    ctx.repeat(("loadout", run, job), loadout)


# --- evidence, knowledge, lineage --------------------------------------------------------


def _evidence(ctx: Context) -> None:
    r = ctx.record
    proves = str(r["proves"])
    sha256 = str(r["sha256"])
    ctx.emit(
        ctx.urns.evidence(sha256),
        dh.DatasetPropertiesClass(
            name=f"{r['kind']} {sha256[:12]}",
            externalUrl=r.get("uri"),
            customProperties=props(
                "evidence",
                sha256=sha256,
                kind=r["kind"],
                media_type=r["media_type"],
                size_bytes=r["size_bytes"],
                proves=proves,
                proves_urn=ctx.github("pull", proves) if "#" in proves else None,
                run_id=r["subject"].get("run_id"),
            ),
        ),
        dh.SubTypesClass(typeNames=["Evidence"]),
        dh.ContainerClass(container=ctx.home),
        dh.StatusClass(removed=False),
    )


def _knowledge(ctx: Context) -> None:
    r = ctx.record
    ctx.emit(
        ctx.urns.knowledge(str(r["asset_ref"])),
        dh.DatasetPropertiesClass(
            name=str(r["asset_ref"]),
            customProperties=props(
                "knowledge_asset",
                asset_ref=r["asset_ref"],
                digest=r["digest"],
                stale=str(bool(r.get("stale"))).lower(),
                project=ctx.project,
            ),
        ),
        dh.SubTypesClass(typeNames=["Knowledge Asset"]),
        dh.StatusClass(removed=False),
        dh.ContainerClass(container=ctx.p),
    )


def _lineage(ctx: Context) -> None:
    r = ctx.record
    sides: dict[str, list[str]] = {"inputs": [], "outputs": []}
    for side, urns in sides.items():
        for ref in r.get(side) or ():
            name, kind = str(ref["name"]), str(ref["kind"])
            urns.append(ctx.urns.lineage(kind, name))
            if not name.startswith("urn:li:"):
                ctx.emit(urns[-1], dh.SubTypesClass(typeNames=[kind.title()]))
    ctx.emit(
        ctx.urns.instance(lineage=r["event_id"]),
        dh.DataProcessInstancePropertiesClass(
            name=f"lineage of {r['subject'].get('run_id') or ctx.project}",
            created=ctx.stamp(),
            customProperties=props("lineage", run_id=r["subject"].get("run_id")),
        ),
        ctx.children(),
        dh.DataProcessInstanceInputClass(inputs=sides["inputs"]),
        dh.DataProcessInstanceOutputClass(outputs=sides["outputs"]),
    )


HANDLERS: Mapping[str, Handler] = {
    "run.started": _run_started,
    "run.finished": _run_finished,
    "workspace.leased": _lease("workspace", released=False),
    "workspace.released": _lease("workspace", released=True),
    "browser.leased": _lease("browser", released=False),
    "browser.released": _lease("browser", released=True),
    "tool.invoked": _tool,
    "issue.opened": delivery.issue_opened,
    "pr.opened": delivery.pr_opened,
    "pr.reviewed": delivery.pr_reviewed,
    "pr.merged": delivery.pr_merged,
    "evidence.recorded": _evidence,
    "knowledge.asset.updated": _knowledge,
    "lineage.declared": _lineage,
}
"""Event type → its aspects beyond the envelope's."""

ENVELOPE_ONLY: frozenset[str] = frozenset(
    {"agent.handoff", "proposal.submitted", "proposal.decided"}
)
"""Event types the catalog reads for their envelope alone: a handoff or a proposal
names the agents and squads that act (their facts are in ClickHouse, their relations
in the identity graph)."""
