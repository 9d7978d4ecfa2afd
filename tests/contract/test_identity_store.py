"""``RdfStore`` on a real embedded Oxigraph store: the shared store contract, SPARQL
questions answered from the store, writes of only what is new, the in-store
watermark, reopen by another process, DSN parsing. The generation stores are in
``test_identity_generations.py``, the SPARQL backend in ``test_identity_sparql.py``.

The identity plane keeps no per-event record, so for the contract a batch's keys
are its identity triples (N-Triples lines): what the store must hold after a
write, exactly once, whatever the redelivery.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from schemas.errors import ConfigError, InvalidQueryError, SinkUnavailableError
from sinks.base import Batch, Projection, Store
from sinks.identity.oxigraph import JOURNAL, OxigraphBackend
from sinks.identity.projection import IdentityProjection
from sinks.identity.settings import DEFAULT_GRAPH, RdfSettings
from sinks.identity.sparql import SparqlEndpoint, parse_sparql_dsn
from sinks.identity.store import RdfStore
from sinks.identity.vocabulary import canonical_digest, ntriples_line
from tests.contract.identity_support import (
    PROJECTION,
    apply,
    keys,
    open_store,
    workload_of,
)
from tests.contract.store_contract import StoreContract
from tests.workload_batch import workload, workload_batch

pytest.importorskip("pyoxigraph")

PREFIXES = """
PREFIX fo: <https://fractalops.io/ns/fo#>
PREFIX prov: <http://www.w3.org/ns/prov#>
"""


class TestRdfStoreContract(StoreContract):
    def make_projection(self) -> Projection[Any]:
        return IdentityProjection()

    def make_store(self, tmp_path: Path) -> Store[Any]:
        return open_store(tmp_path)

    def stored_keys(self, store: Store[Any]) -> set[str]:
        assert isinstance(store, RdfStore)
        return keys(store)

    def expected_keys(self, batch: Batch) -> set[str]:
        return {ntriples_line(t) for t in self.projection.project(batch)}


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RdfStore]:
    store = open_store(tmp_path_factory.mktemp("rdf"))
    batch = workload_of()
    apply(store, batch)
    apply(store, workload_of(50))  # a redelivery adds nothing
    store.flush()
    yield store
    store.close()


def test_which_agents_acted_in_a_run(populated: RdfStore) -> None:
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


def test_which_evidence_proves_a_pr(populated: RdfStore) -> None:
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


def test_provenance_chain_of_an_artifact(populated: RdfStore) -> None:
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


def test_integers_come_back_as_ints_and_bad_queries_are_refused(populated: RdfStore) -> None:
    rows = populated.query(PREFIXES + "SELECT DISTINCT ?n WHERE { ?x fo:attempt ?n }")
    assert rows == [(1,)]
    with pytest.raises(InvalidQueryError):
        populated.query("SELECT nonsense")


def test_store_holds_exactly_the_projection(populated: RdfStore) -> None:
    expected = PROJECTION.project(workload_of())
    assert populated.digest() == canonical_digest(expected)
    assert populated.watermark() == {("events", 0): len(workload_batch()) - 1}
    assert populated.graph == DEFAULT_GRAPH


def test_writes_only_what_is_new(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        batch, total = workload_of(100), len(PROJECTION.project(workload_of()))
        apply(store, batch)
        store.flush()
        first = store.triples_written
        assert first == len(PROJECTION.project(batch))
        apply(store, workload_of())
        store.flush()
        assert store.triples_written == total  # the first 100 events' triples not again
        apply(store, workload_of())
        store.flush()
        assert store.triples_written == total
        assert store.triples_written / len(workload_batch()) < 3
    finally:
        store.close()
    reopened = open_store(tmp_path)  # a new process remembers nothing: rewrites are harmless
    try:
        apply(reopened, workload_of())
        reopened.flush()
        assert reopened.triples_written == total
        assert len(keys(reopened)) == total
    finally:
        reopened.close()


class _FailingOnce(OxigraphBackend):
    """The real backend, whose next insert fails as a full disk would."""

    fail = False

    def insert(self, encoded: Sequence[Any]) -> None:
        if self.fail:
            self.fail = False
            raise SinkUnavailableError("identity", "disk full")
        super().insert(encoded)


def test_triples_reach_the_store_with_the_flush_and_a_failed_flush_loses_none(
    tmp_path: Path,
) -> None:
    backend = _FailingOnce(tmp_path / "rdf", "identity")
    store = RdfStore(backend)
    expected = {ntriples_line(t) for t in PROJECTION.project(workload_of(30))}
    try:
        apply(store, workload_of(30))
        assert keys(store) == set()  # buffered: written with the watermark at flush
        backend.fail = True
        with pytest.raises(SinkUnavailableError):
            store.flush()
        assert (keys(store), store.watermark()) == (set(), {})
        apply(store, workload_of(30))  # the runtime retries the same batch
        store.flush()
        assert keys(store) == expected  # nothing was taken for written by the failure
        assert store.watermark() == {("events", 0): 29}
    finally:
        store.close()


class _Recording(OxigraphBackend):
    """The real backend, recording what each insert carried."""

    def __init__(self, directory: Path, name: str) -> None:
        super().__init__(directory, name)
        self.inserts: list[bytes] = []

    def insert(self, encoded: Sequence[Any]) -> None:
        self.inserts.append(b"".join(encoded))
        super().insert(encoded)


def test_a_checkpoint_is_one_journal_block_with_the_watermark_last(tmp_path: Path) -> None:
    backend = _Recording(tmp_path / "rdf", "identity")
    store = RdfStore(backend)
    marks = f"<{DEFAULT_GRAPH}/watermarks/identity/events/0>".encode()
    try:
        apply(store, workload_of(30))
        apply(store, workload_of(40))
        store.flush()
        (block,) = backend.inserts
        assert block.index(marks) > block.rindex(b"<https://fractalops.io/id/")
        journal = (tmp_path / "rdf" / JOURNAL).read_bytes()
        assert journal.endswith(block) and journal.startswith(b"# block ")
    finally:
        store.close()
    assert (tmp_path / "rdf" / JOURNAL).read_bytes() == b""  # loaded on close


def test_many_writes_before_one_flush_keep_memory_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a replay writes every batch and flushes once: past the bound the data goes
    # ahead, and the watermark still waits for the flush
    monkeypatch.setattr("sinks.identity.store._BUFFERED", 100)
    backend = _Recording(tmp_path / "rdf", "identity")
    store = RdfStore(backend)
    events = workload_of().events
    marks = f"<{DEFAULT_GRAPH}/watermarks/".encode()
    try:
        for start in range(0, len(events), 20):
            part = events[start : start + 20]
            batch = Batch(upto={("events", 0): start + len(part) - 1}, events=part)
            apply(store, batch)
        ahead = list(backend.inserts)
        assert len(ahead) > 1 and not any(marks in block for block in ahead)
        assert store.watermark() == {}
        store.flush()
        assert marks in backend.inserts[-1]
        assert store.watermark() == {("events", 0): len(events) - 1}
        assert keys(store) == {ntriples_line(t) for t in PROJECTION.project(workload_of())}
    finally:
        store.close()


def test_watermark_keeps_the_highest_offset_and_prunes_older_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sinks.identity.store._PRUNE_EVERY", 64)
    store = open_store(tmp_path)
    try:
        for offset in range(70):  # more flushes than the prune interval
            store.write(frozenset(), {("t", 0): offset, ("t", 1): 1000 - offset})
            store.flush()
        assert store.watermark() == {("t", 0): 69, ("t", 1): 1000}
        values = store.query(
            f"SELECT ?o WHERE {{ GRAPH <{DEFAULT_GRAPH}/watermarks> {{ ?m ?p ?o }} }}"
        )
        assert len(values) < 70  # older values were pruned, the highest kept
    finally:
        store.close()


def test_watermark_of_the_previous_format_is_read(tmp_path: Path) -> None:
    # the earlier sink replaced its single value per partition: the same triples
    pyoxigraph = pytest.importorskip("pyoxigraph")
    marks = f"{DEFAULT_GRAPH}/watermarks"
    raw = pyoxigraph.Store(str(tmp_path / "rdf"))
    offset = '"41"^^<http://www.w3.org/2001/XMLSchema#integer>'
    raw.update(
        f"INSERT DATA {{ GRAPH <{marks}> {{ <{marks}/identity/events/3> "
        f"<https://fractalops.io/ns/fo#appliedOffset> {offset} }} }}"
    )
    del raw
    store = open_store(tmp_path)
    try:
        assert store.watermark() == {("events", 3): 41}
    finally:
        store.close()


def test_another_process_sees_the_graph_after_reopen(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    apply(store, workload_of())
    store.flush()
    digest = store.digest()
    store.close()
    script = (
        "import sys; from pathlib import Path; from sinks.identity.store import RdfStore;"
        "from sinks.identity.settings import RdfSettings;"
        "s = RdfStore.open(RdfSettings(), Path(sys.argv[1]));"
        "print(s.digest(), s.watermark()[('events', 0)]); s.close()"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], check=True, capture_output=True, text=True
    )
    assert out.stdout.split() == [digest, str(len(workload_batch()) - 1)]


def test_a_process_that_dies_after_flush_loses_nothing(tmp_path: Path) -> None:
    # the writer flushes and dies without closing: its checkpoint is only in the
    # journal, and a half-written block of a flush that never returned follows it
    script = (
        "import os, sys; from pathlib import Path; from sinks.base import Batch;"
        "from sinks.identity.projection import IdentityProjection;"
        "from sinks.identity.settings import RdfSettings;"
        "from sinks.identity.store import RdfStore;"
        "from tests.workload_batch import workload_batch;"
        "events = workload_batch()[:80];"
        "store = RdfStore.open(RdfSettings(), Path(sys.argv[1]));"
        "store.write(IdentityProjection().project(Batch(events=events)), {('events', 0): 79});"
        "store.flush(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True)
    journal = tmp_path / "rdf" / JOURNAL
    assert journal.stat().st_size > 0
    with open(journal, "ab") as raw:
        raw.write(b"# block 5000 7\n<https://fractalops.io/id/torn")
    store = open_store(tmp_path)
    try:
        assert store.watermark() == {("events", 0): 79}
        assert keys(store) == {ntriples_line(t) for t in PROJECTION.project(workload_of(80))}
    finally:
        store.close()
    assert journal.read_bytes() == b""


def test_a_second_writer_is_refused_while_open(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        with pytest.raises(SinkUnavailableError):
            open_store(tmp_path)
    finally:
        store.close()
    open_store(tmp_path).close()  # closing released the lock


def test_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.close()
    for call in (lambda: apply(store, workload_of(1)), store.watermark, store.triples):
        with pytest.raises(SinkUnavailableError):
            call()


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
    store = RdfStore.open(settings, tmp_path)
    try:
        assert store.graph == DEFAULT_GRAPH
        apply(store, workload_of(3))  # buffered; the endpoint is first reached by flush
        with pytest.raises(SinkUnavailableError) as info:
            store.flush()
        assert "s3cret" not in str(info.value)
        with pytest.raises(SinkUnavailableError):
            store.watermark()
    finally:
        store.close()
    assert not (tmp_path / "rdf").exists()  # the remote backend writes nothing locally
    with pytest.raises(ConfigError):
        RdfStore.open(settings, tmp_path, directory=tmp_path / "g1")
