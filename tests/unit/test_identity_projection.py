"""``IdentityProjection`` is pure: IRIs from natural keys, identities only, and a
canonical digest that ignores order. Its per-batch memo is invisible: a batch
yields the union of its events' triples. The ontology it speaks parses."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from collections.abc import Sequence
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import (
    EVENT_TYPES,
    Event,
    KnowledgeAssetUpdated,
    LineageDeclared,
    LineageRef,
    LineageRefKind,
    ProofClosed,
)
from sinks.base import Batch, Input, LoggedEvent, Projection
from sinks.identity.projection import IdentityProjection
from sinks.identity.vocabulary import (
    FO,
    PROV,
    RDF_TYPE,
    IdentityIris,
    Lit,
    Triple,
    canonical_digest,
    ntriples_line,
)
from tests import factories
from tests.event_strategies import build_event, event_data
from tests.workload_batch import logged, workload, workload_batch

PROJECTION = IdentityProjection()
IRIS = IdentityIris()


def project_events(events: Sequence[LoggedEvent]) -> frozenset[Triple]:
    return PROJECTION.project(Batch(events=events))


_TELEMETRY = re.compile(
    r"duration|count|size|bytes|retries|latency|_ms|seconds|ttl|occurred|time", re.I
)


def test_iris_are_deterministic_and_percent_encoded() -> None:
    base = "https://fractalops.io/id/"
    assert IRIS.project("fractalops") == base + "project/fractalops"
    assert IRIS.repository("acme/storefront") == base + "repo/acme/storefront"
    assert IRIS.run_attempt("p", "run-1", 2) == base + "run/p/run-1/attempt/2"
    assert IRIS.agent({"kind": "agent", "id": "tester-1"}) == base + "agent/tester-1"
    assert IRIS.agent({"kind": "human", "id": "ana"}) == base + "person/ana"
    assert IRIS.github("pr", "acme/storefront#12") == base + "pr/acme/storefront/12"
    assert IRIS.evidence("ab" * 32) == base + "evidence/" + "ab" * 32
    # A key can never add a segment or break the IRI.
    assert IRIS.run_attempt("a/b", "x y<>", 1) == base + "run/a%2Fb/x%20y%3C%3E/attempt/1"
    assert IRIS.github("pr", "not a ref") == base + "ref/not%20a%20ref"
    other = IdentityIris("https://example.org/kg/")
    assert other.project("p") == "https://example.org/kg/project/p"
    for bad in ("https://example.org/kg", "ftp://x/", "https://ex ample/"):
        with pytest.raises(ValueError):
            IdentityProjection(bad)


def test_is_a_pure_projection_of_every_event_type() -> None:
    assert isinstance(PROJECTION, Projection)
    assert (PROJECTION.name, PROJECTION.input) == ("identity", Input.EVENTS)
    # every envelope carries identities (project, actor, role, run), so every type is read
    assert frozenset(EVENT_TYPES) == PROJECTION.reads
    events = workload_batch()
    batch = Batch(upto={("events", 0): len(events) - 1}, events=events)
    before = [dict(e.record) for e in events]
    writes = PROJECTION.project(batch)
    assert isinstance(writes, frozenset)
    assert writes == PROJECTION.project(batch)  # no state carried from one call to the next
    assert [dict(e.record) for e in events] == before  # the batch is not mutated
    assert PROJECTION.project(Batch()) == frozenset()


def _variants(a: Event, b: Event) -> list[Event]:
    """``a``, and ``a`` with one field (or one field of its subject or actor) taken from
    ``b``: if the memo keyed an event on too few fields, a variant would be skipped."""
    out = [a]
    for name in type(a).model_fields:
        if name in ("subject", "actor"):
            part = getattr(a, name)
            out += [
                a.model_copy(
                    update={name: part.model_copy(update={f: getattr(getattr(b, name), f)})}
                )
                for f in type(part).model_fields
            ]
        elif name != "event_id":
            out.append(a.model_copy(update={name: getattr(b, name)}))
    return out


def _any_event(event_type: str) -> st.SearchStrategy[Event]:
    return event_data(event_type).map(functools.partial(build_event, event_type))


_PAIRS = st.sampled_from(sorted(EVENT_TYPES)).flatmap(
    lambda t: st.tuples(_any_event(t), _any_event(t))
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PAIRS, min_size=1, max_size=4))
def test_a_batch_yields_the_union_of_its_events_triples(pairs: list[tuple[Event, Event]]) -> None:
    events = [v for a, b in pairs for v in _variants(a, b)]
    batch = logged(events + events)
    singles = frozenset().union(*(project_events([event]) for event in batch))
    assert project_events(batch) == singles


def test_same_batch_same_triples_whatever_the_cut() -> None:
    batch = workload_batch()
    whole = project_events(batch)
    halves = project_events(batch[:90]) | project_events(batch[90:])
    assert whole == halves == project_events(list(reversed(batch)) + batch[:10])
    one_by_one = frozenset().union(*(project_events([event]) for event in batch))
    assert whole == one_by_one  # the per-batch memo changes nothing
    assert canonical_digest(whole) == canonical_digest(sorted(whole, reverse=True))
    assert canonical_digest(whole) != canonical_digest(list(whole)[1:])


def test_identities_only_no_telemetry() -> None:
    triples = project_events(workload_batch()) | project_events(_extra_events())
    for _s, p, o in triples:
        assert not _TELEMETRY.search(p.rsplit("#", 1)[-1]), p
        if isinstance(o, Lit):
            assert "dateTime" not in o.datatype and "duration" not in o.datatype
    digests = {e.record.get("input_digest") for e in workload_batch()} - {None}
    objects = {o.value for _, _, o in triples if isinstance(o, Lit)}
    assert not digests & objects  # tool I/O digests are telemetry, never identity


def test_far_fewer_triples_than_a_per_event_log() -> None:
    batch = workload_batch()
    triples = project_events(batch)
    # Every event would need ~15 triples to be kept as a record; identities need < 3.
    assert len(triples) / len(batch) < 3


def test_run_agents_tools_and_deliveries() -> None:
    triples = project_events(workload_batch())
    run = IRIS.run_attempt("fractalops", "run-0000", 1)
    assert (run, RDF_TYPE, FO + "RunAttempt") in triples
    agents = {o for s, p, o in triples if s == run and p == PROV + "wasAssociatedWith"}
    assert {
        IRIS.agent({"kind": "agent", "id": f"{r}-0"}) for r in ("planner", "committer")
    } <= agents
    pr = IRIS.github("pr", "fractalops/portal#200")
    assert (pr, PROV + "wasGeneratedBy", run) in triples
    assert (pr, FO + "closes", IRIS.github("issue", "fractalops/portal#100")) in triples
    assert (run, PROV + "used", IRIS.iri("tool", "github", "create_branch")) in triples or any(
        s == run and p == PROV + "used" and "/tool/" in str(o) for s, p, o in triples
    )


def _extra_events() -> list[LoggedEvent]:
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
    triples = project_events(_extra_events())
    run = IRIS.run_attempt("fractalops", "run-x", 1)
    orders, route = IRIS.iri("dataset", "warehouse.orders"), IRIS.iri("route", "/orders/{id}")
    assert (run, PROV + "used", orders) in triples
    assert (route, PROV + "wasGeneratedBy", run) in triples
    assert (route, PROV + "wasDerivedFrom", orders) in triples
    assert (route, RDF_TYPE, FO + "Route") in triples
    asset = IRIS.iri("knowledge", "fractalops", "wiki/Onboarding")
    assert (asset, RDF_TYPE, FO + "KnowledgeAsset") in triples
    evidence = IRIS.evidence("d" * 64)
    assert (
        evidence,
        FO + "closedProofOf",
        IRIS.github("pr", "fractalops/proofstream#7"),
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
    for _s, p, o in project_events(workload_batch()) | project_events(_extra_events()):
        if p.startswith(FO):
            used.add(p)
        if p == RDF_TYPE and isinstance(o, str):
            used.add(o)
        if p == FO + "teamType" and isinstance(o, str):
            used.add(o)
    assert {u for u in used if u.startswith(FO)} <= declared
    assert workload().merged_prs  # the workload exercised deliveries


def test_the_plane_package_imports_no_rdf_library() -> None:
    # proofstream.settings imports RdfSettings from it on the producer side too
    code = (
        "import sys, sinks.identity, sinks.identity.projection; "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(loaded & {'rdflib', 'oxrdflib', 'pyoxigraph'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
