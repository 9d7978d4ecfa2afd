"""``IdentityProjection``: the pure mapping from a batch of decoded events to RDF triples.

The Mapper half of the Semantics plane (the Recorder is
:class:`sinks.identity.store.RdfStore`). It does no I/O, holds no state between
calls and imports no RDF library; the terms and IRIs are in
:mod:`sinks.identity.vocabulary`. A run attempt is a ``prov:Activity``, an agent a
``prov:Agent`` acting on behalf of its squad generation, issues, pull requests,
evidence and lineage assets are ``prov:Entity``.

What it writes: **identities and relations only** (the seed's rule for the
Semantics plane: no bulk telemetry). Never durations, counts, sizes, retries,
per-event timestamps, digests of tool input/output, titles or free text; the
only literals are natural keys (``fo:key``), the attempt and generation numbers
that are part of an identity, the evidence kind and an evidence artifact's own
sha256 (its identity).

The output is a *set*: the same batch, any redelivery of it, or any other cut of
the same events yields the same triples. Most of an event's identities repeat
(the same project, repository, agent, squad and run for many events), so within
one call every identity is minted and described once per distinct key, and an
event whose envelope and handler inputs were already seen in the batch adds
nothing new and is skipped (the memo lives in a :class:`_Projector` made per
call: nothing survives the call). Remembering what earlier batches wrote is the
store's business.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

from schemas.events import EVENT_TYPES
from sinks.base import Batch, Input, LoggedEvent
from sinks.facts import closes_issue_ref
from sinks.identity.vocabulary import (
    DEFAULT_BASE_IRI,
    FO,
    PROV,
    RDF_TYPE,
    REF,
    XSD_INTEGER,
    IdentityIris,
    Lit,
    Triple,
)

__all__ = ["PROJECTION_VERSION", "IdentityProjection", "IdentityWrites"]

PROJECTION_VERSION: Final = 1
"""Bumped when the mapping changes (recorded with every rebuilt generation)."""

IdentityWrites = frozenset[Triple]
"""What the projection hands its store: the distinct identity triples of a batch."""

_A = RDF_TYPE
_KEY = FO + "key"
_PROJECT = FO + "project"
_REPOSITORY = FO + "repository"
_TEAM_TYPE = FO + "teamType"
_USED = PROV + "used"
_ACTOR_CLASS = {"agent": FO + "Agent", "human": FO + "Person"}


_SUBJECT_KEY = itemgetter("project", "repository", "run_id", "attempt", "generation")
_ACTOR_KEY = itemgetter("kind", "id", "team_type", "role")
"""Every envelope field an envelope's triples depend on (C-level: this runs per event)."""


def _envelope_key(subject: Mapping[str, Any], actor: Mapping[str, Any]) -> tuple[object, ...]:
    return (
        (
            subject["project"],
            subject.get("repository"),
            subject.get("run_id"),
            subject.get("attempt", 1),
            subject.get("generation", 0),
        ),
        (actor.get("kind", "agent"), actor["id"], actor.get("team_type"), actor["role"]),
    )


class IdentityProjection:
    """Maps events to identity triples (see the module docstring). Pure and stateless.

    ``reads`` is every event type: each one's envelope names a project, an actor
    and its role, and usually a run, which are identities (``run.finished`` adds
    nothing beyond them: its outcome and duration are telemetry).
    """

    name: Final = "identity"
    version: Final = PROJECTION_VERSION
    input: Final = Input.EVENTS
    reads: Final = frozenset(EVENT_TYPES)

    def __init__(self, base_iri: str = DEFAULT_BASE_IRI) -> None:
        self.iris = IdentityIris(base_iri)

    def project(self, batch: Batch) -> IdentityWrites:
        """Every identity triple of ``batch.events``, deduplicated. Pure."""
        return frozenset(_Projector(self.iris).run(batch.events))


@dataclass(frozen=True, slots=True)
class _Ctx:
    """The identities of one distinct envelope, which every handler may link to."""

    index: int
    project: str
    p: str
    r: str | None
    a: str
    x: str | None
    team: str | None


_Fn = Callable[["_Projector", _Ctx, Mapping[str, Any]], None]


class _Projector:
    """One ``project`` call's working memory: the triples so far and what was already
    minted and described. Every ``entity`` method returns an identity's IRI and adds
    the triples that describe it the first time its key is seen."""

    def __init__(self, iris: IdentityIris) -> None:
        self.iris = iris
        self.out: set[Triple] = set()
        self.add = self.out.add
        self._known: dict[tuple[object, ...], str] = {}

    def run(self, events: Sequence[LoggedEvent]) -> set[Triple]:
        envelopes: dict[tuple[object, ...], _Ctx] = {}
        handled: set[tuple[object, ...]] = set()
        for item in events:
            record = item.record
            subject, actor = record["subject"], record["actor"]
            try:
                key: tuple[object, ...] = (_SUBJECT_KEY(subject), _ACTOR_KEY(actor))
            except KeyError:  # a record built by hand, without its optional fields
                key = _envelope_key(subject, actor)
            ctx = envelopes.get(key)
            if ctx is None:
                ctx = envelopes[key] = self._envelope(subject, actor, len(envelopes))
            handler = _HANDLERS.get(item.event_type)
            if handler is None:
                continue
            if handler.inputs is not None:
                # a handler's triples depend on its envelope and these fields only
                seen = (item.event_type, ctx.index, handler.inputs_of(record))
                if seen in handled:
                    continue
                handled.add(seen)
            handler.handle(self, ctx, record)
        return self.out

    def _envelope(self, subject: Mapping[str, Any], actor: Mapping[str, Any], index: int) -> _Ctx:
        add = self.add
        project = str(subject["project"])
        p = self.project(project)
        repository = subject.get("repository")
        r = None
        if repository:
            r = self.repo(str(repository))
            add((r, _PROJECT, p))
        a = self.agent(actor)
        team = actor.get("team_type")
        team = str(team) if team is not None else None
        add((a, FO + "role", self.role(team, str(actor["role"]))))
        squad = None
        if team is not None:
            squad = self.squad(project, p, team, int(subject.get("generation", 0)))
            add((a, PROV + "actedOnBehalfOf", squad))
        x = None
        run_id = subject.get("run_id")
        if run_id:
            x = self.run_attempt(project, p, str(run_id), int(subject.get("attempt", 1)))
            if r is not None:
                add((x, _REPOSITORY, r))
            add((x, PROV + "wasAssociatedWith", a))
            if squad is not None:
                add((x, FO + "squadGeneration", squad))
        return _Ctx(index, project, p, r, a, x, team)

    # --- identities, described once per call ------------------------------------------------

    def _entity(self, key: tuple[object, ...]) -> str | None:
        return self._known.get(key)

    def _mint(self, key: tuple[object, ...], iri: str, cls: str, natural: str | None) -> str:
        self._known[key] = iri
        self.add((iri, _A, FO + cls))
        if natural is not None:
            self.add((iri, _KEY, Lit(natural)))
        return iri

    def project(self, name: str) -> str:
        key = ("project", name)
        return self._entity(key) or self._mint(key, self.iris.project(name), "Project", name)

    def repo(self, full_name: str) -> str:
        key = ("repo", full_name)
        iri = self._entity(key)
        if iri is None:
            iri = self._mint(key, self.iris.repository(full_name), "Repository", full_name)
        return iri

    def agent(self, actor: Mapping[str, Any]) -> str:
        kind, actor_id = str(actor.get("kind", "agent")), str(actor["id"])
        key = ("agent", kind, actor_id)
        iri = self._entity(key)
        if iri is None:
            iri = self.iris.agent(actor)
            self._known[key] = iri
            self.add((iri, _A, _ACTOR_CLASS.get(kind, FO + "SystemActor")))
            self.add((iri, _KEY, Lit(actor_id)))
        return iri

    def role(self, team: str | None, name: str) -> str:
        key = ("role", team, name)
        iri = self._entity(key)
        if iri is None:
            iri = self._mint(key, self.iris.role(team, name), "Role", name)
            if team is not None:
                self.add((iri, _TEAM_TYPE, FO + team))
        return iri

    def squad(self, project: str, p: str, team: str, generation: int) -> str:
        key = ("squad", project, team, generation)
        iri = self._entity(key)
        if iri is None:
            iri = self._mint(key, self.iris.squad(project, team, generation), "Squad", None)
            self.add((iri, _PROJECT, p))
            self.add((iri, _TEAM_TYPE, FO + team))
            self.add((iri, FO + "generation", Lit(str(generation), XSD_INTEGER)))
        return iri

    def run_attempt(self, project: str, p: str, run_id: str, attempt: int) -> str:
        key = ("run", project, run_id, attempt)
        x = self._entity(key)
        if x is None:
            x = self._mint(key, self.iris.run_attempt(project, run_id, attempt), "RunAttempt", None)
            run = self.iris.run(project, run_id)
            self.add((run, _KEY, Lit(run_id)))
            self.add((x, FO + "attempt", Lit(str(attempt), XSD_INTEGER)))
            self.add((x, FO + "attemptOf", run))
            self.add((x, _PROJECT, p))
        return x

    def github(self, kind: str, ref: str) -> str:
        """An issue or PR (``kind`` ``"issue"``/``"pr"``) by its ref ``owner/name#number``."""
        key = ("github", kind, ref)
        iri = self._entity(key)
        if iri is None:
            cls = "PullRequest" if kind == "pr" else "Issue"
            iri = self._mint(key, self.iris.github(kind, ref), cls, ref)
            match = REF.match(ref)
            if match is not None:
                self.add((iri, _REPOSITORY, self.repo(f"{match['owner']}/{match['name']}")))
        return iri

    def evidence(self, sha: str) -> str:
        key = ("evidence", sha)
        iri = self._entity(key)
        return iri or self._mint(key, self.iris.evidence(sha), "EvidenceArtifact", sha)

    def tool(self, server: str, name: str) -> str:
        key = ("tool", server, name)
        tool = self._entity(key)
        if tool is None:
            tool = self._mint(key, self.iris.iri("tool", server, name), "Tool", f"{server}/{name}")
            mcp = self._mint(("mcp", server), self.iris.iri("mcp", server), "McpServer", server)
            self.add((tool, FO + "server", mcp))
        return tool

    def generated(self, ctx: _Ctx, entity: str) -> None:
        # Attribution to the agent follows from the run's association; it is only
        # written when there is no run to go through.
        if ctx.x is not None:
            self.add((entity, PROV + "wasGeneratedBy", ctx.x))
        else:
            self.add((entity, PROV + "wasAttributedTo", ctx.a))


# --- what each event type adds beyond its envelope --------------------------------------------


def _run_started(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    parent = record.get("parent_run_id")
    if parent and ctx.x is not None:
        proj.add((ctx.x, FO + "parentRun", proj.iris.run(ctx.project, parent)))


def _handoff(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    source = proj.role(ctx.team, str(record["from_role"]))
    target = proj.role(ctx.team, str(record["to_role"]))
    # The run's side of a handoff is already there: the receiving agent's
    # association with the run once it acts.
    proj.add((source, FO + "handedOffTo", target))


def _tool(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    tool = proj.tool(str(record["mcp_server"]), str(record["tool"]))
    if ctx.x is not None:
        proj.add((ctx.x, _USED, tool))


def _lease(kind: str) -> _Fn:
    # The identity is the workspace or browser session a run used; a lease id is
    # ephemeral bookkeeping (DataHub and ClickHouse keep the leases).
    cls = {"workspace": "Workspace", "browser": "BrowserSession"}[kind]

    def handle(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
        resource = proj.iris.iri(kind, record[f"{kind}_id"])
        proj.add((resource, _A, FO + cls))
        if ctx.x is not None:
            proj.add((ctx.x, _USED, resource))

    return handle


def _issue(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    proj.generated(ctx, proj.github("issue", str(record["issue_ref"])))


def _pr_opened(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    ref = str(record["pr_ref"])
    pr = proj.github("pr", ref)
    proj.generated(ctx, pr)
    repository = ref.split("#", maxsplit=1)[0]
    closes = closes_issue_ref(record.get("attributes"), record.get("title"), repository)
    if closes:
        proj.add((pr, FO + "closes", proj.github("issue", closes)))


def _pr_reviewed(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    proj.add((proj.github("pr", str(record["pr_ref"])), FO + "reviewedBy", ctx.a))


def _pr_merged(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    ref = str(record["pr_ref"])
    pr = proj.github("pr", ref)
    match = REF.match(ref)
    if match is not None:
        # fo:mergedAs has range fo:Commit: the commit needs no triples of its own.
        commit = proj.iris.iri("commit", match["owner"], match["name"], str(record["merge_sha"]))
        proj.add((pr, FO + "mergedAs", commit))


def _pr_ref_only(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    del ctx  # a gap is about the PR alone
    proj.github("pr", str(record["pr_ref"]))


def _proposal(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> str:
    proposal_id = str(record["proposal_id"])
    iri = proj.iris.iri("proposal", ctx.project, record["proposal_id"])
    proj.add((iri, _A, FO + "Proposal"))
    proj.add((iri, _KEY, Lit(proposal_id)))
    return iri


def _proposal_submitted(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    proposal = _proposal(proj, ctx, record)
    proj.add((proposal, _PROJECT, ctx.p))
    proj.generated(ctx, proposal)


def _proposal_decided(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    proj.add((_proposal(proj, ctx, record), FO + "decidedBy", ctx.a))


def _evidence(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    e = proj.evidence(str(record["sha256"]))
    proj.add((e, FO + "evidenceKind", Lit(str(record["kind"]))))
    proves = str(record["proves"])
    if REF.match(proves):
        proj.github("pr", proves)
    proj.add((e, FO + "proves", proj.iris.claim(proves)))
    proj.generated(ctx, e)


def _proof_closed(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    del ctx  # closure links evidence to the claim, whoever closed it
    target = proj.iris.claim(str(record["proves"]))
    for sha in record.get("evidence") or ():
        proj.add((proj.evidence(str(sha)), FO + "closedProofOf", target))


def _knowledge(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    asset = proj.iris.iri("knowledge", ctx.project, record["asset_ref"])
    proj.add((asset, _A, FO + "KnowledgeAsset"))
    proj.add((asset, _KEY, Lit(str(record["asset_ref"]))))
    proj.add((asset, _PROJECT, ctx.p))
    proj.generated(ctx, asset)


_LINEAGE_CLASS = {"dataset": "Dataset", "feature": "Feature", "api": "Api", "route": "Route"}


def _lineage(proj: _Projector, ctx: _Ctx, record: Mapping[str, Any]) -> None:
    def asset(ref: Mapping[str, Any]) -> str:
        kind = str(ref["kind"])
        iri = proj.iris.iri(kind if kind in _LINEAGE_CLASS else "ref", ref["name"])
        proj.add((iri, _A, FO + _LINEAGE_CLASS.get(kind, "LineageAsset")))
        proj.add((iri, _KEY, Lit(str(ref["name"]))))
        return iri

    inputs = [asset(ref) for ref in record.get("inputs") or ()]
    outputs = [asset(ref) for ref in record.get("outputs") or ()]
    for used in inputs:
        if ctx.x is not None:
            proj.add((ctx.x, _USED, used))
    for made in outputs:
        if ctx.x is not None:
            proj.add((made, PROV + "wasGeneratedBy", ctx.x))
        for used in inputs:
            proj.add((made, PROV + "wasDerivedFrom", used))


@dataclass(frozen=True, slots=True)
class _Handler:
    """What an event type adds beyond its envelope, and the record fields (``inputs``)
    those triples depend on besides the envelope; None when they cannot be keyed."""

    inputs: tuple[str, ...] | None
    handle: _Fn

    def inputs_of(self, record: Mapping[str, Any]) -> tuple[object, ...]:
        assert self.inputs is not None
        try:
            return _getter(self.inputs)(record)
        except KeyError:  # a record built by hand, without its optional fields
            return tuple(record.get(f) for f in self.inputs)


@functools.cache
def _getter(fields: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[object, ...]]:
    get = itemgetter(*fields)
    return get if len(fields) > 1 else lambda record: (get(record),)


def _handler(fields: Iterable[str] | None, handle: _Fn) -> _Handler:
    return _Handler(None if fields is None else tuple(fields), handle)


_HANDLERS: Mapping[str, _Handler] = {
    "run.started": _handler(["parent_run_id"], _run_started),
    "agent.handoff": _handler(["from_role", "to_role"], _handoff),
    "tool.invoked": _handler(["mcp_server", "tool"], _tool),
    "workspace.leased": _handler(["workspace_id"], _lease("workspace")),
    "workspace.released": _handler(["workspace_id"], _lease("workspace")),
    "browser.leased": _handler(["browser_id"], _lease("browser")),
    "browser.released": _handler(["browser_id"], _lease("browser")),
    "issue.opened": _handler(["issue_ref"], _issue),
    "pr.opened": _handler(None, _pr_opened),  # attributes (a map) may name the issue
    "pr.reviewed": _handler(["pr_ref"], _pr_reviewed),
    "pr.merged": _handler(["pr_ref", "merge_sha"], _pr_merged),
    "proposal.submitted": _handler(["proposal_id"], _proposal_submitted),
    "proposal.decided": _handler(["proposal_id"], _proposal_decided),
    "evidence.recorded": _handler(["sha256", "kind", "proves"], _evidence),
    "proof.closed": _handler(None, _proof_closed),  # a list of evidence digests
    "knowledge.asset.updated": _handler(["asset_ref"], _knowledge),
    "lineage.declared": _handler(None, _lineage),  # lists of refs
    "proof.gap.detected": _handler(["pr_ref"], _pr_ref_only),
    "proof.gap.closed": _handler(["pr_ref"], _pr_ref_only),
}
"""Event type → its :class:`_Handler`. ``run.finished`` adds nothing."""
