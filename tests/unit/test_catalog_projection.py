"""``CatalogProjection`` is pure: deterministic URNs, one MCP per ``(urn, aspect)`` with
the last in log order winning, repeated aspects built once per batch, and no proof
events read."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("datahub")

from datahub.emitter.serialization_helper import pre_json_transform

from schemas.envelope import Actor, ActorKind, TeamType
from schemas.events import (
    Event,
    KnowledgeAssetUpdated,
    LineageDeclared,
    LineageRef,
    LineageRefKind,
    ProofClosed,
    RunStarted,
)
from sinks.base import Batch, Input
from sinks.catalog import projection as projection_module
from sinks.catalog.context import Proposal
from sinks.catalog.handlers import envelope
from sinks.catalog.projection import READS, CatalogProjection
from tests import factories
from tests.contract.store_contract import batch_for, records_of
from tests.workload_batch import workload


def knowledge_and_lineage() -> list[Event]:
    """The seed entities the simulated workload has none of."""
    common: dict[str, Any] = {
        "producer": factories.producer(),
        "actor": factories.agent(),
        "subject": factories.subject(run_id="run-x"),
    }
    return [
        KnowledgeAssetUpdated(**common, asset_ref="wiki/Onboarding", digest="c" * 64, stale=True),
        LineageDeclared(
            **common,
            inputs=[LineageRef(kind=LineageRefKind.DATASET, name="warehouse.orders")],
            outputs=[
                LineageRef(kind=LineageRefKind.API, name="GET /orders"),
                LineageRef(kind=LineageRefKind.FEATURE, name="orders.late_ratio"),
            ],
        ),
    ]


def batch_of(events: list[Event]) -> Batch:
    return batch_for(CatalogProjection(), records_of(events))


def test_is_the_catalog_projection() -> None:
    projection = CatalogProjection()
    assert projection.name == "catalog"
    assert projection.input is Input.EVENTS
    assert projection.reads == READS
    assert "run.started" in READS and "agent.handoff" in READS


def test_urns_are_deterministic_and_stable() -> None:
    urns = CatalogProjection().urns
    assert urns.github("pull", "acme/storefront#12") == (
        "urn:li:dataset:(urn:li:dataPlatform:github,acme/storefront/pull/12,PROD)"
    )
    assert urns.evidence("ab" * 32) == (
        f"urn:li:dataset:(urn:li:dataPlatform:chronicle,{'ab' * 32},PROD)"
    )
    assert (
        urns.knowledge("a,b (c)")
        == "urn:li:dataset:(urn:li:dataPlatform:wiki,a%2Cb%20%28c%29,PROD)"
    )
    assert urns.run("p", "run-1", 1) == urns.run("p", "run-1", 1) != urns.run("p", "run-1", 2)
    # the keys the catalog held before the plane redesign: a store written then is
    # extended, never duplicated under new URNs
    proposals = CatalogProjection().project(batch_of(list(workload().events)))
    keys = sorted(f"{p.urn} {p.aspect_name}" for p in proposals)
    assert len(keys) == 469
    assert hashlib.sha256("\n".join(keys).encode()).hexdigest() == (
        "25f9fd678d38a9b7972e602f358fdae143b92a5197f0140b33c7c382488a0ccb"
    )


def test_the_aspects_are_what_the_catalog_always_wrote() -> None:
    # DataHub's own JSON of every aspect of the workload, as the projection stated it
    # when it built DataHub objects itself (before recipes): a refactoring of the
    # handlers must not change a byte of what the catalog holds
    proposals = CatalogProjection().project(batch_of(list(workload().events)))
    lines = []
    for proposal in proposals:
        mcp = proposal.mcp()
        text = json.dumps(pre_json_transform(mcp.aspect.to_obj()))  # type: ignore[union-attr]
        lines.append(f"{mcp.entityUrn} {mcp.aspectName} {text}")
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == (
        "bf467ce81cfa6c2a4ae136c1b240cf979904e41358493c25a07a1b9be45e0c17"
    )


def test_each_build_is_a_new_object_sharing_nothing_mutable() -> None:
    proposals = CatalogProjection().project(batch_of(list(workload(2).events)))
    for proposal in proposals:
        first, second = proposal.mcp().aspect, proposal.mcp().aspect
        assert first == second and first is not second
        for name, value in first._inner_dict.items():  # type: ignore[union-attr]
            if isinstance(value, dict | list):
                assert value is not second._inner_dict[name], (proposal.aspect_name, name)  # type: ignore[union-attr]


def test_every_mcp_is_valid_and_one_per_aspect() -> None:
    proposals = CatalogProjection().project(
        batch_of([*workload().events, *knowledge_and_lineage()])
    )
    mcps = [p.mcp() for p in proposals]
    assert all(m.validate() for m in mcps)
    assert [(m.entityUrn, m.aspectName) for m in mcps] == [
        (p.urn, p.aspect_name) for p in proposals
    ]
    keys = [(m.entityUrn, m.aspectName) for m in mcps]
    assert len(keys) == len(set(keys))


def test_the_last_mcp_per_aspect_wins_in_log_order() -> None:
    def started(role: str, n: int) -> RunStarted:
        actor = Actor(kind=ActorKind.AGENT, id="agent-7", role=role, team_type=TeamType.AGENTSQUAD)
        return factories.run_started(f"run-{n}").model_copy(update={"actor": actor})

    def role_of(events: list[Event]) -> str:
        jobs = [
            p.mcp().aspect
            for p in CatalogProjection().project(batch_of(events))
            if p.aspect_name == "dataJobInfo" and p.urn.endswith(",agent-7)")
        ]
        assert len(jobs) == 1
        return str(jobs[0].customProperties["role"])  # type: ignore[union-attr]

    assert (
        role_of([started("planner", 1), started("tester", 2), started("planner", 3)]) == "planner"
    )
    assert role_of([started("planner", 1), started("planner", 2), started("tester", 3)]) == "tester"


def test_repeated_aspects_are_built_once_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    events = list(workload().events)
    calls: list[tuple[Any, ...]] = []
    real = envelope

    def counted(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(projection_module, "envelope", counted)
    CatalogProjection().project(batch_of(events))
    distinct = {
        (e.subject.project, e.subject.repository, e.subject.generation, e.actor) for e in events
    }
    assert len(calls) == len(distinct) < len(events) / 5


def test_proof_events_never_reach_the_catalog() -> None:
    proof = ProofClosed(
        producer=factories.producer(),
        actor=factories.agent("closer"),
        subject=factories.subject(),
        proves="fractalops/proofstream#12",
        evidence=["a" * 64],
    )
    assert not {"proof.closed", "proof.gap.detected", "proof.gap.closed"} & READS
    assert batch_of([proof]).events == []  # the decode step does not even decode it
    assert CatalogProjection().project_records([(proof.event_type, {})]) == []


def test_project_is_pure() -> None:
    batch = batch_of(list(workload(4).events))
    before = copy.deepcopy([dict(e.record) for e in batch.events])
    first = CatalogProjection().project(batch)
    second = CatalogProjection().project(batch)
    assert [dict(e.record) for e in batch.events] == before
    assert dump(first) == dump(second)


def dump(proposals: list[Proposal]) -> list[tuple[Any, ...]]:
    mcps = [p.mcp() for p in proposals]
    return [(m.entityUrn, m.aspectName, m.aspect.to_obj() if m.aspect else None) for m in mcps]


def test_the_package_is_light() -> None:
    # proofstream.settings imports DataHubSettings on every install, producer-only too
    code = "import sys, sinks.catalog; print(sorted(m for m in sys.modules if 'datahub' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_warehouse_tables_are_the_facts_planes() -> None:
    # the catalog reads the facts plane's DDL as data; if that DDL moves or becomes
    # generated, this says so (re-point sinks.catalog.borrowed)
    from sinks.catalog.borrowed import facts_tables, warehouse_tables
    from sinks.facts.views import TABLE_COLUMNS

    assert facts_tables() == tuple(TABLE_COLUMNS)
    tables = warehouse_tables()
    for table, columns in TABLE_COLUMNS.items():
        assert tuple(name for name, _ in tables[table]) == columns, table
