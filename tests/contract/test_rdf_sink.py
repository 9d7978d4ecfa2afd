"""``RdfSink`` on a real embedded Oxigraph store (oxrdflib): the shared sink contract,
SPARQL questions answered from the store, reopen by another process, DSN parsing.

The identity plane deliberately keeps no per-event record, so for the contract a
batch's "ids" are its identity triples (N-Triples lines): what the store must hold
after a write, exactly once, whatever the redelivery.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import LoggedEvent, Sink
from sinks.identity import IdentityProjection, canonical_digest, ntriples_line
from sinks.rdf import DEFAULT_GRAPH, RdfSettings, RdfSink, SparqlEndpoint, parse_sparql_dsn
from tests.contract.sink_contract import SinkContract, make_batch
from tests.workload_batch import workload, workload_batch

pytest.importorskip("oxrdflib")

PREFIXES = """
PREFIX fo: <https://fractalops.io/ns/fo#>
PREFIX prov: <http://www.w3.org/ns/prov#>
"""


def _open(tmp_path: Path) -> RdfSink:
    return RdfSink.open(RdfSettings(), tmp_path)


class TestRdfSinkContract(SinkContract):
    def make_sink(self, tmp_path: Path) -> Sink:
        return _open(tmp_path)

    def stored_ids(self, sink: Sink) -> set[str]:
        assert isinstance(sink, RdfSink)
        return {ntriples_line(t) for t in sink.triples()}

    def _ids(self, batch: Sequence[LoggedEvent]) -> set[str]:
        return {ntriples_line(t) for t in IdentityProjection().project_batch(batch)}

    def test_write_is_idempotent(self, sink: Sink) -> None:
        # The shared test also asserts one stored id per event; identities are fewer.
        batch = make_batch(20)
        sink.write(batch)
        sink.flush()
        before = self.stored_ids(sink)
        sink.write(batch)
        sink.write(batch[5:12])
        sink.flush()
        assert self.stored_ids(sink) == before == self._ids(batch)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RdfSink]:
    sink = _open(tmp_path_factory.mktemp("rdf"))
    batch = workload_batch()
    sink.write(batch)
    sink.write(batch[:50])  # a redelivery adds nothing
    sink.flush()
    yield sink
    sink.close()


def test_which_agents_acted_in_a_run(populated: RdfSink) -> None:
    rows = populated.query(
        PREFIXES
        + """
        SELECT DISTINCT ?agent ?role WHERE {
          ?run a fo:RunAttempt ; fo:attemptOf ?r ; prov:wasAssociatedWith ?agent .
          ?r fo:key "run-0000" .
          ?agent fo:role/fo:key ?role .
        } ORDER BY ?role"""
    )
    roles = [role for _, role in rows]
    assert roles == ["backend", "committer", "planner", "tester"]
    assert all(agent.startswith("https://fractalops.io/id/agent/") for agent, _ in rows)


def test_which_evidence_proves_a_pr(populated: RdfSink) -> None:
    merged = workload().merged_prs
    proven = set(merged) - set(workload().prs_without_browser_proof)
    for pr_ref in merged:
        rows = populated.query(
            PREFIXES
            + f"""
            SELECT ?evidence ?kind WHERE {{
              ?pr a fo:PullRequest ; fo:key "{pr_ref}" .
              ?evidence fo:proves ?pr ; fo:evidenceKind ?kind .
            }}"""
        )
        if pr_ref in proven:
            assert [kind for _, kind in rows] == ["browser_proof"], pr_ref
        else:
            assert rows == [], pr_ref


def test_provenance_chain_of_an_artifact(populated: RdfSink) -> None:
    (evidence,) = [
        e.record["sha256"]
        for e in workload_batch()
        if e.event_type == "evidence.recorded" and e.record["proves"] == "fractalops/portal#200"
    ]
    rows = populated.query(
        PREFIXES
        + f"""
        SELECT ?pr ?run ?agent WHERE {{
          ?e fo:key "{evidence}" ; fo:proves ?pr .
          ?pr prov:wasGeneratedBy ?run .
          ?run prov:wasAssociatedWith ?agent .
          ?agent fo:role/fo:key "committer" .
        }}"""
    )
    base = "https://fractalops.io/id/"
    assert rows == [
        (
            base + "pr/fractalops/portal/200",
            base + "run/fractalops/run-0000/attempt/1",
            base + "agent/committer-0",
        )
    ]


def test_store_holds_exactly_the_projection(populated: RdfSink) -> None:
    expected = IdentityProjection().project_batch(workload_batch())
    assert populated.digest() == canonical_digest(expected)
    assert populated.watermark() == {("events", 0): len(workload_batch()) - 1}


def test_writes_only_what_is_new(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    try:
        batch = workload_batch()
        sink.write(batch[:100])
        first = sink.triples_written
        sink.write(batch)
        assert sink.triples_written == len(IdentityProjection().project_batch(batch))
        assert first < sink.triples_written
        sink.write(batch)
        assert sink.triples_written == len(IdentityProjection().project_batch(batch))
        assert sink.triples_written / len(batch) < 3
    finally:
        sink.close()


def test_another_process_sees_the_graph_after_reopen(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    sink.write(workload_batch())
    sink.flush()
    digest = sink.digest()
    sink.close()
    script = (
        "import sys; from pathlib import Path; from sinks.rdf import RdfSink, RdfSettings;"
        "s = RdfSink.open(RdfSettings(), Path(sys.argv[1]));"
        "print(s.digest(), s.watermark()[('events', 0)]); s.close()"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], check=True, capture_output=True, text=True
    )
    assert out.stdout.split() == [digest, str(len(workload_batch()) - 1)]


def test_a_second_writer_is_refused_while_open(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    try:
        with pytest.raises(SinkUnavailableError):
            _open(tmp_path)
    finally:
        sink.close()


def test_closed_sink_is_unavailable(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    sink.close()
    with pytest.raises(SinkUnavailableError):
        sink.write(make_batch(1))
    with pytest.raises(SinkUnavailableError):
        sink.watermark()


def test_sparql_dsn_parsing() -> None:
    assert parse_sparql_dsn("sparql+http://127.0.0.1:7878/update?query=/query") == SparqlEndpoint(
        "http://127.0.0.1:7878/update", "http://127.0.0.1:7878/query"
    )
    assert parse_sparql_dsn("sparql+https://kg.example.org/ds/update") == SparqlEndpoint(
        "https://kg.example.org/ds/update", "https://kg.example.org/ds/update"
    )
    ep = parse_sparql_dsn("sparql+https://loader@kg.example.org/x?query=https://ro.example.org/q")
    assert ep == SparqlEndpoint("https://kg.example.org/x", "https://ro.example.org/q", "loader")
    for bad in (
        "http://kg.example.org/update",
        "sparql+ftp://kg/update",
        "sparql+http:///update",
        "sparql+http://u:pw@kg/update",
        "sparql+http://kg/update?graph=x",
        "oxigraph:///var/lib/rdf",
    ):
        with pytest.raises(ConfigError):
            parse_sparql_dsn(bad)


def test_sparql_backend_reports_an_unreachable_endpoint(tmp_path: Path) -> None:
    # Nothing listens on the discard port: a real connection failure, no fake server.
    settings = RdfSettings(
        dsn="sparql+http://loader@127.0.0.1:9/update", password=SecretStr("s3cret")
    )
    sink = RdfSink.open(settings, tmp_path)
    try:
        assert sink.graph.identifier.toPython() == DEFAULT_GRAPH
        with pytest.raises(SinkUnavailableError) as info:
            sink.write(make_batch(3))
        assert "s3cret" not in str(info.value)
        assert sink.watermark.__self__ is sink
    finally:
        sink.close()
    assert not (tmp_path / "rdf").exists()  # the remote backend writes nothing locally
