"""The catalog plane's store on a real DataHub Lite store (SQLite): the store contract
(live and generation stores), Lite's own format and reads, changed-only writes,
export, generations and the CLI.

The catalog keeps no per-event record, so for the contract a batch's keys are the
``urn aspect`` pairs it projects to, and the store's are the ones it holds minus
the platform's own entities (topics, tables, projections) it seeds when it opens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("datahub")

from datahub.lite.lite_local import SearchFlavor
from datahub.metadata import schema_classes as dh

from schemas.catalog import load_catalog
from schemas.errors import PermanentError, SinkUnavailableError
from schemas.events import Event
from sinks.base import Batch, Projection, Store
from sinks.catalog import DataHubSettings, make_plane
from sinks.catalog.context import Mcp
from sinks.catalog.export import aspects_digest, latest_aspects, lite_path
from sinks.catalog.projection import CatalogProjection
from sinks.catalog.store import HASH_PROPERTY, DataHubStore, open_lite
from sinks.directories import ConfinedStore, live_dir
from sinks.generations import LIVE, GenerationStatus
from tests.contract.store_contract import StoreContract, batch_for, records_of
from tests.workload_batch import workload

TOPICS = ("fractalops.agent-actions.v1",)


def keys(mcps: Sequence[Mcp]) -> set[str]:
    return {f"{m.entityUrn} {m.aspectName}" for m in mcps}


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


# --- a populated store -------------------------------------------------------------------


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataHubStore]:
    store = open_store(tmp_path_factory.mktemp("catalog"))
    write(store, batch_of(workload().events))
    store.flush()
    yield store
    store.close()


def schema_fields(store: DataHubStore, urn: str) -> list[dict[str, Any]]:
    got = store.lite.get(urn, ["schemaMetadata"])
    assert got is not None
    aspect = got["schemaMetadata"]
    assert isinstance(aspect, dict)
    return list(aspect["fields"])


def test_lite_reads_the_store(populated: DataHubStore) -> None:
    urns = CatalogProjection().urns
    pr = urns.github("pull", "fractalops/portal#200")
    got = populated.lite.get(pr, None)
    assert got is not None
    assert got["datasetProperties"]["customProperties"]["closes_issue"] == "fractalops/portal#100"  # type: ignore[index]
    hits = list(populated.lite.search("fractalops/portal#200", flavor=SearchFlavor.FREE_TEXT))
    assert any(hit.id == pr for hit in hits)
    topic = "urn:li:dataset:(urn:li:dataPlatform:kafka,fractalops.agent-actions.v1,PROD)"
    paths = [f["fieldPath"] for f in schema_fields(populated, topic)]
    assert "[version=2.0].[type=RunStarted].[type=string].goal" in paths
    table = "urn:li:dataset:(urn:li:dataPlatform:clickhouse,proofstream.proof_facts,PROD)"
    fields = schema_fields(populated, table)
    assert {"fieldPath": "log_offset", "nativeDataType": "UInt64"}.items() <= next(
        f for f in fields if f["fieldPath"] == "log_offset"
    ).items()
    # every latest aspect parses into DataHub's classes, and list_ids names every entity
    typed = list(populated.lite.get_all_aspects())
    assert {m.entityUrn for m in typed} == set(populated.lite.list_ids())


def test_export_is_loadable_by_datahubs_file_source(
    populated: DataHubStore, tmp_path: Path
) -> None:
    from datahub.ingestion.api.common import PipelineContext
    from datahub.ingestion.source.file import GenericFileSource, read_metadata_file

    from sinks.catalog.export import export_lite

    out = tmp_path / "catalog.json"
    count = export_lite(populated.lite, out)
    items = list(read_metadata_file(out))
    assert len(items) == count > 100
    urns = {str(getattr(i, "entityUrn", "")) for i in items}
    evidence = next(e for e in workload().events if e.event_type == "evidence.recorded")
    assert CatalogProjection().urns.evidence(evidence.sha256) in urns  # type: ignore[attr-defined]
    context = PipelineContext(run_id="export-test")
    source = GenericFileSource.create({"path": str(out)}, context)  # type: ignore[no-untyped-call]
    units = list(source.get_workunits())
    assert len(units) >= count
    assert not source.get_report().failures
    again = tmp_path / "again.json"
    export_lite(populated.lite, again)
    assert again.read_bytes() == out.read_bytes()  # the same store, the same file


def test_read_only_lite_sees_the_store_while_open(populated: DataHubStore) -> None:
    reader = open_lite(Path(populated.lite.location()), read_only=True)
    try:
        assert set(reader.list_ids()) == {m.entityUrn for m in populated.lite.get_all_aspects()}
    finally:
        reader.close()


SEED_ENTITIES = (
    "project",
    "repository",
    "agent squad generation",
    "run attempt",
    "workspace lease",
    "browser lease",
    "tool loadout",
    "issue and PR delivery",
    "evidence artifact",
    "wiki/search knowledge asset",
    "dataset/feature/API/route lineage",
)
"""The seed's "FractalOps should project" list, verbatim."""

KINDS = {
    "project": {"project"},
    "repository": {"repository"},
    "agent squad generation": {"agent_squad_generation", "agent"},
    "run attempt": {"run_attempt"},
    "workspace lease": {"workspace_lease"},
    "browser lease": {"browser_lease"},
    "tool loadout": {"tool_loadout", "tool", "mcp_server"},
    "issue and PR delivery": {"issue", "pull_request", "delivery"},
    "evidence artifact": {"evidence"},
    "wiki/search knowledge asset": {"knowledge_asset"},
    "dataset/feature/API/route lineage": {"lineage"},
}


def test_mapping_covers_every_seed_entity(tmp_path: Path) -> None:
    from sinks.catalog.context import KIND
    from sinks.catalog.projection import MAPPING
    from tests.unit.test_catalog_projection import knowledge_and_lineage

    assert set(MAPPING) == set(SEED_ENTITIES)
    store = open_store(tmp_path)
    try:
        write(store, batch_of([*workload().events, *knowledge_and_lineage()]))
        kinds = {
            aspect["customProperties"][KIND]
            for _, _, aspect in latest_aspects(store.lite)
            if KIND in (aspect.get("customProperties") or {})
        }
    finally:
        store.close()
    for seed in SEED_ENTITIES:
        assert KINDS[seed] <= kinds, seed


def test_demo_counts_agree_with_lites_own_reading(populated: DataHubStore) -> None:
    import io
    from collections import Counter

    from datahub.utilities.urns.urn import guess_entity_type
    from rich.console import Console

    from proofstream.demo_planes import show_catalog
    from proofstream.settings import Settings

    state_dir = Path(populated.lite.location()).parent.parent
    out = io.StringIO()
    show_catalog(Console(file=out, width=200), Settings(state_dir=state_dir))
    text = out.getvalue()
    ids = list(populated.lite.list_ids())
    by_type = Counter(guess_entity_type(urn) for urn in ids)
    assert f"DataHub: {len(ids)} entities (= list_ids())" in text, text
    assert f"{len(latest_aspects(populated.lite))} latest aspects" in text, text
    rows = {
        cells[0]: int(cells[1])
        for line in text.splitlines()
        if len(cells := [c.strip() for c in line.strip("│┃ ").split("│")]) == 2
        and cells[1].isdigit()
    }
    assert rows == dict(by_type), text
    assert sum(rows.values()) == len(ids)


def test_missing_store_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(SinkUnavailableError):
        open_lite(tmp_path / "missing" / "lite.sqlite", read_only=True)


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
            for mcp in mcps:
                reference.write(mcp)
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
    # a store written before content hashes (or by `datahub lite import`) has none
    mcps = CatalogProjection().project(batch_of(workload(3).events))
    path = tmp_path / "lite.sqlite"
    lite = open_lite(path)
    for mcp in mcps:
        lite.write(mcp)
    lite.sqlite_client.close()
    store = DataHubStore.open(path)
    try:
        assert store.write_aspects(mcps) == 0
    finally:
        store.close()


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


def test_an_invalid_aspect_is_a_permanent_error_and_writes_nothing(tmp_path: Path) -> None:
    store = DataHubStore.open(tmp_path / "lite.sqlite")
    good = Mcp(
        entityUrn="urn:li:dataset:(urn:li:dataPlatform:wiki,a,PROD)",
        aspect=dh.StatusClass(removed=False),
    )
    bad_aspect = dh.StatusClass(removed=False)
    bad_aspect._inner_dict["removed"] = "not a boolean"  # what a projection bug could build
    bad = Mcp(entityUrn="urn:li:dataset:(urn:li:dataPlatform:wiki,b,PROD)", aspect=bad_aspect)
    try:
        with pytest.raises(PermanentError):
            store.write([good, bad], {("events", 0): 1})
        assert lite_keys(store.lite) == set()
        assert store.write_aspects([good]) == 1
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


# --- generations -------------------------------------------------------------------------


def test_rebuild_digest_swap_and_drop(tmp_path: Path) -> None:
    events = workload(6).events
    plane = make_plane(DataHubSettings(), tmp_path, TOPICS)
    live = plane.open_store()
    assert isinstance(live, DataHubStore) and plane.generations is not None
    batch = batch_of(events)
    write(live, batch)
    live.flush()
    generations = plane.generations(live)
    covered = {("events", 0): (0, len(events) - 1)}
    number = generations.allocate(plane.projection.version)
    shadow = generations.open_shadow(number)
    try:
        for start in range(0, len(events), 25):
            write(shadow, batch_of(events[start : start + 25], start=start))
        shadow.flush()
    finally:
        shadow.close()
    built, current = generations.digest(number, covered), generations.digest(LIVE, covered)
    assert current.comparable and built.value == current.value
    assert all(d.equal for d in generations.diff(number, covered))
    generations.finish(number, covered, built, {})
    generations.swap(number)
    live.close()
    base = tmp_path / "datahub"
    assert live_dir(base) == base / "generations" / f"g{number}"
    reopened = plane.open_store()  # follows the pointer, with the shadow's watermark
    try:
        assert reopened.watermark() == {("events", 0): len(events) - 1}
        assert Path(reopened.lite.location()) == lite_path(DataHubSettings(), tmp_path)  # type: ignore[attr-defined]
        gens = plane.generations(reopened)
        gens.drop(0)
        assert not (base / "lite.sqlite").exists()
        with pytest.raises(Exception, match="live"):
            gens.drop(number)
    finally:
        reopened.close()


def test_a_shadow_behind_live_is_reported_not_comparable(tmp_path: Path) -> None:
    events = workload(3).events
    plane = make_plane(DataHubSettings(), tmp_path, TOPICS)
    live = plane.open_store()
    assert plane.generations is not None
    try:
        write(live, batch_of(events[:10]))
        live.flush()
        digest = plane.generations(live).digest(LIVE, {("events", 0): (0, len(events) - 1)})
        assert not digest.comparable and "live watermark" in digest.note
    finally:
        live.close()


# --- the CLI -----------------------------------------------------------------------------


def _cli() -> Any:
    # the CLI package imports every command module, some of them runtime modules the
    # plane redesign is still rewriting: skip (not fail) until they import again
    cli = pytest.importorskip(
        "proofstream.cli", reason="the CLI package does not import yet", exc_type=ImportError
    )
    return cli.app


def test_cli_export_writes_an_ingestible_file(tmp_path: Path) -> None:
    from datahub.ingestion.source.file import read_metadata_file
    from typer.testing import CliRunner

    from proofstream.settings import Settings

    app = _cli()

    store = open_store(tmp_path)
    write(store, batch_of(workload().events))
    store.flush()
    expected = {m.entityUrn for m in store.lite.get_all_aspects()}
    store.close()
    out = tmp_path / "export" / "catalog.json"
    result = CliRunner().invoke(
        app, ["catalog", "export", "--out", str(out)], obj=Settings(state_dir=tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert {str(getattr(i, "entityUrn", "")) for i in read_metadata_file(out)} == expected
    missing = CliRunner().invoke(
        app, ["catalog", "export"], obj=Settings(state_dir=tmp_path / "empty")
    )
    assert missing.exit_code != 0


def test_cli_reindex_builds_lites_browse_index(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from proofstream.settings import Settings

    app = _cli()
    store = open_store(tmp_path)
    write(store, batch_of(workload(3).events))
    store.flush()
    path = Path(store.lite.location())
    store.close()
    reader = open_lite(path, read_only=True)
    try:
        assert reader.ls("/") == []  # the worker leaves the browse index to reindex
    finally:
        reader.close()
    result = CliRunner().invoke(app, ["catalog", "reindex"], obj=Settings(state_dir=tmp_path))
    assert result.exit_code == 0, result.output
    reader = open_lite(path, read_only=True)
    try:
        top = {entry.name for entry in reader.ls("/")}
        platforms = {entry.name for entry in reader.ls("/data_platforms")}
    finally:
        reader.close()
    assert {"data_platforms", "dataprocessinstances"} <= top
    assert {"fractalops", "github"} <= platforms
