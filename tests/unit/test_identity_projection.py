"""``IdentityProjection`` is pure: IRIs from natural keys, identities only, and a
canonical digest that ignores order. The ontology it speaks parses."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from schemas.events import (
    KnowledgeAssetUpdated,
    LineageDeclared,
    LineageRef,
    LineageRefKind,
    ProofClosed,
)
from sinks.identity import (
    FO,
    PROV,
    RDF_TYPE,
    IdentityProjection,
    Lit,
    canonical_digest,
    ntriples_line,
)
from tests import factories
from tests.workload_batch import logged, workload, workload_batch

PROJ = IdentityProjection()
_TELEMETRY = re.compile(
    r"duration|count|size|bytes|retries|latency|_ms|seconds|ttl|occurred|time", re.I
)


def test_iris_are_deterministic_and_percent_encoded() -> None:
    base = "https://fractalops.io/id/"
    assert PROJ.project("fractalops") == base + "project/fractalops"
    assert PROJ.repository("acme/storefront") == base + "repo/acme/storefront"
    assert PROJ.run_attempt("p", "run-1", 2) == base + "run/p/run-1/attempt/2"
    assert PROJ.agent({"kind": "agent", "id": "tester-1"}) == base + "agent/tester-1"
    assert PROJ.agent({"kind": "human", "id": "ana"}) == base + "person/ana"
    assert PROJ.github("pr", "acme/storefront#12") == base + "pr/acme/storefront/12"
    assert PROJ.evidence("ab" * 32) == base + "evidence/" + "ab" * 32
    # A key can never add a segment or break the IRI.
    assert PROJ.run_attempt("a/b", "x y<>", 1) == base + "run/a%2Fb/x%20y%3C%3E/attempt/1"
    assert PROJ.github("pr", "not a ref") == base + "ref/not%20a%20ref"
    other = IdentityProjection("https://example.org/kg/")
    assert other.project("p") == "https://example.org/kg/project/p"
    for bad in ("https://example.org/kg", "ftp://x/", "https://ex ample/"):
        with pytest.raises(ValueError):
            IdentityProjection(bad)


def test_same_batch_same_triples_whatever_the_cut() -> None:
    batch = workload_batch()
    whole = PROJ.project_batch(batch)
    halves = PROJ.project_batch(batch[:90]) | PROJ.project_batch(batch[90:])
    assert whole == halves == PROJ.project_batch(list(reversed(batch)) + batch[:10])
    assert canonical_digest(whole) == canonical_digest(sorted(whole, reverse=True))
    assert canonical_digest(whole) != canonical_digest(list(whole)[1:])


def test_identities_only_no_telemetry() -> None:
    triples = PROJ.project_batch(workload_batch()) | PROJ.project_batch(_extra_events())
    for _s, p, o in triples:
        assert not _TELEMETRY.search(p.rsplit("#", 1)[-1]), p
        if isinstance(o, Lit):
            assert "dateTime" not in o.datatype and "duration" not in o.datatype
    digests = {e.record.get("input_digest") for e in workload_batch()} - {None}
    objects = {o.value for _, _, o in triples if isinstance(o, Lit)}
    assert not digests & objects  # tool I/O digests are telemetry, never identity


def test_far_fewer_triples_than_a_per_event_log() -> None:
    batch = workload_batch()
    triples = PROJ.project_batch(batch)
    # Every event would need ~15 triples to be kept as a record; identities need < 3.
    assert len(triples) / len(batch) < 3


def test_run_agents_tools_and_deliveries() -> None:
    triples = PROJ.project_batch(workload_batch())
    run = PROJ.run_attempt("fractalops", "run-0000", 1)
    assert (run, RDF_TYPE, FO + "RunAttempt") in triples
    agents = {o for s, p, o in triples if s == run and p == PROV + "wasAssociatedWith"}
    assert {
        PROJ.agent({"kind": "agent", "id": f"{r}-0"}) for r in ("planner", "committer")
    } <= agents
    pr = PROJ.github("pr", "fractalops/portal#200")
    assert (pr, PROV + "wasGeneratedBy", run) in triples
    assert (pr, FO + "closes", PROJ.github("issue", "fractalops/portal#100")) in triples
    assert (run, PROV + "used", PROJ.iri("tool", "github", "create_branch")) in triples or any(
        s == run and p == PROV + "used" and "/tool/" in str(o) for s, p, o in triples
    )


def _extra_events() -> list:
    subject = factories.subject(run_id="run-x")
    common = {"producer": factories.producer(), "actor": factories.agent(), "subject": subject}
    events = [
        LineageDeclared(
            **common,
            inputs=[LineageRef(kind=LineageRefKind.DATASET, name="warehouse.orders")],
            outputs=[LineageRef(kind=LineageRefKind.ROUTE, name="/orders/{id}")],
        ),
        KnowledgeAssetUpdated(**common, asset_ref="wiki/Onboarding", digest="c" * 64, stale=True),
        ProofClosed(**common, proves="fractalops/proofstream#7", evidence=["d" * 64]),
    ]
    return logged(events)


def test_lineage_knowledge_and_proof_closure() -> None:
    triples = PROJ.project_batch(_extra_events())
    run = PROJ.run_attempt("fractalops", "run-x", 1)
    orders, route = PROJ.iri("dataset", "warehouse.orders"), PROJ.iri("route", "/orders/{id}")
    assert (run, PROV + "used", orders) in triples
    assert (route, PROV + "wasGeneratedBy", run) in triples
    assert (route, PROV + "wasDerivedFrom", orders) in triples
    assert (route, RDF_TYPE, FO + "Route") in triples
    asset = PROJ.iri("knowledge", "fractalops", "wiki/Onboarding")
    assert (asset, RDF_TYPE, FO + "KnowledgeAsset") in triples
    evidence = PROJ.evidence("d" * 64)
    assert (
        evidence,
        FO + "closedProofOf",
        PROJ.github("pr", "fractalops/proofstream#7"),
    ) in triples


def test_ntriples_escaping() -> None:
    line = ntriples_line(("https://x/s", "https://x/p", Lit('a "b"\n\\c')))
    assert line == '<https://x/s> <https://x/p> "a \\"b\\"\\n\\\\c" .'
    typed = ntriples_line(
        ("https://x/s", "https://x/p", Lit("2", "http://www.w3.org/2001/XMLSchema#integer"))
    )
    assert typed.endswith('"2"^^<http://www.w3.org/2001/XMLSchema#integer> .')


def test_ontology_parses_and_declares_every_term_used() -> None:
    rdflib = pytest.importorskip("rdflib")
    text = resources.files("schemas").joinpath("ontology/fractalops.ttl").read_text("utf-8")
    onto = rdflib.Graph().parse(data=text, format="turtle")
    declared = {str(s) for s in onto.subjects() if str(s).startswith(FO)}
    prov_o = rdflib.Namespace(PROV)
    assert (rdflib.URIRef(FO + "RunAttempt"), rdflib.RDFS.subClassOf, prov_o.Activity) in onto
    assert (rdflib.URIRef(FO + "Agent"), rdflib.RDFS.subClassOf, prov_o.SoftwareAgent) in onto
    used = set()
    for _s, p, o in PROJ.project_batch(workload_batch()) | PROJ.project_batch(_extra_events()):
        if p.startswith(FO):
            used.add(p)
        if p == RDF_TYPE and isinstance(o, str):
            used.add(o)
        if p == FO + "teamType" and isinstance(o, str):
            used.add(o)
    assert {u for u in used if u.startswith(FO)} <= declared
    assert workload().merged_prs  # the workload exercised deliveries
