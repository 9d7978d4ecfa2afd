"""``CatalogProjection``: a batch of decoded events → DataHub aspect proposals. Pure.

The pure half of the catalog plane (the store is :class:`sinks.catalog.store.DataHubStore`).
It returns :class:`~sinks.catalog.context.Proposal`s: an entity's URN (built by
DataHub's ``mce_builder``), an aspect's name and its recipe, which builds DataHub's own
``schema_classes`` aspect; ``proposal.mcp()`` is DataHub's
``MetadataChangeProposalWrapper`` (so it needs the ``pipeline`` extra). The store
builds each aspect when it writes it, so that no aspect outlives its write
(:mod:`sinks.catalog.aspects` says why). The mapping per event type is in
:mod:`sinks.catalog.handlers`, the seed entity → DataHub table in :data:`MAPPING`.

Contract of :meth:`CatalogProjection.project`:

- one proposal per ``(urn, aspect)``: the **last one in log order wins** (they are
  whole aspects, so that is the state after the batch); proposals are listed in the
  order their key first appears;
- most aspects of an event repeat (its project, repository, squad and agent; a
  tool's dataJob; a run's loadout entry): they are stated **once per distinct key**
  within a batch and reused, so the cost of a batch grows with its new entities,
  not with its events;
- no I/O, no state between calls, the batch is not mutated; a proposal's recipe
  holds plain values only, so building it later gives what building it now would.

DataHub is a catalog, not a proof authority: :attr:`reads` leaves out proof closure
and proof gaps, so they never reach it; nor a mutation gate (nothing reads it to
allow a write).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from schemas.catalog import SchemaCatalog
from sinks.base import Batch, Input
from sinks.catalog.context import Context, Proposal
from sinks.catalog.handlers import ENVELOPE_ONLY, HANDLERS, envelope
from sinks.catalog.platform import platform_proposals
from sinks.catalog.urns import DEFAULT_ENV, Urns

__all__ = ["MAPPING", "READS", "CatalogProjection", "CatalogWrites"]

CatalogWrites = Sequence[Proposal]
"""What the projection returns and the store writes: one proposal per ``(urn, aspect)``."""

READS: Final = frozenset(HANDLERS) | ENVELOPE_ONLY
"""The event types the catalog maps: those with a handler and those it reads for their
envelope alone. Proof closure and proof gaps are not among them."""

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
"""Seed DataHub projection list → how this projection represents it (README table)."""

_Key = tuple[str, str]
_Pairs = list[tuple[_Key, Proposal]]


def _pairs(proposals: Iterable[Proposal]) -> _Pairs:
    return [((p.urn, p.aspect_name), p) for p in proposals]


class _BatchState:
    """The proposals of one batch so far and what was stated once for it (one per
    call)."""

    __slots__ = ("envelopes", "latest", "memo", "urns", "values")

    def __init__(self, urns: Urns) -> None:
        self.urns = urns
        self.latest: dict[_Key, Proposal] = {}
        self.memo: dict[object, _Pairs] = {}
        self.envelopes: dict[tuple[Any, ...], tuple[str, str, str, _Pairs]] = {}
        self.values: dict[object, str] = {}

    def emit(self, proposal: Proposal) -> None:
        self.latest[(proposal.urn, proposal.aspect_name)] = proposal

    def repeat(self, key: object, build: Callable[[], list[Proposal]]) -> None:
        pairs = self.memo.get(key)
        if pairs is None:
            pairs = self.memo[key] = _pairs(build())
        self.latest.update(pairs)

    def cached(self, key: object, compute: Callable[[], str]) -> str:
        value = self.values.get(key)
        if value is None:
            value = self.values[key] = compute()
        return value

    def event(self, event_type: str, record: Mapping[str, Any]) -> None:
        subject, actor = record["subject"], record["actor"]
        project = str(subject["project"])
        repository = subject.get("repository")
        generation = int(subject.get("generation", 0))
        key = (
            project,
            repository,
            generation,
            actor["id"],
            actor.get("kind"),
            actor.get("role"),
            actor.get("team_type"),
        )
        known = self.envelopes.get(key)
        if known is None:
            p, home, flow, proposals = envelope(
                self.urns, project, str(repository) if repository else None, actor, generation
            )
            known = self.envelopes[key] = (p, home, flow, _pairs(proposals))
        p, home, flow, pairs = known
        self.latest.update(pairs)
        handler = HANDLERS.get(event_type)
        if handler is None:
            return
        run = None
        run_id = subject.get("run_id")
        if run_id:
            attempt = int(subject.get("attempt", 1))
            run = self.cached(
                ("run", project, run_id, attempt),
                lambda: self.urns.run(project, str(run_id), attempt),
            )
        handler(
            Context(
                record,
                urns=self.urns,
                project=project,
                p=p,
                home=home,
                flow=flow,
                run=run,
                emit=self.emit,
                repeat=self.repeat,
                cached=self.cached,
            )
        )


class CatalogProjection:
    """Maps decoded events to DataHub aspect proposals (module docstring). Pure."""

    name: Final = "catalog"
    version: Final = 2
    """2: proof closure and proof gaps are no longer read (their envelopes were)."""
    input: Final = Input.EVENTS

    def __init__(self, env: str = DEFAULT_ENV) -> None:
        self.urns = Urns(env)

    @property
    def reads(self) -> frozenset[str]:
        return READS

    def project(self, batch: Batch) -> list[Proposal]:
        """The proposals of ``batch`` (see the module docstring for the contract)."""
        return self.project_records((e.event_type, e.record) for e in batch.events)

    def project_records(self, records: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Proposal]:
        """Like :meth:`project` for ``(event_type, record)`` pairs in log order; types
        the projection does not read are skipped. Pure."""
        state = _BatchState(self.urns)
        for event_type, record in records:
            if event_type in READS:
                state.event(event_type, record)
        return list(state.latest.values())

    def platform(
        self,
        topics: Sequence[str],
        catalog: SchemaCatalog,
        processors: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Proposal]:
        """The platform's own entities (:func:`sinks.catalog.platform.platform_proposals`)."""
        return platform_proposals(self.urns, topics, catalog, processors)
