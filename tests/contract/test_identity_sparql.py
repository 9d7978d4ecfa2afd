"""``RdfStore`` over the SPARQL 1.1 protocol: the shared store contract and the plane's
questions, against a real SPARQL engine (an in-memory Oxigraph) behind the
smallest endpoint that speaks the protocol (query by GET, update by POST, HTTP
basic auth), so the requests rdflib sends are executed, not mocked.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from schemas.errors import SinkUnavailableError
from sinks.base import Batch, Projection, Store
from sinks.identity.projection import IdentityProjection
from sinks.identity.settings import RdfSettings
from sinks.identity.store import RdfStore
from sinks.identity.vocabulary import canonical_digest, ntriples_line
from tests.contract.store_contract import StoreContract
from tests.workload_batch import workload_batch

ox = pytest.importorskip("pyoxigraph")
pytest.importorskip("rdflib")

USER, PASSWORD = "loader", "s3cret"


class _Endpoint(ThreadingHTTPServer):
    """A SPARQL endpoint on 127.0.0.1 over one in-memory Oxigraph store."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Protocol)
        self.store = ox.Store()
        self.updates = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def dsn(self) -> str:
        return f"sparql+http://{USER}@127.0.0.1:{self.server_address[1]}/update?query=/query"


class _Protocol(BaseHTTPRequestHandler):
    server: _Endpoint

    def _authorized(self) -> bool:
        expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") == f"Basic {expected}":
            return True
        self.send_error(401)
        return False

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = parse_qs(url.query)
        if url.path != "/query" or not self._authorized():
            return
        default = params.get("default-graph-uri", [None])[0]
        graph = ox.NamedNode(default) if default else None
        try:
            body = self.server.store.query(params["query"][0], default_graph=graph).serialize(
                format=ox.QueryResultsFormat.XML
            )
        except SyntaxError:
            self.send_error(400)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/sparql-results+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/update" or not self._authorized():
            return
        assert self.headers["Content-Type"].startswith("application/sparql-update")
        update = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.server.store.update(update)
        self.server.updates += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # keep test output quiet


@pytest.fixture(scope="module")
def endpoints() -> Iterator[dict[Path, _Endpoint]]:
    started: dict[Path, _Endpoint] = {}
    yield started
    for endpoint in started.values():
        endpoint.shutdown()
        endpoint.server_close()


def _settings(endpoint: _Endpoint, password: str = PASSWORD) -> RdfSettings:
    return RdfSettings(dsn=endpoint.dsn, password=SecretStr(password))


class TestSparqlStoreContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _endpoints(self, endpoints: dict[Path, _Endpoint]) -> None:
        self.endpoints = endpoints

    def make_projection(self) -> Projection[Any]:
        return IdentityProjection()

    def make_store(self, tmp_path: Path) -> Store[Any]:
        # one endpoint per test directory: a reopen in the same test finds its data
        endpoint = self.endpoints.setdefault(tmp_path, _Endpoint())
        return RdfStore.open(_settings(endpoint), tmp_path)

    def stored_keys(self, store: Store[Any]) -> set[str]:
        assert isinstance(store, RdfStore)
        return {ntriples_line(t) for t in store.triples()}

    def expected_keys(self, batch: Batch) -> set[str]:
        return {ntriples_line(t) for t in self.projection.project(batch)}


def test_one_update_per_checkpoint_and_the_questions_answered(tmp_path: Path) -> None:
    endpoint = _Endpoint()
    projection = IdentityProjection()
    events = workload_batch()
    batch = Batch(upto={("events", 0): len(events) - 1}, events=events)
    store = RdfStore.open(_settings(endpoint), tmp_path)
    try:
        store.write(projection.project(batch), batch.upto)
        store.flush()
        assert endpoint.updates == 1  # data and watermark in one INSERT DATA
        assert store.digest() == canonical_digest(projection.project(batch))
        assert store.watermark() == {("events", 0): len(events) - 1}
        rows = store.query(
            "PREFIX fo: <https://fractalops.io/ns/fo#> "
            'SELECT ?pr WHERE { ?pr a fo:PullRequest ; fo:key "fractalops/portal#200" }'
        )
        assert rows == [("https://fractalops.io/id/pr/fractalops/portal/200",)]
        store.write(projection.project(batch), batch.upto)  # a redelivery: nothing new
        store.flush()
        assert store.triples_written == len(projection.project(batch))
    finally:
        store.close()
        endpoint.shutdown()
        endpoint.server_close()
    assert not (tmp_path / "rdf").exists()


def test_a_wrong_password_is_unavailable_and_not_echoed(tmp_path: Path) -> None:
    endpoint = _Endpoint()
    store = RdfStore.open(_settings(endpoint, password="wrong-secret"), tmp_path)
    try:
        with pytest.raises(SinkUnavailableError) as info:
            store.watermark()
        assert "wrong-secret" not in str(info.value)
    finally:
        store.close()
        endpoint.shutdown()
        endpoint.server_close()


def test_old_watermark_values_are_pruned_on_the_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sinks.identity.store._PRUNE_EVERY", 64)
    endpoint = _Endpoint()
    store = RdfStore.open(_settings(endpoint), tmp_path)
    try:
        for offset in range(70):  # more flushes than the prune interval
            store.write(frozenset(), {("t", 0): offset})
            store.flush()
        assert store.watermark() == {("t", 0): 69}
        values = list(endpoint.store.quads_for_pattern(None, None, None, None))
        assert 1 <= len(values) < 70
    finally:
        store.close()
        endpoint.shutdown()
        endpoint.server_close()
