"""The identity plane's generations: the store contract on a shadow generation opened
as replay opens it, and a rebuild digested, compared and swapped in through the
plane the registry lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.errors import ConfigError
from sinks.base import Batch, Projection, Store
from sinks.generations import LIVE, GenerationStatus
from sinks.identity import make_plane
from sinks.identity.generations import RdfGenerations
from sinks.identity.projection import PROJECTION_VERSION, IdentityProjection
from sinks.identity.settings import RdfSettings
from sinks.identity.store import RdfStore
from sinks.identity.vocabulary import canonical_digest, ntriples_line
from tests.contract.identity_support import (
    PROJECTION,
    SETTINGS,
    apply,
    keys,
    open_store,
    workload_of,
)
from tests.contract.store_contract import StoreContract

pytest.importorskip("pyoxigraph")


class TestRdfGenerationStoreContract(StoreContract):
    """The same contract on a shadow generation, opened as replay opens it."""

    def make_projection(self) -> Projection[Any]:
        return IdentityProjection()

    def make_store(self, tmp_path: Path) -> Store[Any]:
        live = open_store(tmp_path)
        try:
            generations = RdfGenerations(live, SETTINGS, tmp_path)
            building = [
                g.number for g in generations.generations() if g.status is GenerationStatus.BUILDING
            ]  # a reopen reopens the generation being built
            number = building[0] if building else generations.allocate(PROJECTION_VERSION)
            return generations.open_shadow(number)
        finally:
            live.close()  # the shadow has a directory of its own

    def stored_keys(self, store: Store[Any]) -> set[str]:
        assert isinstance(store, RdfStore)
        return keys(store)

    def expected_keys(self, batch: Batch) -> set[str]:
        return {ntriples_line(t) for t in self.projection.project(batch)}

    def test_shadow_writes_only_its_generation(self, tmp_path: Path) -> None:
        shadow = self.make_store(tmp_path)
        try:
            self.apply(shadow, self.batch(5))
            shadow.flush()
        finally:
            shadow.close()
        live = open_store(tmp_path)
        try:
            assert keys(live) == set()
            assert live.watermark() == {}
        finally:
            live.close()
        assert (tmp_path / "rdf" / "generations" / "g1").is_dir()


def test_plane_rebuilds_into_a_generation_and_swaps_it_in(tmp_path: Path) -> None:
    plane = make_plane(SETTINGS, tmp_path)
    assert plane.name == "identity" and plane.projection.name == "identity"
    assert plane.generations is not None
    batch = workload_of()
    covered = {("events", 0): (0, len(batch.events) - 1)}
    live = plane.open_store()
    try:
        apply(live, batch)
        live.flush()
        generations = plane.generations(live)
        number = generations.allocate(plane.projection.version)
        shadow = generations.open_shadow(number)
        try:
            apply(shadow, workload_of(60))  # another cut of the same events
            apply(shadow, batch)
            shadow.flush()
        finally:
            shadow.close()
        rebuilt, current = generations.digest(number, covered), generations.digest(LIVE, covered)
        assert rebuilt.comparable and current.comparable
        assert rebuilt.value == current.value
        assert rebuilt.rows == {"graph": len(PROJECTION.project(batch))}
        assert [d.equal for d in generations.diff(number, covered)] == [True]
        elsewhere = generations.digest(LIVE, {("events", 0): (5, len(batch.events) - 1)})
        assert not elsewhere.comparable  # live covers positions the range does not
        generations.finish(number, covered, rebuilt, {})
        generations.swap(number)
    finally:
        live.close()
    reopened = plane.open_store()  # the pointer names the rebuilt generation now
    try:
        assert isinstance(reopened, RdfStore)
        assert reopened.digest() == canonical_digest(PROJECTION.project(batch))
        assert reopened.watermark() == {("events", 0): len(batch.events) - 1}
    finally:
        reopened.close()
    assert (tmp_path / "rdf" / "generations" / "current").is_symlink()


def test_a_sparql_plane_has_no_generations(tmp_path: Path) -> None:
    settings = RdfSettings(dsn="sparql+http://127.0.0.1:9/update")
    plane = make_plane(settings, tmp_path)
    assert not plane.rebuildable
    store = plane.open_store()
    try:
        assert isinstance(store, RdfStore)
        with pytest.raises(ConfigError):  # and the class refuses it too
            RdfGenerations(store, settings, tmp_path)
    finally:
        store.close()
