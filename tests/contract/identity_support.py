"""Helpers shared by the identity plane's contract tests (embedded store and generations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sinks.base import Batch, Store
from sinks.identity.projection import IdentityProjection
from sinks.identity.settings import RdfSettings
from sinks.identity.store import RdfStore
from sinks.identity.vocabulary import ntriples_line
from tests.workload_batch import workload_batch

__all__ = ["PROJECTION", "SETTINGS", "apply", "keys", "open_store", "workload_of"]

SETTINGS = RdfSettings()
PROJECTION = IdentityProjection()


def open_store(tmp_path: Path) -> RdfStore:
    """The embedded store under ``tmp_path`` (its live generation)."""
    return RdfStore.open(SETTINGS, tmp_path)


def keys(store: RdfStore) -> set[str]:
    """What ``store`` holds, as N-Triples lines."""
    return {ntriples_line(t) for t in store.triples()}


def workload_of(events: int | None = None) -> Batch:
    """The first ``events`` of the simulated workload (all by default) as one batch."""
    logged = workload_batch()[:events]
    return Batch(upto={("events", 0): len(logged) - 1}, events=logged)


def apply(store: Store[Any], batch: Batch) -> None:
    """Project ``batch`` and write it, as the runtime does (no flush)."""
    store.write(PROJECTION.project(batch), batch.upto)
