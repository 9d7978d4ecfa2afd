"""What each event type adds to the identity graph beyond its envelope's identities.

A :class:`Handler` is a function of an event's envelope (:class:`Envelope`) and
of the record fields it names in ``inputs``: an event whose envelope and inputs
were already handled in the same call adds nothing new, and the projection skips
it. A handler whose triples depend on fields that cannot be keyed (maps, lists)
has ``inputs=None`` and always runs. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from schemas.refs import closes_issue_ref
from sinks.identity.identities import KEY, PROJECT, TYPE, USED, Envelope, Identities
from sinks.identity.vocabulary import FO, PROV, REF, Lit

__all__ = ["HANDLERS", "Handler"]

_Fn = Callable[[Identities, Envelope, Mapping[str, Any]], None]


def _run_started(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    parent = record.get("parent_run_id")
    if parent and ctx.x is not None:
        proj.add((ctx.x, FO + "parentRun", proj.iris.run(ctx.project, parent)))


def _handoff(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    source = proj.role(ctx.team, str(record["from_role"]))
    target = proj.role(ctx.team, str(record["to_role"]))
    # The run's side of a handoff is already there: the receiving agent's
    # association with the run once it acts.
    proj.add((source, FO + "handedOffTo", target))


def _tool(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    tool = proj.tool(str(record["mcp_server"]), str(record["tool"]))
    if ctx.x is not None:
        proj.add((ctx.x, USED, tool))


def _lease(kind: str) -> _Fn:
    # The identity is the workspace or browser session a run used; a lease id is
    # ephemeral bookkeeping (DataHub and ClickHouse keep the leases).
    cls = {"workspace": "Workspace", "browser": "BrowserSession"}[kind]

    def handle(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
        resource = proj.iris.iri(kind, record[f"{kind}_id"])
        proj.add((resource, TYPE, FO + cls))
        if ctx.x is not None:
            proj.add((ctx.x, USED, resource))

    return handle


def _issue(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    proj.generated(ctx, proj.github("issue", str(record["issue_ref"])))


def _pr_opened(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    ref = str(record["pr_ref"])
    pr = proj.github("pr", ref)
    proj.generated(ctx, pr)
    repository = ref.split("#", maxsplit=1)[0]
    closes = closes_issue_ref(record.get("attributes"), record.get("title"), repository)
    if closes:
        proj.add((pr, FO + "closes", proj.github("issue", closes)))


def _pr_reviewed(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    proj.add((proj.github("pr", str(record["pr_ref"])), FO + "reviewedBy", ctx.a))


def _pr_merged(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    ref = str(record["pr_ref"])
    pr = proj.github("pr", ref)
    match = REF.match(ref)
    if match is not None:
        # fo:mergedAs has range fo:Commit: the commit needs no triples of its own.
        commit = proj.iris.iri("commit", match["owner"], match["name"], str(record["merge_sha"]))
        proj.add((pr, FO + "mergedAs", commit))


def _pr_ref_only(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    del ctx  # a gap is about the PR alone
    proj.github("pr", str(record["pr_ref"]))


def _proposal(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> str:
    proposal_id = str(record["proposal_id"])
    iri = proj.iris.iri("proposal", ctx.project, record["proposal_id"])
    proj.add((iri, TYPE, FO + "Proposal"))
    proj.add((iri, KEY, Lit(proposal_id)))
    return iri


def _proposal_submitted(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    proposal = _proposal(proj, ctx, record)
    proj.add((proposal, PROJECT, ctx.p))
    proj.generated(ctx, proposal)


def _proposal_decided(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    proj.add((_proposal(proj, ctx, record), FO + "decidedBy", ctx.a))


def _evidence(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    e = proj.evidence(str(record["sha256"]))
    proj.add((e, FO + "evidenceKind", Lit(str(record["kind"]))))
    proves = str(record["proves"])
    if REF.match(proves):
        proj.github("pr", proves)
    proj.add((e, FO + "proves", proj.iris.claim(proves)))
    proj.generated(ctx, e)


def _proof_closed(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    del ctx  # closure links evidence to the claim, whoever closed it
    target = proj.iris.claim(str(record["proves"]))
    for sha in record.get("evidence") or ():
        proj.add((proj.evidence(str(sha)), FO + "closedProofOf", target))


def _knowledge(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    asset = proj.iris.iri("knowledge", ctx.project, record["asset_ref"])
    proj.add((asset, TYPE, FO + "KnowledgeAsset"))
    proj.add((asset, KEY, Lit(str(record["asset_ref"]))))
    proj.add((asset, PROJECT, ctx.p))
    proj.generated(ctx, asset)


_LINEAGE_CLASS = {"dataset": "Dataset", "feature": "Feature", "api": "Api", "route": "Route"}


def _lineage(proj: Identities, ctx: Envelope, record: Mapping[str, Any]) -> None:
    def asset(ref: Mapping[str, Any]) -> str:
        kind = str(ref["kind"])
        iri = proj.iris.iri(kind if kind in _LINEAGE_CLASS else "ref", ref["name"])
        proj.add((iri, TYPE, FO + _LINEAGE_CLASS.get(kind, "LineageAsset")))
        proj.add((iri, KEY, Lit(str(ref["name"]))))
        return iri

    inputs = [asset(ref) for ref in record.get("inputs") or ()]
    outputs = [asset(ref) for ref in record.get("outputs") or ()]
    for used in inputs:
        if ctx.x is not None:
            proj.add((ctx.x, USED, used))
    for made in outputs:
        if ctx.x is not None:
            proj.add((made, PROV + "wasGeneratedBy", ctx.x))
        for used in inputs:
            proj.add((made, PROV + "wasDerivedFrom", used))


@dataclass(frozen=True, slots=True)
class Handler:
    """What an event type adds beyond its envelope (``handle``), and the record fields
    (``inputs``) those triples depend on besides the envelope; None when they cannot
    be keyed."""

    inputs: tuple[str, ...] | None
    handle: _Fn
    _get: Callable[[Mapping[str, Any]], Any] | None = None

    def inputs_of(self, record: Mapping[str, Any]) -> object:
        """The values of ``inputs`` in ``record`` (hashable)."""
        assert self.inputs is not None and self._get is not None
        try:
            return self._get(record)
        except KeyError:  # a record built by hand, without its optional fields
            return tuple(record.get(f) for f in self.inputs)


def _handler(fields: Iterable[str] | None, handle: _Fn) -> Handler:
    if fields is None:
        return Handler(None, handle)
    inputs = tuple(fields)
    return Handler(inputs, handle, itemgetter(*inputs))  # C-level: this runs per event


HANDLERS: Mapping[str, Handler] = {
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
"""Event type → its :class:`Handler`. ``run.finished`` adds nothing: its outcome and
duration are telemetry."""
