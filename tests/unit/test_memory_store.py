"""The in-memory fakes pass the same contract suite as the real stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.errors import PermanentError, SinkUnavailableError
from sinks.base import Batch, Projection, Store
from sinks.memory import MemoryProjection, MemoryStore
from tests.contract.store_contract import StoreContract


class TestMemoryStoreContract(StoreContract):
    persistent = False

    def make_projection(self) -> Projection[Any]:
        return MemoryProjection()

    def make_store(self, tmp_path: Path) -> Store[Any]:
        return MemoryStore()

    def stored_keys(self, store: Store[Any]) -> set[str]:
        assert isinstance(store, MemoryStore)
        return set(store.rows)


def test_switched_off_store_is_unavailable() -> None:
    store = MemoryStore()
    store.available = False
    with pytest.raises(SinkUnavailableError):
        store.write([], {})


def test_rejected_ids_are_a_permanent_error() -> None:
    store = MemoryStore()
    store.rejects = frozenset({"bad"})
    with pytest.raises(PermanentError):
        store.write([("good", {}), ("bad", {})], {("t", 0): 1})
    assert store.rows == {}


def test_poisoned_projection_raises() -> None:
    projection = MemoryProjection(poison=frozenset({"x"}))
    assert projection.project(Batch()) == []
