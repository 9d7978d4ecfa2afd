"""Per-event handlers: one decoded event → the DataHub aspects it states. Pure.

Every event states its **envelope** (its project, repository, agent squad generation
and agent: :func:`envelope`); an event type in :data:`HANDLERS` also states the
entities of its payload. A handler emits ``(urn, aspect)`` pairs through its
:class:`Context`, which turns them into DataHub ``MetadataChangeProposalWrapper``s.

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

from collections.abc import Callable, Mapping
from typing import Any, Final

from datahub.emitter.mcp import MetadataChangeProposalWrapper
from datahub.metadata import schema_classes as dh

from sinks.catalog.borrowed import closes_issue_ref
from sinks.catalog.urns import Urns, escape, platform_urn

__all__ = [
    "ENVELOPE_ONLY",
    "HANDLERS",
    "KIND",
    "Context",
    "Handler",
    "Mcp",
    "entity",
    "envelope",
    "props",
]

Mcp = MetadataChangeProposalWrapper

KIND: Final = "fractalops.kind"
"""The ``customProperties`` key naming which seed entity a DataHub entity is."""

_RESULT = {
    "success": dh.RunResultTypeClass.SUCCESS,
    "cancelled": dh.RunResultTypeClass.SKIPPED,
}
_NO_ACTOR: Final = "urn:li:corpuser:fractalops"


def props(entity: str, /, **values: Any) -> dict[str, str]:
    """``customProperties`` of a seed entity: :data:`KIND` first, then every value that
    is set, as a string. Pure."""
    out = {KIND: entity}
    out.update({k: str(v) for k, v in values.items() if v is not None and v != ""})
    return out


def _ms(micros: Any) -> int:
    return int(micros) // 1000


class Context:
    """What a handler links to, and where it emits. One per event.

    ``emit(urn, *aspects)`` states aspects; ``repeat(key, build)`` states the MCPs
    ``build()`` returns, building them once per ``key`` for the whole batch (for
    entities many events state identically, e.g. a tool's dataJob); ``cached(key,
    compute)`` is ``compute()`` once per ``key`` for the batch (a URN many events
    name: DataHub's URN builders parse and check what they build).
    """

    __slots__ = (
        "_cached",
        "_emit",
        "_repeat",
        "flow",
        "home",
        "p",
        "project",
        "record",
        "run",
        "urns",
    )

    def __init__(
        self,
        record: Mapping[str, Any],
        *,
        urns: Urns,
        project: str,
        p: str,
        home: str,
        flow: str,
        run: str | None,
        emit: Callable[[Mcp], None],
        repeat: Callable[[object, Callable[[], list[Mcp]]], None],
        cached: Callable[[object, Callable[[], str]], str],
    ) -> None:
        self.record = record
        self.urns = urns
        self.project = project
        self.p = p
        self.home = home
        self.flow = flow
        self.run = run
        self._emit = emit
        self._repeat = repeat
        self._cached = cached

    def emit(self, urn: str, *aspects: Any) -> None:
        for aspect in aspects:
            self._emit(Mcp(entityUrn=urn, aspect=aspect))

    def repeat(self, key: object, build: Callable[[], list[Mcp]]) -> None:
        self._repeat(key, build)

    def cached(self, key: object, compute: Callable[[], str]) -> str:
        return self._cached(key, compute)

    def github(self, kind: str, ref: str) -> str:
        return self.cached(("github", kind, ref), lambda: self.urns.github(kind, ref))

    def repository(self, repository: str) -> str:
        return self.cached(("repository", repository), lambda: self.urns.repository(repository))

    def stamp(self) -> Any:
        actor = self.record["actor"]
        return dh.AuditStampClass(
            time=_ms(self.record["occurred_at"]), actor=f"urn:li:corpuser:{escape(actor['id'])}"
        )

    def children(self) -> Any:
        return dh.DataProcessInstanceRelationshipsClass(
            upstreamInstances=[], parentInstance=self.run
        )


Handler = Callable[[Context], None]


def entity(urn: str, *aspects: Any) -> list[Mcp]:
    """One MCP per aspect of ``urn``."""
    return [Mcp(entityUrn=urn, aspect=aspect) for aspect in aspects]


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


def _complete(timestamp_ms: int, result: str, native: str, duration_ms: int | None = None) -> Any:
    return dh.DataProcessInstanceRunEventClass(
        timestampMillis=timestamp_ms,
        # the schema's default, given explicitly: the constructor would otherwise
        # decode it from the Avro schema on every call (most of the aspect's cost)
        partitionSpec=dh.PartitionSpecClass(
            partition="FULL_TABLE_SNAPSHOT", type=dh.PartitionTypeClass.FULL_TABLE
        ),
        status=dh.DataProcessRunStatusClass.COMPLETE,
        result=dh.DataProcessInstanceRunResultClass(type=result, nativeResultType=native),
        durationMillis=duration_ms,
    )


def _run_finished(ctx: Context) -> None:
    if ctx.run is None:
        return
    r = ctx.record
    outcome = str(r["outcome"])
    result = _RESULT.get(outcome, dh.RunResultTypeClass.FAILURE)
    ctx.emit(ctx.run, _complete(_ms(r["occurred_at"]), result, outcome, int(r["duration_ms"])))


def _lease(kind: str, released: bool) -> Handler:
    def handle(ctx: Context) -> None:
        r = ctx.record
        urn = ctx.urns.instance(lease=kind, id=r[f"{kind}_id"], lease_id=r["lease_id"])
        if released:
            native = r.get("reason") or "released"
            ctx.emit(urn, _complete(_ms(r["occurred_at"]), dh.RunResultTypeClass.SUCCESS, native))
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


# --- issue and PR delivery ---------------------------------------------------------------


def _github_props(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "github_app_installation_id": record.get("github_app_installation_id"),
        "delivery_identity": record.get("delivery_identity"),
        "run_id": record["subject"].get("run_id"),
    }


_DELIVERY_EXTRA = frozenset({"review_state", "commit_sha", "merge_sha", "head_sha"})


def _delivery(ctx: Context, target: str, name: str, *, merged: bool, **key: Any) -> None:
    r = ctx.record
    urn = ctx.urns.instance(delivery=r["event_type"], **key)
    extra = {k: v for k, v in r.items() if k in _DELIVERY_EXTRA}  # record order, as stored
    ctx.emit(
        urn,
        dh.DataProcessInstancePropertiesClass(
            name=name,
            created=ctx.stamp(),
            customProperties=props(
                "delivery", event_type=r["event_type"], **_github_props(r), **extra
            ),
        ),
        ctx.children(),
        dh.DataProcessInstanceOutputClass(outputs=[target]),
    )
    if merged:
        at = _ms(r.get("merged_at") or r["occurred_at"])
        ctx.emit(urn, _complete(at, dh.RunResultTypeClass.SUCCESS, "merged"))


def _github_dataset(ctx: Context, kind: str, ref: str, title: str, **extra: Any) -> str:
    urn = ctx.github(kind, ref)
    repo, _, number = ref.partition("#")
    ctx.emit(
        urn,
        dh.DatasetPropertiesClass(
            name=ref,
            description=title,
            externalUrl=f"https://github.com/{repo}/{kind}/{number}" if number else None,
            customProperties=props(
                "issue" if kind == "issues" else "pull_request",
                ref=ref,
                repository=repo,
                project=ctx.project,
                **extra,
            ),
        ),
        dh.SubTypesClass(typeNames=["Issue" if kind == "issues" else "Pull Request"]),
        dh.ContainerClass(container=ctx.repository(repo) if number else ctx.home),
    )
    return urn


def _issue(ctx: Context) -> None:
    r = ctx.record
    ref = str(r["issue_ref"])
    urn = _github_dataset(ctx, "issues", ref, str(r["title"]), **_github_props(r))
    _delivery(ctx, urn, f"open {ref}", merged=False, ref=ref)


def _pr_opened(ctx: Context) -> None:
    r = ctx.record
    ref = str(r["pr_ref"])
    closes = closes_issue_ref(r.get("attributes"), r.get("title"), ref.split("#", maxsplit=1)[0])
    urn = _github_dataset(
        ctx,
        "pull",
        ref,
        str(r["title"]),
        head_sha=r["head_sha"],
        base_ref=r["base_ref"],
        closes_issue=closes,
        **_github_props(r),
    )
    if closes:
        upstream = dh.UpstreamClass(
            dataset=ctx.github("issues", closes), type=dh.DatasetLineageTypeClass.TRANSFORMED
        )
        ctx.emit(urn, dh.UpstreamLineageClass(upstreams=[upstream]))
    _delivery(ctx, urn, f"open {ref}", merged=False, ref=ref)


def _pr_reviewed(ctx: Context) -> None:
    r = ctx.record
    ref = str(r["pr_ref"])
    target = ctx.github("pull", ref)
    name = f"review {ref} ({r['review_state']})"
    _delivery(
        ctx, target, name, merged=False, ref=ref, commit=r["commit_sha"], reviewer=r["actor"]["id"]
    )


def _pr_merged(ctx: Context) -> None:
    r = ctx.record
    ref = str(r["pr_ref"])
    target = ctx.github("pull", ref)
    _delivery(ctx, target, f"merge {ref}", merged=True, ref=ref, sha=r["merge_sha"])


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
    "issue.opened": _issue,
    "pr.opened": _pr_opened,
    "pr.reviewed": _pr_reviewed,
    "pr.merged": _pr_merged,
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
