"""``IdentityProjection``: the pure mapping from a batch of decoded events to RDF triples.

This is the Mapper half of the Semantics plane (the Recorder is
:class:`sinks.rdf.RdfSink`). It does no I/O, holds no state and imports no RDF
library: a triple is a plain tuple ``(subject IRI, predicate IRI, object)``
whose object is an IRI (``str``) or a :class:`Lit`. The vocabulary is the
FractalOps ontology shipped in ``schemas/ontology/fractalops.ttl`` (aligned with
W3C PROV-O): a run attempt is a ``prov:Activity``, an agent a ``prov:Agent``
acting on behalf of its squad generation, issues, pull requests, evidence and
lineage assets are ``prov:Entity``.

What it writes: **identities and relations only** (the seed's rule for the
Semantics plane: no bulk telemetry). Never durations, counts, sizes, retries,
per-event timestamps, digests of tool input/output, titles or free text; the
only literals are natural keys (``fo:key``), the attempt and generation numbers
that are part of an identity, the evidence kind and an evidence artifact's own
sha256 (its identity).

IRIs are deterministic functions of natural keys under a base IRI (default
``https://fractalops.io/id/``); every key segment is percent-encoded, so no key
can escape its segment or produce an invalid IRI::

    project/{project}                      repo/{owner}/{name}
    run/{project}/{run_id}/attempt/{n}     run/{project}/{run_id}
    agent/{actor.id}   person/{id}   system/{id}
    squad/{project}/{team_type}/{generation}        role/{team_type}/{role}
    pr/{owner}/{name}/{number}             issue/{owner}/{name}/{number}
    commit/{owner}/{name}/{sha}            evidence/{sha256}
    tool/{mcp_server}/{tool}               mcp/{mcp_server}
    workspace/{id}                         browser/{id}
    proposal/{project}/{id}                knowledge/{project}/{asset_ref}
    dataset|feature|api|route/{name}       ref/{anything else}

Because the output is a *set*, the same batch (or any redelivery of it) yields
the same triples, and the cost in the store is the number of **new**
identities, far below one triple per event once a run's agents and tools are
known (the sink skips triples the store already holds).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from schemas.refs import closes_issue_ref
from sinks.base import Batch

__all__ = [
    "DEFAULT_BASE_IRI",
    "FO",
    "PROV",
    "RDF_TYPE",
    "XSD",
    "IdentityProjection",
    "Lit",
    "Term",
    "Triple",
    "canonical_digest",
    "ntriples_line",
]

DEFAULT_BASE_IRI: Final = "https://fractalops.io/id/"
FO: Final = "https://fractalops.io/ns/fo#"
PROV: Final = "http://www.w3.org/ns/prov#"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

_XSD_STRING = XSD + "string"
_XSD_INTEGER = XSD + "integer"


@dataclass(frozen=True, slots=True, order=True)
class Lit:
    """An RDF literal: lexical value and datatype IRI (``xsd:string`` for plain text)."""

    value: str
    datatype: str = _XSD_STRING


Term = str | Lit
"""An RDF term: an IRI (``str``) or a literal. There are no blank nodes."""
Triple = tuple[str, str, Term]
"""``(subject IRI, predicate IRI, object)``."""

_REF = re.compile(r"^(?P<owner>[^/#\s]+)/(?P<name>[^/#\s]+)#(?P<number>[0-9]+)$")
_A = RDF_TYPE
_KEY = FO + "key"


def _seg(value: object) -> str:
    # safe="" encodes '/', so a key like 'a/b' can never add a path segment.
    return quote(str(value), safe="")


class IdentityProjection:
    """Maps events to identity triples (see the module docstring). Pure and stateless."""

    def __init__(self, base_iri: str = DEFAULT_BASE_IRI) -> None:
        if not re.match(r"^https?://[^\s<>\"{}|\\^`]+/$", base_iri):
            raise ValueError(f"base IRI must be an http(s) IRI ending in '/': {base_iri!r}")
        self.base_iri = base_iri

    def iri(self, *segments: object) -> str:
        """The IRI ``<base>/seg1/seg2/...`` with every segment percent-encoded. Pure."""
        return self.base_iri + "/".join(_seg(s) for s in segments)

    # --- identities of natural keys -----------------------------------------------------

    def project(self, name: str) -> str:
        return self.iri("project", name)

    def repository(self, full_name: str) -> str:
        owner, _, name = full_name.partition("/")
        return self.iri("repo", owner, name) if name else self.iri("repo", full_name)

    def run_attempt(self, project: str, run_id: str, attempt: int) -> str:
        return self.iri("run", project, run_id, "attempt", attempt)

    def agent(self, actor: Mapping[str, Any]) -> str:
        kind = str(actor.get("kind", "agent"))
        prefix = {"agent": "agent", "human": "person"}.get(kind, "system")
        return self.iri(prefix, actor["id"])

    def run(self, project: str, run_id: str, out: set[Triple]) -> str:
        """The run (all its attempts), keyed by its run id."""
        run = self.iri("run", project, run_id)
        out.add((run, _KEY, Lit(run_id)))
        return run

    def squad(self, project: str, team_type: str, generation: int) -> str:
        return self.iri("squad", project, team_type, generation)

    def role(self, team_type: str | None, role: str) -> str:
        return self.iri("role", team_type or "none", role)

    def github(self, kind: str, ref: str) -> str:
        """A PR (``kind="pr"``) or issue IRI for a ref ``owner/name#number``."""
        match = _REF.match(ref)
        if match is None:
            return self.iri("ref", ref)
        return self.iri(kind, match["owner"], match["name"], match["number"])

    def evidence(self, sha256: str) -> str:
        return self.iri("evidence", sha256)

    def claim(self, ref: str) -> str:
        """What a piece of evidence proves: a PR when ``ref`` is a PR ref, else a ref IRI."""
        return self.github("pr", ref)

    # --- the mapping ----------------------------------------------------------------------

    def project_batch(self, batch: Batch) -> set[Triple]:
        """Every identity triple of ``batch`` (deduplicated). Pure."""
        out: set[Triple] = set()
        for item in batch:
            self._event(item.event_type, item.record, out)
        return out

    def project_records(self, records: Iterable[tuple[str, Mapping[str, Any]]]) -> set[Triple]:
        """Like :meth:`project_batch` for ``(event_type, record)`` pairs. Pure."""
        out: set[Triple] = set()
        for event_type, record in records:
            self._event(event_type, record, out)
        return out

    def _event(self, event_type: str, record: Mapping[str, Any], out: set[Triple]) -> None:
        subject = record["subject"]
        actor = record["actor"]
        project = str(subject["project"])
        p = self.project(project)
        out.add((p, _A, FO + "Project"))
        out.add((p, _KEY, Lit(project)))
        repository = subject.get("repository")
        r = None
        if repository:
            r = self._repo(str(repository), out)
            out.add((r, FO + "project", p))

        a = self.agent(actor)
        kind = str(actor.get("kind", "agent"))
        a_class = {"agent": "Agent", "human": "Person"}.get(kind, "SystemActor")
        out.add((a, _A, FO + a_class))
        out.add((a, _KEY, Lit(str(actor["id"]))))
        team = actor.get("team_type")
        team = str(team) if team is not None else None
        role = self.role(team, str(actor["role"]))
        self._role(role, team, str(actor["role"]), out)
        out.add((a, FO + "role", role))
        squad = None
        if team is not None:
            generation = int(subject.get("generation", 0))
            squad = self.squad(project, team, generation)
            out.add((squad, _A, FO + "Squad"))
            out.add((squad, FO + "project", p))
            out.add((squad, FO + "teamType", FO + team))
            out.add((squad, FO + "generation", Lit(str(generation), _XSD_INTEGER)))
            out.add((a, PROV + "actedOnBehalfOf", squad))

        x = None
        run_id = subject.get("run_id")
        if run_id:
            attempt = int(subject.get("attempt", 1))
            x = self.run_attempt(project, str(run_id), attempt)
            out.add((x, _A, FO + "RunAttempt"))
            out.add((x, FO + "attempt", Lit(str(attempt), _XSD_INTEGER)))
            out.add((x, FO + "attemptOf", self.run(project, str(run_id), out)))
            out.add((x, FO + "project", p))
            if r is not None:
                out.add((x, FO + "repository", r))
            out.add((x, PROV + "wasAssociatedWith", a))
            if squad is not None:
                out.add((x, FO + "squadGeneration", squad))

        handler = _HANDLERS.get(event_type)
        if handler is not None:
            handler(self, _Ctx(record, project, p, r, a, x, team), out)

    def _repo(self, full_name: str, out: set[Triple]) -> str:
        r = self.repository(full_name)
        out.add((r, _A, FO + "Repository"))
        out.add((r, _KEY, Lit(full_name)))
        return r

    def _role(self, role: str, team: str | None, name: str, out: set[Triple]) -> None:
        out.add((role, _A, FO + "Role"))
        out.add((role, _KEY, Lit(name)))
        if team is not None:
            out.add((role, FO + "teamType", FO + team))

    def _github_entity(self, kind: str, ref: str, out: set[Triple]) -> str:
        cls = "PullRequest" if kind == "pr" else "Issue"
        g = self.github(kind, ref)
        out.add((g, _A, FO + cls))
        out.add((g, _KEY, Lit(ref)))
        match = _REF.match(ref)
        if match is not None:
            out.add((g, FO + "repository", self._repo(f"{match['owner']}/{match['name']}", out)))
        return g


@dataclass(frozen=True, slots=True)
class _Ctx:
    """The identities every event-specific handler may link to."""

    record: Mapping[str, Any]
    project: str
    p: str
    r: str | None
    a: str
    x: str | None
    team: str | None


def _generated(ctx: _Ctx, entity: str, out: set[Triple]) -> None:
    # Attribution to the agent follows from the run's association; it is only
    # written when there is no run to go through.
    if ctx.x is not None:
        out.add((entity, PROV + "wasGeneratedBy", ctx.x))
    else:
        out.add((entity, PROV + "wasAttributedTo", ctx.a))


def _run_started(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    parent = ctx.record.get("parent_run_id")
    if parent and ctx.x is not None:
        out.add((ctx.x, FO + "parentRun", proj.iri("run", ctx.project, parent)))


def _handoff(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    source = proj.role(ctx.team, str(ctx.record["from_role"]))
    target = proj.role(ctx.team, str(ctx.record["to_role"]))
    proj._role(source, ctx.team, str(ctx.record["from_role"]), out)
    proj._role(target, ctx.team, str(ctx.record["to_role"]), out)
    # The run's side of a handoff is already there: the receiving agent's
    # association with the run once it acts.
    out.add((source, FO + "handedOffTo", target))


def _tool(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    server, name = str(ctx.record["mcp_server"]), str(ctx.record["tool"])
    tool, mcp = proj.iri("tool", server, name), proj.iri("mcp", server)
    out.add((tool, _A, FO + "Tool"))
    out.add((tool, _KEY, Lit(f"{server}/{name}")))
    out.add((tool, FO + "server", mcp))
    out.add((mcp, _A, FO + "McpServer"))
    out.add((mcp, _KEY, Lit(server)))
    if ctx.x is not None:
        out.add((ctx.x, PROV + "used", tool))


def _lease(kind: str) -> Any:
    # The identity is the workspace or browser session a run used; a lease id is
    # ephemeral bookkeeping (DataHub and ClickHouse keep the leases).
    cls = {"workspace": "Workspace", "browser": "BrowserSession"}[kind]

    def handle(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
        resource = proj.iri(kind, ctx.record[f"{kind}_id"])
        out.add((resource, _A, FO + cls))
        if ctx.x is not None:
            out.add((ctx.x, PROV + "used", resource))

    return handle


def _issue(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    _generated(ctx, proj._github_entity("issue", str(ctx.record["issue_ref"]), out), out)


def _pr_opened(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    pr = proj._github_entity("pr", str(ctx.record["pr_ref"]), out)
    _generated(ctx, pr, out)
    closes = closes_issue_ref(
        ctx.record.get("attributes"),
        ctx.record.get("title"),
        str(ctx.record["pr_ref"]).split("#")[0],
    )
    if closes:
        out.add((pr, FO + "closes", proj._github_entity("issue", closes, out)))


def _pr_reviewed(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    pr = proj._github_entity("pr", str(ctx.record["pr_ref"]), out)
    out.add((pr, FO + "reviewedBy", ctx.a))


def _pr_merged(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    ref = str(ctx.record["pr_ref"])
    pr = proj._github_entity("pr", ref, out)
    match = _REF.match(ref)
    if match is not None:
        sha = str(ctx.record["merge_sha"])
        # fo:mergedAs has range fo:Commit: the commit needs no triples of its own.
        out.add((pr, FO + "mergedAs", proj.iri("commit", match["owner"], match["name"], sha)))


def _pr_ref_only(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    proj._github_entity("pr", str(ctx.record["pr_ref"]), out)


def _proposal_submitted(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    proposal = proj.iri("proposal", ctx.project, ctx.record["proposal_id"])
    out.add((proposal, _A, FO + "Proposal"))
    out.add((proposal, _KEY, Lit(str(ctx.record["proposal_id"]))))
    out.add((proposal, FO + "project", ctx.p))
    _generated(ctx, proposal, out)


def _proposal_decided(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    proposal = proj.iri("proposal", ctx.project, ctx.record["proposal_id"])
    out.add((proposal, _A, FO + "Proposal"))
    out.add((proposal, _KEY, Lit(str(ctx.record["proposal_id"]))))
    out.add((proposal, FO + "decidedBy", ctx.a))


def _evidence_identity(proj: IdentityProjection, sha: str, out: set[Triple]) -> str:
    e = proj.evidence(sha)
    out.add((e, _A, FO + "EvidenceArtifact"))
    out.add((e, _KEY, Lit(sha)))
    return e


def _evidence(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    e = _evidence_identity(proj, str(ctx.record["sha256"]), out)
    out.add((e, FO + "evidenceKind", Lit(str(ctx.record["kind"]))))
    proves = str(ctx.record["proves"])
    target = proj.claim(proves)
    if _REF.match(proves):
        proj._github_entity("pr", proves, out)
    out.add((e, FO + "proves", target))
    _generated(ctx, e, out)


def _proof_closed(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    target = proj.claim(str(ctx.record["proves"]))
    for sha in ctx.record.get("evidence") or ():
        out.add((_evidence_identity(proj, str(sha), out), FO + "closedProofOf", target))


def _knowledge(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    asset = proj.iri("knowledge", ctx.project, ctx.record["asset_ref"])
    out.add((asset, _A, FO + "KnowledgeAsset"))
    out.add((asset, _KEY, Lit(str(ctx.record["asset_ref"]))))
    out.add((asset, FO + "project", ctx.p))
    _generated(ctx, asset, out)


_LINEAGE_CLASS = {"dataset": "Dataset", "feature": "Feature", "api": "Api", "route": "Route"}


def _lineage(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    def asset(ref: Mapping[str, Any]) -> str:
        kind = str(ref["kind"])
        iri = proj.iri(kind if kind in _LINEAGE_CLASS else "ref", ref["name"])
        out.add((iri, _A, FO + _LINEAGE_CLASS.get(kind, "LineageAsset")))
        out.add((iri, _KEY, Lit(str(ref["name"]))))
        return iri

    inputs = [asset(ref) for ref in ctx.record.get("inputs") or ()]
    outputs = [asset(ref) for ref in ctx.record.get("outputs") or ()]
    for used in inputs:
        if ctx.x is not None:
            out.add((ctx.x, PROV + "used", used))
    for made in outputs:
        if ctx.x is not None:
            out.add((made, PROV + "wasGeneratedBy", ctx.x))
        for used in inputs:
            out.add((made, PROV + "wasDerivedFrom", used))


def _gap(proj: IdentityProjection, ctx: _Ctx, out: set[Triple]) -> None:
    proj._github_entity("pr", str(ctx.record["pr_ref"]), out)


_HANDLERS: Mapping[str, Any] = {
    "run.started": _run_started,
    "agent.handoff": _handoff,
    "tool.invoked": _tool,
    "workspace.leased": _lease("workspace"),
    "workspace.released": _lease("workspace"),
    "browser.leased": _lease("browser"),
    "browser.released": _lease("browser"),
    "issue.opened": _issue,
    "pr.opened": _pr_opened,
    "pr.reviewed": _pr_reviewed,
    "pr.merged": _pr_merged,
    "proposal.submitted": _proposal_submitted,
    "proposal.decided": _proposal_decided,
    "evidence.recorded": _evidence,
    "proof.closed": _proof_closed,
    "knowledge.asset.updated": _knowledge,
    "lineage.declared": _lineage,
    "proof.gap.detected": _gap,
    "proof.gap.closed": _gap,
}
"""Event type → what it adds beyond the envelope's identities. ``run.finished``
adds nothing: its outcome and duration are telemetry (ClickHouse holds them)."""


# --- canonical form and digest -------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}
_ESCAPE_RE = re.compile(r'[\\"\n\r]')


def ntriples_line(triple: Triple) -> str:
    """One N-Triples line for ``triple`` (without the newline). Pure.

    Canonical: ``xsd:string`` literals are written without a datatype (RDF 1.1),
    so the same graph renders the same whatever store it was read from.
    """
    s, p, o = triple
    if isinstance(o, Lit):
        text = _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], o.value)
        obj = f'"{text}"' if o.datatype == _XSD_STRING else f'"{text}"^^<{o.datatype}>'
    else:
        obj = f"<{o}>"
    return f"<{s}> <{p}> {obj} ."


def canonical_digest(triples: Iterable[Triple]) -> str:
    """SHA-256 (hex) of the sorted, deduplicated N-Triples lines of ``triples``. Pure.

    Order-independent: a graph rebuilt by replay in any batch cut has the same
    digest as the live one exactly when both hold the same triples (there are no
    blank nodes to canonicalise).
    """
    digest = hashlib.sha256()
    for line in sorted({ntriples_line(t) for t in triples}):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
