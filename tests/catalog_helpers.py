"""Shared by the catalog plane's contract tests: batches as the runtime builds them,
the store as the plane opens it, and the keys a store holds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from schemas.catalog import load_catalog
from schemas.events import Event
from sinks.base import Batch, Store
from sinks.catalog import DataHubSettings, make_plane
from sinks.catalog.context import Proposal
from sinks.catalog.export import latest_aspects
from sinks.catalog.projection import CatalogProjection
from sinks.catalog.store import DataHubStore
from tests.contract.store_contract import batch_for, records_of

__all__ = ["TOPICS", "batch_of", "keys", "lite_keys", "open_store", "platform_keys", "write"]

TOPICS = ("fractalops.agent-actions.v1",)


def keys(proposals: Sequence[Proposal]) -> set[str]:
    return {f"{p.urn} {p.aspect_name}" for p in proposals}


def platform_keys() -> set[str]:
    return keys(CatalogProjection().platform(TOPICS, load_catalog()))


def lite_keys(lite: Any) -> set[str]:
    return {f"{urn} {name}" for urn, name, _ in latest_aspects(lite)}


def batch_of(events: Sequence[Event], start: int = 0, partition: int = 0) -> Batch:
    """``events`` as the runtime hands them to the catalog: encoded, then decoded."""
    return batch_for(CatalogProjection(), records_of(events, partition, start))


def open_store(state_dir: Path) -> DataHubStore:
    store = make_plane(DataHubSettings(), state_dir, TOPICS).open_store()
    assert isinstance(store, DataHubStore)
    return store


def write(store: Store[Any], batch: Batch) -> None:
    store.write(CatalogProjection().project(batch), batch.upto)
