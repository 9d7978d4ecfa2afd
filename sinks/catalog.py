"""``CatalogProjection``: the pure mapping from a batch of decoded events to DataHub MCPs.

The Mapper half of the DataHub plane (the Recorder is
:class:`sinks.datahub.DataHubSink`). It does no I/O; it builds DataHub's own
``MetadataChangeProposalWrapper`` objects with ``schema_classes`` aspects and
``mce_builder`` URNs (so it needs the ``pipeline`` extra).

Contract:

- **Deterministic URNs** from natural keys (``datahub_guid`` of a key dict for
  containers and process instances).
- **Whole-aspect UPSERTs, never accumulation.** Every aspect is a function of
  one event (or of a natural key alone), so writing it again is a no-op and a
  replay in any batch cut ends in the same state. Facts that would accumulate
  on one aspect (the tools a run used, the reviews of a PR) become entities of
  their own, keyed by what they relate (a tool-loadout entry per run and tool, a
  delivery instance per PR event).
- Within a batch, the last MCP per ``(urn, aspect)`` wins (log order).
- FractalOps-specific metadata goes in ``customProperties`` (string map; the
  ``fractalops.kind`` key names the seed entity), not in ad-hoc shapes.
- DataHub is a catalog: it is **not** a proof authority, so proof closure and
  proof gaps are not projected here (Chronicle and ClickHouse hold them); nor a
  mutation gate (nothing reads this catalog to allow a write).

See ``MAPPING`` for the seed entity → DataHub entity/aspect table.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from datahub.emitter.mce_builder import (
    datahub_guid,
    make_container_urn,
    make_data_flow_urn,
    make_data_job_urn_with_flow,
    make_data_platform_urn,
    make_data_process_instance_urn,
    make_dataset_urn,
)
from datahub.emitter.mcp import MetadataChangeProposalWrapper
from datahub.metadata import schema_classes as dh

from schemas.catalog import SchemaCatalog
from schemas.refs import closes_issue_ref
from sinks.base import Batch
from sinks.facts.views import TABLE_COLUMNS

__all__ = [
    "DEFAULT_PROCESSORS",
    "KIND",
    "MAPPING",
    "CatalogProjection",
    "aspects_digest",
    "clickhouse_columns",
]

KIND: Final = "fractalops.kind"
"""The ``customProperties`` key naming which seed entity a DataHub entity is."""

MAPPING: Mapping[str, str] = {
    "project": "container (subType Project)",
    "repository": "container (subType Repository, platform github), parent project",
    "agent squad generation": "dataFlow (fractalops) + its agents as dataJobs",
    "run attempt": "dataProcessInstance (properties, relationships, runEvent)",
    "workspace lease": "dataProcessInstance, parentInstance = run attempt",
    "browser lease": "dataProcessInstance, parentInstance = run attempt",
    "tool loadout": "dataProcessInstance per (run, tool), template = tool dataJob on mcp flow",
    "issue and PR delivery": "datasets (platform github) + a dataProcessInstance per PR event",
    "evidence artifact": "dataset (platform chronicle, name = sha256)",
    "wiki/search knowledge asset": "dataset (platform wiki), customProperties stale",
    "dataset/feature/API/route lineage": "datasets + dataProcessInstance input/output",
}
"""Seed DataHub projection list → how this projection represents it."""

DEFAULT_PROCESSORS: Mapping[str, tuple[str, ...]] = {
    "facts": tuple(f"clickhouse:proofstream.{t}" for t in TABLE_COLUMNS),
    "identity": ("rdf:https://fractalops.io/graph/identity",),
    "catalog": (),
}
"""Projection → the store datasets it writes (``platform:name``)."""

_ENV: Final = "PROD"
_RESERVED = re.compile(r"[,()\s%]")
_RESULT = {
    "success": dh.RunResultTypeClass.SUCCESS,
    "cancelled": dh.RunResultTypeClass.SKIPPED,
}

Mcp = MetadataChangeProposalWrapper


def _name(value: object) -> str:
    # ',', '(' and ')' delimit URN tuples: percent-encode them (and '%' itself).
    return _RESERVED.sub(lambda m: f"%{ord(m.group()):02X}", str(value))


def _ms(micros: Any) -> int:
    return int(micros) // 1000


def _props(entity: str, /, **values: Any) -> dict[str, str]:
    out = {KIND: entity}
    out.update({k: str(v) for k, v in values.items() if v is not None and v != ""})
    return out


class CatalogProjection:
    """Maps events (and the platform's own topics/tables/processors) to MCPs. Pure."""

    def __init__(self, env: str = _ENV) -> None:
        self.env = env

    # --- URNs ------------------------------------------------------------------------

    def project_urn(self, project: str) -> str:
        return make_container_urn(datahub_guid({"platform": "fractalops", "project": project}))

    def repository_urn(self, repository: str) -> str:
        return make_container_urn(datahub_guid({"platform": "github", "repository": repository}))

    def squad_urn(self, project: str, team: str, generation: int) -> str:
        return make_data_flow_urn(
            "fractalops", _name(f"{project}.{team}.gen{generation}"), self.env
        )

    def agent_urn(self, flow: str, actor_id: str) -> str:
        return make_data_job_urn_with_flow(flow, _name(actor_id))

    def run_urn(self, project: str, run_id: str, attempt: int) -> str:
        key = {"project": project, "run_id": run_id, "attempt": attempt}
        return make_data_process_instance_urn(datahub_guid(key))

    def instance_urn(self, **key: Any) -> str:
        return make_data_process_instance_urn(datahub_guid({k: str(v) for k, v in key.items()}))

    def github_urn(self, kind: str, ref: str) -> str:
        """``kind`` is ``issues`` or ``pull``; ``ref`` is ``owner/name#number``."""
        repo, _, number = ref.partition("#")
        return make_dataset_urn(
            "github", _name(f"{repo}/{kind}/{number}" if number else ref), self.env
        )

    def evidence_urn(self, sha256: str) -> str:
        return make_dataset_urn("chronicle", sha256, self.env)

    def knowledge_urn(self, asset_ref: str) -> str:
        return make_dataset_urn("wiki", _name(asset_ref), self.env)

    def lineage_urn(self, kind: str, name: str) -> str:
        if name.startswith("urn:li:"):
            return name
        return make_dataset_urn("fractalops", _name(f"{kind}/{name}"), self.env)

    def tool_urn(self, server: str, tool: str) -> str:
        return make_data_job_urn_with_flow(
            make_data_flow_urn("mcp", _name(server), self.env), _name(tool)
        )

    # --- events -----------------------------------------------------------------------

    def project_batch(self, batch: Batch) -> list[Mcp]:
        """The MCPs of ``batch``: one per ``(urn, aspect)``, the last in log order wins."""
        return self.project_records((item.event_type, item.record) for item in batch)

    def project_records(self, records: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Mcp]:
        """Like :meth:`project_batch` for ``(event_type, record)`` pairs. Pure."""
        latest: dict[tuple[str, str], Mcp] = {}
        for event_type, record in records:
            for mcp in self._event(event_type, record):
                key = (str(mcp.entityUrn), str(mcp.aspectName))
                latest.pop(key, None)  # re-insert: dict order = order of last write
                latest[key] = mcp
        return list(latest.values())

    def _event(self, event_type: str, record: Mapping[str, Any]) -> Iterable[Mcp]:
        subject, actor = record["subject"], record["actor"]
        project = str(subject["project"])
        p = self.project_urn(project)
        yield from self._entity(
            p,
            dh.ContainerPropertiesClass(
                name=project, customProperties=_props("project", project=project)
            ),
            dh.SubTypesClass(typeNames=["Project"]),
            dh.DataPlatformInstanceClass(platform=make_data_platform_urn("fractalops")),
        )
        home = p
        repository = subject.get("repository")
        if repository:
            home = self.repository_urn(str(repository))
            yield from self._entity(
                home,
                dh.ContainerPropertiesClass(
                    name=str(repository),
                    externalUrl=f"https://github.com/{repository}",
                    customProperties=_props("repository", repository=repository, project=project),
                ),
                dh.SubTypesClass(typeNames=["Repository"]),
                dh.DataPlatformInstanceClass(platform=make_data_platform_urn("github")),
                dh.ContainerClass(container=p),
            )
        team = actor.get("team_type")
        generation = int(subject.get("generation", 0))
        flow = self.squad_urn(project, str(team or f"{actor.get('kind', 'agent')}s"), generation)
        if team:
            yield from self._entity(
                flow,
                dh.DataFlowInfoClass(
                    name=f"{team} squad gen {generation} ({project})",
                    customProperties=_props(
                        "agent_squad_generation",
                        project=project,
                        team_type=team,
                        generation=generation,
                    ),
                ),
                dh.ContainerClass(container=p),
            )
        else:
            yield from self._entity(
                flow,
                dh.DataFlowInfoClass(
                    name=f"{actor.get('kind', 'agent')}s ({project})",
                    customProperties=_props("actors", project=project),
                ),
                dh.ContainerClass(container=p),
            )
        yield from self._entity(
            self.agent_urn(flow, str(actor["id"])),
            dh.DataJobInfoClass(
                name=str(actor["id"]),
                type="AGENT",
                customProperties=_props(
                    "agent", actor_kind=actor.get("kind"), role=actor.get("role"), team_type=team
                ),
            ),
        )
        run = None
        run_id = subject.get("run_id")
        if run_id:
            run = self.run_urn(project, str(run_id), int(subject.get("attempt", 1)))
        handler = _HANDLERS.get(event_type)
        if handler is not None:
            yield from handler(
                self, _Ctx(record=record, project=project, p=p, home=home, flow=flow, run=run)
            )

    def _entity(self, urn: str, *aspects: Any) -> Iterable[Mcp]:
        for aspect in aspects:
            yield Mcp(entityUrn=urn, aspect=aspect)

    # --- the platform itself ------------------------------------------------------------

    def platform_mcps(
        self,
        topics: Sequence[str],
        catalog: SchemaCatalog,
        processors: Mapping[str, Sequence[str]] = DEFAULT_PROCESSORS,
    ) -> list[Mcp]:
        """Kafka topics (schema from the Avro catalog), ClickHouse tables (schema from
        the migrations), the RDF graph, and every processor as a dataJob reading the
        topic and writing its stores. Pure; emitted once when a sink opens."""
        out: list[Mcp] = []
        topic_urns = [make_dataset_urn("kafka", _name(t), self.env) for t in topics]
        fields = _avro_fields(catalog)
        raw = (
            "["
            + ",".join(catalog.current(t).path.read_text("utf-8") for t in catalog.event_types)
            + "]"
        )
        for topic, urn in zip(topics, topic_urns, strict=True):
            out += self._entity(
                urn,
                dh.DatasetPropertiesClass(
                    name=topic,
                    description="FractalOps agent-action events (Avro single-object encoding).",
                    customProperties=_props("event_log", event_types=",".join(catalog.event_types)),
                ),
                dh.SchemaMetadataClass(
                    schemaName=topic,
                    platform=make_data_platform_urn("kafka"),
                    version=0,
                    hash=hashlib.sha256(raw.encode()).hexdigest(),
                    platformSchema=dh.KafkaSchemaClass(
                        documentSchema=raw, documentSchemaType="AVRO"
                    ),
                    fields=fields,
                ),
                dh.SubTypesClass(typeNames=["Topic"]),
            )
        columns = clickhouse_columns()
        for table, cols in sorted(columns.items()):
            urn = make_dataset_urn("clickhouse", f"proofstream.{table}", self.env)
            out += self._entity(
                urn,
                dh.DatasetPropertiesClass(
                    name=table, customProperties=_props("warehouse_table", database="proofstream")
                ),
                dh.SchemaMetadataClass(
                    schemaName=f"proofstream.{table}",
                    platform=make_data_platform_urn("clickhouse"),
                    version=0,
                    hash="",
                    platformSchema=dh.OtherSchemaClass(rawSchema=""),
                    fields=[_ch_field(name, native) for name, native in cols],
                ),
                dh.SubTypesClass(typeNames=["Table"]),
            )
        flow = make_data_flow_urn("proofstream", "projections", self.env)
        out += self._entity(
            flow,
            dh.DataFlowInfoClass(
                name="proofstream projections",
                customProperties=_props("processors", topics=",".join(topics)),
            ),
        )
        for name, stores in sorted(processors.items()):
            outputs = []
            for store in stores:
                platform, _, store_name = store.partition(":")
                out_urn = make_dataset_urn(platform, _name(store_name), self.env)
                outputs.append(out_urn)
                if platform != "clickhouse":
                    out += self._entity(
                        out_urn,
                        dh.DatasetPropertiesClass(
                            name=store_name, customProperties=_props("projection_store")
                        ),
                    )
            out += self._entity(
                make_data_job_urn_with_flow(flow, _name(name)),
                dh.DataJobInfoClass(
                    name=name, type="STREAMING", customProperties=_props("projection")
                ),
                dh.DataJobInputOutputClass(inputDatasets=topic_urns, outputDatasets=outputs),
            )
        return out


@dataclass(frozen=True, slots=True)
class _Ctx:
    """What every event-specific handler links to."""

    record: Mapping[str, Any]
    project: str
    p: str
    home: str
    flow: str
    run: str | None

    def stamp(self) -> Any:
        actor = self.record["actor"]
        return dh.AuditStampClass(
            time=_ms(self.record["occurred_at"]), actor=f"urn:li:corpuser:{_name(actor['id'])}"
        )

    def children(self) -> Any:
        return dh.DataProcessInstanceRelationshipsClass(
            upstreamInstances=[], parentInstance=self.run
        )


def _run_started(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    if ctx.run is None:
        return
    r, s = ctx.record, ctx.record["subject"]
    yield from proj._entity(
        ctx.run,
        dh.DataProcessInstancePropertiesClass(
            name=f"{s['run_id']} attempt {s.get('attempt', 1)}",
            created=ctx.stamp(),
            customProperties=_props(
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


def _run_finished(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    if ctx.run is None:
        return
    outcome = str(ctx.record["outcome"])
    yield from proj._entity(
        ctx.run,
        dh.DataProcessInstanceRunEventClass(
            timestampMillis=_ms(ctx.record["occurred_at"]),
            status=dh.DataProcessRunStatusClass.COMPLETE,
            result=dh.DataProcessInstanceRunResultClass(
                type=_RESULT.get(outcome, dh.RunResultTypeClass.FAILURE), nativeResultType=outcome
            ),
            durationMillis=int(ctx.record["duration_ms"]),
        ),
    )


def _lease(kind: str, released: bool) -> Any:
    def handle(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
        r = ctx.record
        urn = proj.instance_urn(lease=kind, id=r[f"{kind}_id"], lease_id=r["lease_id"])
        if released:
            yield from proj._entity(
                urn,
                dh.DataProcessInstanceRunEventClass(
                    timestampMillis=_ms(r["occurred_at"]),
                    status=dh.DataProcessRunStatusClass.COMPLETE,
                    result=dh.DataProcessInstanceRunResultClass(
                        type=dh.RunResultTypeClass.SUCCESS,
                        nativeResultType=r.get("reason") or "released",
                    ),
                ),
            )
            return
        yield from proj._entity(
            urn,
            dh.DataProcessInstancePropertiesClass(
                name=f"{kind} lease {r['lease_id']}",
                created=ctx.stamp(),
                customProperties=_props(
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


def _tool(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    server, tool = str(ctx.record["mcp_server"]), str(ctx.record["tool"])
    flow = make_data_flow_urn("mcp", _name(server), proj.env)
    job = proj.tool_urn(server, tool)
    yield from proj._entity(
        flow,
        dh.DataFlowInfoClass(name=server, customProperties=_props("mcp_server", mcp_server=server)),
    )
    yield from proj._entity(
        job,
        dh.DataJobInfoClass(
            name=tool,
            type="MCP_TOOL",
            customProperties=_props("tool", mcp_server=server, tool=tool),
        ),
    )
    if ctx.run is None:
        return
    # One loadout entry per (run, tool), timeless: per-call timings are telemetry
    # (ClickHouse), and a call time here would make the aspect depend on the cut.
    yield from proj._entity(
        proj.instance_urn(loadout=ctx.run, tool=job),
        dh.DataProcessInstancePropertiesClass(
            name=f"{server}/{tool}",
            created=dh.AuditStampClass(time=0, actor="urn:li:corpuser:fractalops"),
            customProperties=_props("tool_loadout", mcp_server=server, tool=tool),
        ),
        dh.DataProcessInstanceRelationshipsClass(
            upstreamInstances=[], parentTemplate=job, parentInstance=ctx.run
        ),
    )


def _github_props(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "github_app_installation_id": record.get("github_app_installation_id"),
        "delivery_identity": record.get("delivery_identity"),
        "run_id": record["subject"].get("run_id"),
    }


def _delivery(
    proj: CatalogProjection, ctx: _Ctx, target: str, name: str, complete: bool, **key: Any
) -> Iterable[Mcp]:
    r = ctx.record
    urn = proj.instance_urn(delivery=r["event_type"], **key)
    extra = {
        k: v for k, v in r.items() if k in ("review_state", "commit_sha", "merge_sha", "head_sha")
    }
    yield from proj._entity(
        urn,
        dh.DataProcessInstancePropertiesClass(
            name=name,
            created=ctx.stamp(),
            customProperties=_props(
                "delivery", event_type=r["event_type"], **_github_props(r), **extra
            ),
        ),
        ctx.children(),
        dh.DataProcessInstanceOutputClass(outputs=[target]),
    )
    if complete:
        yield Mcp(
            entityUrn=urn,
            aspect=dh.DataProcessInstanceRunEventClass(
                timestampMillis=_ms(r.get("merged_at") or r["occurred_at"]),
                status=dh.DataProcessRunStatusClass.COMPLETE,
                result=dh.DataProcessInstanceRunResultClass(
                    type=dh.RunResultTypeClass.SUCCESS, nativeResultType="merged"
                ),
            ),
        )


def _github_dataset(
    proj: CatalogProjection, ctx: _Ctx, kind: str, ref: str, title: str, **props: Any
) -> tuple[str, list[Mcp]]:
    urn = proj.github_urn(kind, ref)
    repo, _, number = ref.partition("#")
    label = "Issue" if kind == "issues" else "Pull Request"
    mcps = list(
        proj._entity(
            urn,
            dh.DatasetPropertiesClass(
                name=ref,
                description=title,
                externalUrl=f"https://github.com/{repo}/{kind}/{number}" if number else None,
                customProperties=_props(
                    "issue" if kind == "issues" else "pull_request",
                    ref=ref,
                    repository=repo,
                    project=ctx.project,
                    **props,
                ),
            ),
            dh.SubTypesClass(typeNames=[label]),
            dh.ContainerClass(container=proj.repository_urn(repo) if number else ctx.home),
        )
    )
    return urn, mcps


def _issue(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    ref = str(ctx.record["issue_ref"])
    urn, mcps = _github_dataset(
        proj, ctx, "issues", ref, str(ctx.record["title"]), **_github_props(ctx.record)
    )
    yield from mcps
    yield from _delivery(proj, ctx, urn, f"open {ref}", False, ref=ref)


def _pr_opened(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    r = ctx.record
    ref = str(r["pr_ref"])
    closes = closes_issue_ref(r.get("attributes"), r.get("title"), ref.split("#", maxsplit=1)[0])
    urn, mcps = _github_dataset(
        proj,
        ctx,
        "pull",
        ref,
        str(r["title"]),
        head_sha=r["head_sha"],
        base_ref=r["base_ref"],
        closes_issue=closes,
        **_github_props(r),
    )
    yield from mcps
    if closes:
        yield Mcp(
            entityUrn=urn,
            aspect=dh.UpstreamLineageClass(
                upstreams=[
                    dh.UpstreamClass(
                        dataset=proj.github_urn("issues", closes),
                        type=dh.DatasetLineageTypeClass.TRANSFORMED,
                    )
                ]
            ),
        )
    yield from _delivery(proj, ctx, urn, f"open {ref}", False, ref=ref)


def _pr_reviewed(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    r = ctx.record
    ref = str(r["pr_ref"])
    yield from _delivery(
        proj,
        ctx,
        proj.github_urn("pull", ref),
        f"review {ref} ({r['review_state']})",
        False,
        ref=ref,
        commit=r["commit_sha"],
        reviewer=r["actor"]["id"],
    )


def _pr_merged(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    r = ctx.record
    ref = str(r["pr_ref"])
    yield from _delivery(
        proj, ctx, proj.github_urn("pull", ref), f"merge {ref}", True, ref=ref, sha=r["merge_sha"]
    )


def _evidence(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    r = ctx.record
    proves = str(r["proves"])
    proves_urn = proj.github_urn("pull", proves) if "#" in proves else None
    yield from proj._entity(
        proj.evidence_urn(str(r["sha256"])),
        dh.DatasetPropertiesClass(
            name=f"{r['kind']} {str(r['sha256'])[:12]}",
            externalUrl=r.get("uri"),
            customProperties=_props(
                "evidence",
                sha256=r["sha256"],
                kind=r["kind"],
                media_type=r["media_type"],
                size_bytes=r["size_bytes"],
                proves=proves,
                proves_urn=proves_urn,
                run_id=r["subject"].get("run_id"),
            ),
        ),
        dh.SubTypesClass(typeNames=["Evidence"]),
        dh.ContainerClass(container=ctx.home),
        dh.StatusClass(removed=False),
    )


def _knowledge(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    r = ctx.record
    yield from proj._entity(
        proj.knowledge_urn(str(r["asset_ref"])),
        dh.DatasetPropertiesClass(
            name=str(r["asset_ref"]),
            customProperties=_props(
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


def _lineage(proj: CatalogProjection, ctx: _Ctx) -> Iterable[Mcp]:
    r = ctx.record
    sides: dict[str, list[str]] = {"inputs": [], "outputs": []}
    for side, urns in sides.items():
        for ref in r.get(side) or ():
            name, kind = str(ref["name"]), str(ref["kind"])
            urns.append(proj.lineage_urn(kind, name))
            if not name.startswith("urn:li:"):
                yield Mcp(entityUrn=urns[-1], aspect=dh.SubTypesClass(typeNames=[kind.title()]))
    yield from proj._entity(
        proj.instance_urn(lineage=r["event_id"]),
        dh.DataProcessInstancePropertiesClass(
            name=f"lineage of {r['subject'].get('run_id') or ctx.project}",
            created=ctx.stamp(),
            customProperties=_props("lineage", run_id=r["subject"].get("run_id")),
        ),
        ctx.children(),
        dh.DataProcessInstanceInputClass(inputs=sides["inputs"]),
        dh.DataProcessInstanceOutputClass(outputs=sides["outputs"]),
    )


_HANDLERS: Mapping[str, Any] = {
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
"""Event type → its MCPs beyond the envelope's (project, repository, squad, agent).
Handoffs and proposals add nothing to the catalog (their facts are in ClickHouse
and their relations in the identity graph); proof closure and gaps stay out (not a
proof authority)."""


# --- schemas ------------------------------------------------------------------------------


def _avro_fields(catalog: SchemaCatalog) -> list[Any]:
    from datahub.ingestion.extractor.schema_util import avro_schema_to_mce_fields

    fields: dict[str, Any] = {}
    for event_type in catalog.event_types:
        schema = catalog.current(event_type).path.read_text("utf-8")
        for field in avro_schema_to_mce_fields(schema, swallow_exceptions=False):
            fields.setdefault(field.fieldPath, field)
    return [fields[path] for path in sorted(fields)]


_COLUMN = re.compile(r"^\s+([a-z_][a-z0-9_]*)\s+(.+?),?\s*$")
_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*?)\n\)", re.S)


def clickhouse_columns() -> dict[str, list[tuple[str, str]]]:
    """Table → ``(column, ClickHouse type)`` read from the shipped migrations. Pure."""
    tables: dict[str, list[tuple[str, str]]] = {}
    folder = resources.files("sinks.clickhouse_migrations")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, body in _CREATE.findall(entry.read_text("utf-8")):
            cols = []
            for line in body.splitlines():
                match = _COLUMN.match(line)
                if match and not line.strip().upper().startswith(("INDEX", "PROJECTION")):
                    native = re.sub(r"\s+(CODEC|DEFAULT|MATERIALIZED)\b.*$", "", match[2])
                    cols.append((match[1], native.strip()))
            tables[name] = cols
    return tables


def _ch_field(name: str, native: str) -> Any:
    inner = re.sub(r"^(LowCardinality|Nullable)\((.*)\)$", r"\2", native)
    inner = re.sub(r"^(LowCardinality|Nullable)\((.*)\)$", r"\2", inner)
    types: Any = dh  # the generated type classes have untyped constructors
    if re.match(r"^U?Int|^Float|^Decimal", inner):
        kind = types.NumberTypeClass()
    elif inner.startswith(("DateTime", "Date")):
        kind = types.TimeTypeClass()
    elif inner.startswith("Map"):
        kind = types.MapTypeClass()
    elif inner.startswith("Array"):
        kind = types.ArrayTypeClass()
    elif inner.startswith("Bool"):
        kind = types.BooleanTypeClass()
    else:
        kind = types.StringTypeClass()
    return dh.SchemaFieldClass(
        fieldPath=name,
        type=dh.SchemaFieldDataTypeClass(type=kind),
        nativeDataType=native,
        nullable="Nullable(" in native,
    )


# --- digest ---------------------------------------------------------------------------------


def aspects_digest(aspects: Iterable[tuple[str, str, Mapping[str, Any]]]) -> str:
    """SHA-256 (hex) over sorted ``(urn, aspectName, canonical JSON of the aspect)``. Pure.

    Order-independent; system metadata (``lastObserved``, run ids) is not part of
    it, so a rebuilt catalog has the live one's digest exactly when every aspect
    is equal.
    """
    lines = sorted(
        f"{urn}\t{name}\t{json.dumps(aspect, sort_keys=True, separators=(',', ':'))}"
        for urn, name, aspect in aspects
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
