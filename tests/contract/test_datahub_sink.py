"""``DataHubSink`` on a real DataHub Lite store (SQLite): the shared sink contract,
deterministic URNs, idempotent upserts, an export ``datahub ingest`` can load, and
a mapping that covers every entity of the seed's DataHub list.

The catalog keeps no per-event record, so for the contract a batch's "ids" are the
``(urn, aspect)`` pairs it projects to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from schemas.errors import SinkUnavailableError
from schemas.events import KnowledgeAssetUpdated, LineageDeclared, LineageRef, LineageRefKind
from sinks.base import LoggedEvent, Sink
from sinks.catalog import KIND, MAPPING, CatalogProjection, aspects_digest
from sinks.datahub import DataHubSettings, DataHubSink, lite_path, open_lite
from tests import factories
from tests.contract.sink_contract import SinkContract, make_batch
from tests.workload_batch import logged, workload_batch

pytest.importorskip("datahub")

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


def _open(tmp_path: Path) -> DataHubSink:
    return DataHubSink.open(DataHubSettings(), tmp_path)


def _keys(sink: DataHubSink) -> set[str]:
    return {f"{m.entityUrn} {m.aspectName}" for m in sink.lite.get_all_aspects()}


class TestDataHubSinkContract(SinkContract):
    def make_sink(self, tmp_path: Path) -> Sink:
        return _open(tmp_path)

    def stored_ids(self, sink: Sink) -> set[str]:
        assert isinstance(sink, DataHubSink)
        platform = CatalogProjection().platform_mcps(
            ["fractalops.agent-actions.v1"], __import__("schemas.catalog").catalog.load_catalog()
        )
        return _keys(sink) - {f"{m.entityUrn} {m.aspectName}" for m in platform}

    def _ids(self, batch: Sequence[LoggedEvent]) -> set[str]:
        return {f"{m.entityUrn} {m.aspectName}" for m in CatalogProjection().project_batch(batch)}

    def test_write_is_idempotent(self, sink: Sink) -> None:
        # The shared test also asserts one stored id per event; the catalog has fewer.
        batch = make_batch(20)
        sink.write(batch)
        sink.flush()
        before = self.stored_ids(sink)
        sink.write(batch)
        sink.write(batch[5:12])
        sink.flush()
        assert self.stored_ids(sink) == before == self._ids(batch)


def _extra() -> list[LoggedEvent]:
    common = {
        "producer": factories.producer(),
        "actor": factories.agent(),
        "subject": factories.subject(run_id="run-x"),
    }
    return logged(
        [
            KnowledgeAssetUpdated(
                **common, asset_ref="wiki/Onboarding", digest="c" * 64, stale=True
            ),
            LineageDeclared(
                **common,
                inputs=[LineageRef(kind=LineageRefKind.DATASET, name="warehouse.orders")],
                outputs=[
                    LineageRef(kind=LineageRefKind.API, name="GET /orders"),
                    LineageRef(kind=LineageRefKind.FEATURE, name="orders.late_ratio"),
                ],
            ),
        ]
    )


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataHubSink]:
    sink = _open(tmp_path_factory.mktemp("datahub"))
    sink.write(workload_batch())
    sink.write(_extra())
    sink.flush()
    yield sink
    sink.close()


def test_mapping_covers_every_seed_entity(populated: DataHubSink) -> None:
    assert set(MAPPING) == set(SEED_ENTITIES)
    kinds = set()
    for entity in populated.lite.get_all_entities():
        for aspects in entity.values():
            for aspect in aspects.values():
                if isinstance(aspect, dict) and KIND in (aspect.get("customProperties") or {}):
                    kinds.add(aspect["customProperties"][KIND])
    for seed in SEED_ENTITIES:
        assert KINDS[seed] <= kinds, seed


def test_urns_are_deterministic() -> None:
    proj = CatalogProjection()
    first = [(m.entityUrn, m.aspectName) for m in proj.project_batch(workload_batch())]
    again = [
        (m.entityUrn, m.aspectName) for m in CatalogProjection().project_batch(workload_batch())
    ]
    assert first == again
    assert proj.github_urn("pull", "acme/storefront#12") == (
        "urn:li:dataset:(urn:li:dataPlatform:github,acme/storefront/pull/12,PROD)"
    )
    assert proj.evidence_urn("ab" * 32) == (
        f"urn:li:dataset:(urn:li:dataPlatform:chronicle,{'ab' * 32},PROD)"
    )
    assert (
        proj.knowledge_urn("a,b (c)")
        == "urn:li:dataset:(urn:li:dataPlatform:wiki,a%2Cb%20%28c%29,PROD)"
    )
    assert (
        proj.run_urn("p", "run-1", 1)
        == proj.run_urn("p", "run-1", 1)
        != proj.run_urn("p", "run-1", 2)
    )
    assert all(m.validate() for m in proj.project_batch(workload_batch() + _extra()))


def test_rewrite_changes_nothing(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    batch = workload_batch()
    sink.write(batch)
    sink.flush()
    digest, written = sink.digest(), sink.aspects_written
    sink.write(batch)
    sink.write(batch[30:70])
    assert sink.aspects_written == written  # nothing new to write
    sink.close()
    reopened = _open(tmp_path)  # a fresh process writes again: Lite sees equal aspects
    try:
        reopened.write(batch)
        reopened.flush()
        assert reopened.digest() == digest
        assert reopened.watermark() == {("events", 0): len(batch) - 1}
    finally:
        reopened.close()


def test_replay_in_any_cut_gives_the_same_digest(tmp_path: Path) -> None:
    batch = workload_batch()
    whole = CatalogProjection().project_batch(batch)
    digest = aspects_digest((str(m.entityUrn), str(m.aspectName), m.aspect.to_obj()) for m in whole)  # type: ignore[union-attr]
    left, right = _open(tmp_path / "a"), _open(tmp_path / "b")
    try:
        left.write(batch)
        for i in range(0, len(batch), 17):
            right.write(batch[i : i + 17])
        assert left.digest() == right.digest()
    finally:
        left.close()
        right.close()
    assert len(digest) == 64


def test_lite_reads_the_store(populated: DataHubSink) -> None:
    pr = populated.projection.github_urn("pull", "fractalops/portal#200")
    got = populated.lite.get(pr, None)
    assert got is not None
    assert got["datasetProperties"]["customProperties"]["closes_issue"] == "fractalops/portal#100"  # type: ignore[index]
    hits = list(
        populated.lite.search(
            "fractalops/portal#200",
            flavor=__import__(
                "datahub.lite.lite_local", fromlist=["SearchFlavor"]
            ).SearchFlavor.FREE_TEXT,
        )
    )
    assert any(hit.id == pr for hit in hits)
    topic = "urn:li:dataset:(urn:li:dataPlatform:kafka,fractalops.agent-actions.v1,PROD)"
    schema = populated.lite.get(topic, ["schemaMetadata"])
    assert schema is not None
    paths = [f["fieldPath"] for f in schema["schemaMetadata"]["fields"]]  # type: ignore[index]
    assert "[version=2.0].[type=RunStarted].[type=string].goal" in paths
    table = "urn:li:dataset:(urn:li:dataPlatform:clickhouse,proofstream.proof_facts,PROD)"
    fields = populated.lite.get(table, ["schemaMetadata"])["schemaMetadata"]["fields"]  # type: ignore[index]
    assert {"fieldPath": "log_offset", "nativeDataType": "UInt64"}.items() <= next(
        f for f in fields if f["fieldPath"] == "log_offset"
    ).items()


def test_export_is_loadable_by_datahubs_file_source(populated: DataHubSink, tmp_path: Path) -> None:
    from datahub.ingestion.api.common import PipelineContext
    from datahub.ingestion.source.file import GenericFileSource, read_metadata_file

    out = tmp_path / "catalog.json"
    count = populated.export(out)
    items = list(read_metadata_file(out))
    assert len(items) == count > 100
    urns = {str(getattr(i, "entityUrn", "")) for i in items}
    assert (
        populated.projection.evidence_urn(
            next(
                e.record["sha256"] for e in workload_batch() if e.event_type == "evidence.recorded"
            )
        )
        in urns
    )
    source = GenericFileSource.create({"path": str(out)}, PipelineContext(run_id="export-test"))
    units = list(source.get_workunits())
    assert len(units) >= count
    assert not source.get_report().failures


def test_read_only_lite_sees_the_store_while_open(populated: DataHubSink, tmp_path: Path) -> None:
    path = lite_path(DataHubSettings(), tmp_path)
    sink = DataHubSink.open(DataHubSettings(), tmp_path)
    try:
        sink.write(workload_batch())
        sink.flush()
        reader = open_lite(path, read_only=True)
        try:
            assert set(reader.list_ids()) == {m.entityUrn for m in sink.lite.get_all_aspects()}
        finally:
            reader.close()
    finally:
        sink.close()
    with pytest.raises(SinkUnavailableError):
        open_lite(tmp_path / "missing" / "lite.sqlite", read_only=True)


def test_gms_unreachable_is_retryable(tmp_path: Path) -> None:
    from pydantic import SecretStr

    settings = DataHubSettings(gms_url="http://127.0.0.1:9", token=SecretStr("tok"))
    with pytest.raises(SinkUnavailableError) as info:
        DataHubSink.open(settings, tmp_path)
    assert "tok" not in str(info.value)


def test_closed_sink_is_unavailable(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    sink.close()
    with pytest.raises(SinkUnavailableError):
        sink.write(make_batch(1))


def test_cli_export_writes_an_ingestible_file(tmp_path: Path) -> None:
    from datahub.ingestion.source.file import read_metadata_file
    from typer.testing import CliRunner

    from proofstream.cli import app
    from proofstream.settings import Settings

    sink = _open(tmp_path)
    sink.write(workload_batch())
    sink.flush()
    expected = {m.entityUrn for m in sink.lite.get_all_aspects()}
    sink.close()
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
