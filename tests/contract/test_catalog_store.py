"""The catalog plane's store on a real DataHub Lite store (SQLite): the store contract
(live and generation stores), Lite's own rows, changed-only writes, errors, GMS.

The catalog keeps no per-event record, so for the contract a batch's keys are the
``urn aspect`` pairs it projects to, and the store's are the ones it holds minus
the platform's own entities (topics, tables, projections) it seeds when it opens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("datahub")

from datahub.metadata import schema_classes as dh

from schemas.errors import PermanentError, SinkUnavailableError
from sinks.base import Batch, Projection, Store
from sinks.catalog import DataHubSettings, make_plane
from sinks.catalog.aspects import Recipe, built, status
from sinks.catalog.context import entity
from sinks.catalog.export import aspects_digest, latest_aspects
from sinks.catalog.projection import CatalogProjection
from sinks.catalog.store import HASH_PROPERTY, DataHubStore, open_lite
from sinks.directories import ConfinedStore
from sinks.generations import GenerationStatus
from tests.catalog_helpers import (
    TOPICS,
    batch_of,
    keys,
    lite_keys,
    open_store,
    platform_keys,
    write,
)
from tests.contract.store_contract import StoreContract
from tests.workload_batch import workload


class TestDataHubStoreContract(StoreContract):
    """The live store: the Lite file the plane opens under the state dir."""

    def make_projection(self) -> Projection[Any]:
        return CatalogProjection()

    def make_store(self, tmp_path: Path) -> Store[Any]:
        return open_store(tmp_path)

    def stored_keys(self, store: Store[Any]) -> set[str]:
        assert isinstance(store, DataHubStore)
        return lite_keys(store.lite) - platform_keys()

    def expected_keys(self, batch: Batch) -> set[str]:
        return keys(CatalogProjection().project(batch))


class TestDataHubGenerationStoreContract(StoreContract):
    """A shadow generation's store, as replay opens it: ``allocate`` then
    ``open_shadow`` (the same store class on the generation's own Lite file, confined
    to a thread of its own). Reopening opens the same building generation again."""

    def make_projection(self) -> Projection[Any]:
        return CatalogProjection()

    def make_store(self, tmp_path: Path) -> Store[Any]:
        plane = make_plane(DataHubSettings(), tmp_path, TOPICS)
        live = plane.open_store()
        try:
            assert plane.generations is not None
            generations = plane.generations(live)
            building = [
                g.number for g in generations.generations() if g.status is GenerationStatus.BUILDING
            ]
            number = building[-1] if building else generations.allocate(self.projection.version)
            shadow = generations.open_shadow(number)
        finally:
            live.close()
        assert isinstance(shadow, ConfinedStore)
        self._files[id(shadow)] = (
            tmp_path / "datahub" / "generations" / f"g{number}" / "lite.sqlite"
        )
        return shadow

    @property
    def _files(self) -> dict[int, Path]:
        if not hasattr(self, "_paths"):
            self._paths: dict[int, Path] = {}
        return self._paths

    def stored_keys(self, store: Store[Any]) -> set[str]:
        lite = open_lite(self._files[id(store)], read_only=True)
        try:
            return lite_keys(lite) - platform_keys()
        finally:
            lite.close()

    def expected_keys(self, batch: Batch) -> set[str]:
        return keys(CatalogProjection().project(batch))


# --- Lite's own format, changed-only writes ----------------------------------------------


def _rows(lite: Any) -> dict[tuple[str, str, int], tuple[Any, dict[str, Any]]]:
    """Lite's rows with the bookkeeping that differs by design left out: the time of
    the write and the store's content hash."""
    out = {}
    for urn, name, version, metadata, system, _ in lite.sqlite_client.execute(
        "SELECT * FROM metadata_aspect_v2"
    ):
        meta = json.loads(system)
        meta.pop("lastObserved")
        meta["properties"].pop(HASH_PROPERTY, None)
        out[(urn, name, version)] = (metadata, meta)
    return out


def test_batch_writer_writes_what_lites_own_write_writes(tmp_path: Path) -> None:
    events = workload(4).events
    first = CatalogProjection().project(batch_of(events))
    changed_goal = events[0].model_copy(update={"goal": "a new goal"})
    second = CatalogProjection().project(batch_of([changed_goal, *events[1:3]]))
    reference = open_lite(tmp_path / "lite-itself.sqlite")
    store = DataHubStore.open(tmp_path / "store.sqlite")
    try:
        for mcps in (first, second):
            for proposal in mcps:
                reference.write(proposal.mcp())
            store.write_aspects(mcps)
        ours, lites = _rows(store.lite), _rows(reference)
        assert ours == lites
        assert any(version == 2 for _, _, version in ours)  # the changed goal: version 2
    finally:
        store.close()
        reference.sqlite_client.close()


def test_only_changed_aspects_are_written_and_a_restart_rewrites_nothing(tmp_path: Path) -> None:
    batch = batch_of(workload().events)
    mcps = CatalogProjection().project(batch)
    store = open_store(tmp_path)
    written = store.written
    write(store, batch)
    store.flush()
    assert store.written - written == len(mcps)
    digest = aspects_digest(latest_aspects(store.lite))
    write(store, batch)
    store.close()
    reopened = open_store(tmp_path)  # a fresh process: the hashes are in the store
    try:
        write(reopened, batch)
        reopened.flush()
        assert reopened.written == 0
        assert aspects_digest(latest_aspects(reopened.lite)) == digest
        versions = reopened.lite.sqlite_client.execute(
            "SELECT max(version) FROM metadata_aspect_v2"
        ).fetchone()
        assert versions == (1,)  # nothing was rewritten as a new version
        assert reopened.watermark() == {("events", 0): len(batch.events) - 1}
    finally:
        reopened.close()


def test_rows_written_by_lite_itself_are_compared_by_content(tmp_path: Path) -> None:
    # a store written before content hashes (or by `datahub lite import`) has none, and
    # Lite's default SQLite pages (4 KB), which the store keeps
    from datahub.lite.sqlite_lite import SqliteLite
    from datahub.lite.sqlite_lite_config import SqliteLiteConfig

    mcps = CatalogProjection().project(batch_of(workload(3).events))
    path = tmp_path / "lite.sqlite"
    lite = SqliteLite(SqliteLiteConfig(file=str(path)))
    for proposal in mcps:
        lite.write(proposal.mcp())
    lite.sqlite_client.close()
    store = DataHubStore.open(path)
    fresh = DataHubStore.open(tmp_path / "new.sqlite")
    try:
        assert store.write_aspects(mcps) == 0
        assert fresh.write_aspects(mcps) == len(mcps)
        assert _rows(fresh.lite) == _rows(store.lite)
        page_size = "PRAGMA page_size"
        assert store.lite.sqlite_client.execute(page_size).fetchone() == (4096,)
        assert fresh.lite.sqlite_client.execute(page_size).fetchone() == (16384,)
    finally:
        store.close()
        fresh.close()


def test_replay_in_any_cut_gives_the_same_catalog(tmp_path: Path) -> None:
    events = workload().events
    left, right = open_store(tmp_path / "a"), open_store(tmp_path / "b")
    try:
        write(left, batch_of(events))
        for start in range(0, len(events), 17):
            write(right, batch_of(events[start : start + 17], start=start))
        assert aspects_digest(latest_aspects(left.lite)) == aspects_digest(
            latest_aspects(right.lite)
        )
    finally:
        left.close()
        right.close()


def _wrong_type() -> Any:
    aspect = dh.StatusClass(removed=False)
    aspect._inner_dict["removed"] = "not a boolean"  # what a projection bug could build
    return aspect


def _datahub_raises() -> Any:
    # a record where DataHub expects an array: its conversion and validation raise
    aspect = dh.UpstreamLineageClass(upstreams=[])
    aspect._inner_dict["fineGrainedLineages"] = dh.StatusClass(removed=False)
    return aspect


@pytest.mark.parametrize("broken", [_wrong_type, _datahub_raises])
def test_an_invalid_aspect_is_a_permanent_error_and_writes_nothing(
    tmp_path: Path, broken: Any
) -> None:
    store = DataHubStore.open(tmp_path / "lite.sqlite")
    good = entity("urn:li:dataset:(urn:li:dataPlatform:wiki,a,PROD)", status(removed=False))
    bad = entity("urn:li:dataset:(urn:li:dataPlatform:wiki,b,PROD)", built(broken()))
    try:
        with pytest.raises(PermanentError):
            store.write([*good, *bad], {("events", 0): 1})
        assert lite_keys(store.lite) == set()
        assert store.write_aspects(good) == 1
    finally:
        store.close()


def _raises(removed: bool) -> Any:
    raise ValueError(f"no aspect from {removed}")


@pytest.mark.parametrize(
    "recipe",
    [
        ("status", _raises, (False,)),  # a recipe that cannot be built
        ("status", dh.SubTypesClass, ([],)),  # builds another aspect than it names
    ],
)
def test_a_recipe_that_does_not_build_its_aspect_is_a_permanent_error(
    tmp_path: Path, recipe: Recipe
) -> None:
    store = DataHubStore.open(tmp_path / "lite.sqlite")
    try:
        with pytest.raises(PermanentError):
            store.write_aspects(entity("urn:li:dataset:(urn:li:dataPlatform:wiki,a,PROD)", recipe))
        assert lite_keys(store.lite) == set()
    finally:
        store.close()


def test_watermark_of_an_older_store_is_taken_over(tmp_path: Path) -> None:
    base = tmp_path / "datahub"
    base.mkdir()
    (base / "watermarks.catalog.json").write_text(json.dumps([["events", 0, 41], ["events", 2, 7]]))
    store = open_store(tmp_path)
    try:
        assert store.watermark() == {("events", 0): 41, ("events", 2): 7}
        assert not (base / "watermarks.catalog.json").exists()
    finally:
        store.close()


def test_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.close()
    with pytest.raises(SinkUnavailableError):
        write(store, batch_of(workload(1).events))
    with pytest.raises(SinkUnavailableError):
        store.lite  # noqa: B018


class FlakyEmitter:
    """DataHub's REST emitter as the store sees it, down until told otherwise."""

    def __init__(self) -> None:
        self.down = True
        self.sent: list[int] = []

    def emit_mcps(self, mcps: list[Any]) -> None:
        if self.down:
            raise ConnectionError("GMS is down")
        self.sent.append(len(mcps))

    def close(self) -> None:
        self.down = True


def test_gms_gets_changed_aspects_before_lite_and_a_failed_send_is_retried(
    tmp_path: Path,
) -> None:
    emitter = FlakyEmitter()
    store = DataHubStore.open(tmp_path / "lite.sqlite", emitter=emitter)
    mcps = CatalogProjection().project(batch_of(workload(2).events))
    try:
        with pytest.raises(SinkUnavailableError, match="GMS"):
            store.write_aspects(mcps)
        assert lite_keys(store.lite) == set()  # not committed locally: retried whole
        emitter.down = False
        assert store.write_aspects(mcps) == len(mcps)
        assert emitter.sent == [len(mcps)]
        assert store.write_aspects(mcps) == 0
        assert emitter.sent == [len(mcps)]  # unchanged aspects are not sent again
    finally:
        store.close()


def test_gms_unreachable_is_retryable(tmp_path: Path) -> None:
    from pydantic import SecretStr

    settings = DataHubSettings(gms_url="http://127.0.0.1:9", token=SecretStr("tok"))
    with pytest.raises(SinkUnavailableError) as info:
        make_plane(settings, tmp_path, TOPICS).open_store()
    assert "tok" not in str(info.value)
