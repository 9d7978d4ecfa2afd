"""Per-event handlers: one decoded event → the DataHub aspects it states. Pure.

Every event states its **envelope** (its project, repository, agent squad generation
and agent: :func:`envelope`); an event type in :data:`HANDLERS` also states the
entities of its payload (issue and PR delivery in :mod:`sinks.catalog.delivery`). A
handler emits ``(urn, aspect)`` pairs through its :class:`~sinks.catalog.context.Context`,
which turns them into :class:`~sinks.catalog.context.Proposal`s (aspect recipes the
store builds into DataHub ``MetadataChangeProposalWrapper``s when it writes them).

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

from sinks.catalog import aspects as a
from sinks.catalog import delivery
from sinks.catalog.context import Context, Handler, Proposal, entity, micros_to_ms, props
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
) -> tuple[str, str, str, list[Proposal]]:
    """The project container, the repository container (if any), the squad flow and the
    agent job an event's envelope names: ``(project urn, home urn, flow urn,
    proposals)`` where home is the repository, else the project. Pure."""
    p = urns.project(project)
    out = entity(
        p,
        a.container_properties(project, props("project", project=project)),
        a.sub_types("Project"),
        a.platform_instance(platform_urn("fractalops")),
    )
    home = p
    if repository:
        home = urns.repository(repository)
        out += entity(
            home,
            a.container_properties(
                repository,
                props("repository", repository=repository, project=project),
                external_url=f"https://github.com/{repository}",
            ),
            a.sub_types("Repository"),
            a.platform_instance(platform_urn("github")),
            a.container(p),
        )
    team, kind = actor.get("team_type"), actor.get("kind", "agent")
    flow = urns.squad(project, str(team or f"{kind}s"), generation)
    if team:
        info = a.flow_info(
            f"{team} squad gen {generation} ({project})",
            props("agent_squad_generation", project=project, team_type=team, generation=generation),
        )
    else:
        info = a.flow_info(f"{kind}s ({project})", props("actors", project=project))
    out += entity(flow, info, a.container(p))
    out += entity(
        urns.agent(flow, str(actor["id"])),
        a.job_info(
            str(actor["id"]),
            "AGENT",
            props("agent", actor_kind=actor.get("kind"), role=actor.get("role"), team_type=team),
        ),
    )
    return p, home, flow, out


# --- runs and leases ---------------------------------------------------------------------


def _run_started(ctx: Context) -> None:
    if ctx.run is None:
        return
    r, s = ctx.record, ctx.record["subject"]
    ctx.emit(
        ctx.run,
        a.instance_properties(
            f"{s['run_id']} attempt {s.get('attempt', 1)}",
            ctx.occurred_ms(),
            ctx.actor(),
            props(
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
        a.relationships(parent_template=ctx.flow),
        a.container(ctx.home),
    )


def _run_finished(ctx: Context) -> None:
    if ctx.run is None:
        return
    r = ctx.record
    outcome = str(r["outcome"])
    result = _RESULT.get(outcome, dh.RunResultTypeClass.FAILURE)
    ctx.emit(
        ctx.run, a.run_event(micros_to_ms(r["occurred_at"]), result, outcome, int(r["duration_ms"]))
    )


def _lease(kind: str, released: bool) -> Handler:
    def handle(ctx: Context) -> None:
        r = ctx.record
        urn = ctx.urns.instance(lease=kind, id=r[f"{kind}_id"], lease_id=r["lease_id"])
        if released:
            native = r.get("reason") or "released"
            ctx.emit(
                urn,
                a.run_event(micros_to_ms(r["occurred_at"]), dh.RunResultTypeClass.SUCCESS, native),
            )
            return
        ctx.emit(
            urn,
            a.instance_properties(
                f"{kind} lease {r['lease_id']}",
                ctx.occurred_ms(),
                ctx.actor(),
                props(
                    f"{kind}_lease",
                    **{f"{kind}_id": r[f"{kind}_id"]},
                    lease_id=r["lease_id"],
                    ttl_seconds=r["ttl_seconds"],
                    run_id=r["subject"].get("run_id"),
                ),
            ),
            ctx.children(),
            a.container(ctx.home),
        )

    return handle


def _tool(ctx: Context) -> None:
    server, tool = str(ctx.record["mcp_server"]), str(ctx.record["tool"])
    urns = ctx.urns
    job = ctx.cached(("tool", server, tool), lambda: urns.tool(server, tool))

    def definition() -> list[Proposal]:
        return entity(
            urns.mcp_server(server), a.flow_info(server, props("mcp_server", mcp_server=server))
        ) + entity(job, a.job_info(tool, "MCP_TOOL", props("tool", mcp_server=server, tool=tool)))

    ctx.repeat(("tool", job), definition)
    run = ctx.run
    if run is None:
        return

    def loadout() -> list[Proposal]:
        # One entry per (run, tool), timeless: per-call timings are telemetry
        # (ClickHouse), and a call time here would make the aspect depend on the cut.
        return entity(
            urns.instance(loadout=run, tool=job),
            a.instance_properties(
                f"{server}/{tool}",
                0,
                _NO_ACTOR,
                props("tool_loadout", mcp_server=server, tool=tool),
            ),
            a.relationships(parent_template=job, parent_instance=run),
        )

    ctx.repeat(("loadout", run, job), loadout)


# --- evidence, knowledge, lineage --------------------------------------------------------


def _evidence(ctx: Context) -> None:
    r = ctx.record
    proves = str(r["proves"])
    sha256 = str(r["sha256"])
    ctx.emit(
        ctx.urns.evidence(sha256),
        a.dataset_properties(
            f"{r['kind']} {sha256[:12]}",
            props(
                "evidence",
                sha256=sha256,
                kind=r["kind"],
                media_type=r["media_type"],
                size_bytes=r["size_bytes"],
                proves=proves,
                proves_urn=ctx.github("pull", proves) if "#" in proves else None,
                run_id=r["subject"].get("run_id"),
            ),
            external_url=r.get("uri"),
        ),
        a.sub_types("Evidence"),
        a.container(ctx.home),
        a.status(removed=False),
    )


def _knowledge(ctx: Context) -> None:
    r = ctx.record
    ctx.emit(
        ctx.urns.knowledge(str(r["asset_ref"])),
        a.dataset_properties(
            str(r["asset_ref"]),
            props(
                "knowledge_asset",
                asset_ref=r["asset_ref"],
                digest=r["digest"],
                stale=str(bool(r.get("stale"))).lower(),
                project=ctx.project,
            ),
        ),
        a.sub_types("Knowledge Asset"),
        a.status(removed=False),
        a.container(ctx.p),
    )


def _lineage(ctx: Context) -> None:
    r = ctx.record
    sides: dict[str, list[str]] = {"inputs": [], "outputs": []}
    for side, urns in sides.items():
        for ref in r.get(side) or ():
            name, kind = str(ref["name"]), str(ref["kind"])
            urns.append(ctx.urns.lineage(kind, name))
            if not name.startswith("urn:li:"):
                ctx.emit(urns[-1], a.sub_types(kind.title()))
    ctx.emit(
        ctx.urns.instance(lineage=r["event_id"]),
        a.instance_properties(
            f"lineage of {r['subject'].get('run_id') or ctx.project}",
            ctx.occurred_ms(),
            ctx.actor(),
            props("lineage", run_id=r["subject"].get("run_id")),
        ),
        ctx.children(),
        a.instance_inputs(*sides["inputs"]),
        a.instance_outputs(*sides["outputs"]),
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
