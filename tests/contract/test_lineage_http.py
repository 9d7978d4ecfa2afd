"""``OpenLineageStore`` on the client's HTTP transport against a real (loopback)
HTTP endpoint: the same events as the file transport, the bearer key, and the
transport's failures translated into the error tree."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from schemas.errors import PermanentError, SinkUnavailableError
from sinks.lineage import OpenLineageSettings
from sinks.lineage.store import OpenLineageStore
from tests.contract.lineage_support import (
    clock,
    decoded,
    emitted,
    open_store,
    source_ids,
    workload_records,
    write,
)
from tests.ports import free_port


class Backend(ThreadingHTTPServer):
    """A loopback OpenLineage endpoint: keeps every POSTed event, answers ``status``."""

    def __init__(self) -> None:
        self.status = 201
        self.posted: list[dict[str, Any]] = []
        self.auth: set[str] = set()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                backend.auth.add(str(self.headers.get("Authorization")))
                if backend.status < 300:
                    backend.posted.append(json.loads(body))
                self.send_response(backend.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        super().__init__(("127.0.0.1", free_port()), Handler)


@pytest.fixture()
def backend() -> Iterator[Backend]:
    server = Backend()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def http_store(tmp_path: Path, url: str) -> OpenLineageStore:
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    # the client's own retries (5, with backoff) are for production; here each
    # failure must surface at once, as the runtime's retry then handles it
    transport = HttpTransport(HttpConfig(url=url, retry={"total": 0, "connect": 0, "read": 0}))
    return OpenLineageStore(tmp_path, transport, clock=clock())


def test_http_backend_gets_the_same_events_as_the_file(tmp_path: Path, backend: Backend) -> None:
    from pydantic import SecretStr

    records = workload_records()[:80]
    settings = OpenLineageSettings(
        url=f"http://127.0.0.1:{backend.server_port}", api_key=SecretStr("k-1")
    )
    over_http = open_store(tmp_path / "http", settings)
    on_file = open_store(tmp_path / "file")
    try:
        for store in (over_http, on_file):
            write(store, records)
            store.flush()
            write(store, records)  # a redelivery posts nothing again
            store.flush()
        assert backend.posted == emitted(on_file)
        assert backend.auth == {"Bearer k-1"}
    finally:
        over_http.close()
        on_file.close()


def test_http_errors_are_typed(tmp_path: Path, backend: Backend) -> None:
    records = workload_records()[:20]
    store = http_store(tmp_path, f"http://127.0.0.1:{backend.server_port}")
    try:
        backend.status = 400  # the backend refuses the event itself
        with pytest.raises(PermanentError):
            write(store, records)
        backend.status = 503  # the backend is down for now
        with pytest.raises(SinkUnavailableError):
            write(store, records)
        backend.status = 200
        write(store, records)  # the retried batch goes through
        store.flush()
        assert source_ids(backend.posted) == {e.event_id for e in decoded(records).events}
    finally:
        store.close()
    refused = http_store(tmp_path / "other", f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(SinkUnavailableError):  # nothing listens
            write(refused, records)
    finally:
        refused.close()
