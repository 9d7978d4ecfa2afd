"""The facts plane on a real embedded chDB: the store contract (live and generation
stores), the rows ClickHouse makes from our Avro (held against the former Python
mapping), schema evolution, isolation of a corrupt record, dedup, migrations.

chDB allows one engine directory per process, so every store here is closed before
the next one opens (fixtures are function- or class-scoped, never overlapping).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from pydantic import ValidationError

from processors.checkpoint import Checkpoint, RetryPolicy
from processors.dlq import DeadLetter
from schemas.codec import EventCodec
from schemas.errors import ConfigError, PermanentError, SinkUnavailableError
from sinks.base import Batch, LogPosition, LogRecord, Projection, Store
from sinks.decode import Needs, decode
from sinks.facts.generations import ClickHouseGenerations
from sinks.facts.migrate import apply_migrations, column_types, ensure_pipeline, load_migrations
from sinks.facts.projection import FactsProjection
from sinks.facts.settings import ClickHouseSettings, backend_of
from sinks.facts.store import TRANSIENT_CODES, ClickHouseStore, is_unavailable
from sinks.facts.views import TABLE_COLUMNS, pipeline_statements
from tests import factories, facts_reference, facts_scenario
from tests.contract.store_contract import StoreContract, batch_for, records_of, run_started
from tests.workload_batch import workload

pytest.importorskip("chdb")

CODEC = EventCodec()


def _open(tmp_path: Path) -> ClickHouseStore:
    return ClickHouseStore.open(ClickHouseSettings(), tmp_path)


def _rows(store: ClickHouseStore, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in store.client.query(sql).result_rows]


def _count(store: ClickHouseStore, sql: str) -> int:
    return int(_rows(store, sql)[0][0])


def _ids(store: Store[Any]) -> set[str]:
    assert isinstance(store, ClickHouseStore)
    return {
        str(r[0]) for r in _rows(store, f"SELECT event_id FROM proof_facts{store.suffix} FINAL")
    }


def apply(store: ClickHouseStore, records: Sequence[LogRecord]) -> None:
    projection = FactsProjection(CODEC)
    batch = batch_for(projection, records)
    store.write(projection.project(batch), batch.upto)
    store.flush()


class TestFactsStoreContract(StoreContract):
    def make_projection(self) -> Projection[Any]:
        return FactsProjection(CODEC)

    def make_store(self, tmp_path: Path) -> Store[Any]:
        return _open(tmp_path)

    def stored_keys(self, store: Store[Any]) -> set[str]:
        return _ids(store)


class TestFactsGenerationStoreContract(StoreContract):
    """A shadow generation is the same store class on suffixed tables."""

    def make_projection(self) -> Projection[Any]:
        return FactsProjection(CODEC)

    def make_store(self, tmp_path: Path) -> Store[Any]:
        live = _open(tmp_path)
        generations = ClickHouseGenerations(live, CODEC.catalog, 1)
        building = [g for g in generations.generations() if g.status.value == "building"]
        number = building[0].number if building else generations.allocate(1)
        shadow = generations.open_shadow(number)
        _ShadowOwner.attach(shadow, live)
        return shadow

    def stored_keys(self, store: Store[Any]) -> set[str]:
        return _ids(store)


class _ShadowOwner:
    """Closes the live store (which owns the client) when its shadow is closed."""

    @staticmethod
    def attach(shadow: ClickHouseStore, live: ClickHouseStore) -> None:
        close = shadow.close

        def close_both() -> None:
            close()
            live.close()

        shadow.close = close_both  # type: ignore[method-assign]


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[ClickHouseStore]:
    opened = _open(tmp_path)
    yield opened
    opened.close()


# --- the rows ClickHouse makes ---------------------------------------------------------


def _normal(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    if isinstance(value, bytes):  # FixedString columns come back as bytes
        return value.decode()
    return value


def _table(store: ClickHouseStore, table: str) -> list[tuple[Any, ...]]:
    columns = ", ".join(TABLE_COLUMNS[table])
    rows = _rows(store, f"SELECT {columns} FROM {table} FINAL ORDER BY event_id")
    return [tuple(_normal(v) for v in row) for row in rows]


def _reference(records: Sequence[LogRecord]) -> dict[str, list[tuple[Any, ...]]]:
    decoded = decode(CODEC, records, Needs(decode=None))
    tables = facts_reference.FactsProjection().project(decoded.events)
    return {
        name: sorted(zip(*rows.data, strict=True), key=lambda r: str(r[0]))
        for name, rows in tables.items()
    }


def test_rows_equal_the_former_python_mapping_on_the_workload(store: ClickHouseStore) -> None:
    records = [
        LogRecord(LogPosition("events", i % 3, i), None, CODEC.encode(e))
        for i, e in enumerate(workload(60).events)
    ]
    records += facts_scenario.records(CODEC, partition=5)
    apply(store, records)
    expected = _reference(records)
    for table in TABLE_COLUMNS:
        assert _table(store, table) == expected[table], table
        assert len(expected[table]) > 0


def test_one_fact_per_event_with_log_coordinates(store: ClickHouseStore) -> None:
    records = facts_scenario.records(CODEC)
    apply(store, records)
    rows = _rows(
        store,
        "SELECT log_topic, log_partition, log_offset, ingest_version"
        " FROM proof_facts FINAL ORDER BY log_offset",
    )
    assert [r[2] for r in rows] == list(range(len(records)))
    assert {(r[0], r[1], r[3]) for r in rows} == {("events", 0, 1)}


def test_typed_tables_and_links(store: ClickHouseStore) -> None:
    apply(store, facts_scenario.records(CODEC))
    counts = {t: _count(store, f"SELECT count() FROM {t} FINAL") for t in TABLE_COLUMNS}
    assert counts == {
        "proof_facts": 120, "runs": 5, "tool_calls": 103, "deliveries": 7, "evidence": 2,
        "handoffs": 3,
    }  # fmt: skip
    repo = facts_scenario.REPO
    links = dict(
        _rows(
            store,
            "SELECT ref, closes_issue_ref FROM deliveries FINAL WHERE event_type = 'pr.opened'",
        )
    )
    assert links == {f"{repo}#10": f"{repo}#1", f"{repo}#11": f"{repo}#2"}
    assert _rows(store, "SELECT DISTINCT leaf_index, tree_size, ledger_root FROM evidence") == [
        (None, None, None)
    ]
    payload = _rows(
        store,
        "SELECT payload FROM proof_facts FINAL"
        " WHERE event_type = 'run.started' AND run_id = 'run-1'",
    )
    assert payload == [('{"goal":"fix issue #1","parent_run_id":null}',)]


def test_a_v1_and_a_v2_writer_land_in_the_same_columns(store: ClickHouseStore) -> None:
    catalog = CODEC.catalog
    v1 = next(v for v in catalog.versions("tool.invoked") if v.version == 1)
    current = catalog.current("tool.invoked")
    assert v1.fingerprint != current.fingerprint
    event = factories.tool_invoked(n=1)
    new = CODEC.encode(event)
    record = CODEC.decode_record(new)
    record.pop("retries")
    import io

    from fastavro import schemaless_writer

    body = io.BytesIO()
    schemaless_writer(body, v1.parsed_raw, record)
    old = b"\xc3\x01" + v1.fingerprint + body.getvalue()
    twin = factories.tool_invoked(n=2)
    apply(store, [LogRecord(LogPosition("events", 0, 0), None, old),
                  LogRecord(LogPosition("events", 0, 1), None, CODEC.encode(twin))])  # fmt: skip
    rows = _rows(
        store, "SELECT event_id, retries, mcp_server, tool FROM tool_calls FINAL ORDER BY event_id"
    )
    assert {r[0] for r in rows} == {str(event.event_id), str(twin.event_id)}
    assert {r[1] for r in rows} == {0}  # v1 has no retries: the v2 default
    assert {r[2:] for r in rows} == {("github", "create_pull_request")}


def test_an_upcast_writer_is_reencoded_and_lands(store: ClickHouseStore) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"
    golden = sorted(fixture.rglob("*lineage*v1*")) or sorted(fixture.rglob("*.bin"))
    if not golden:
        pytest.skip("no LineageDeclared v1 golden fixture")
    raw = golden[0].read_bytes()
    assert CODEC.upcasts(raw[2:10])
    apply(store, [LogRecord(LogPosition("events", 0, 0), None, raw)])
    assert (
        _count(store, "SELECT count() FROM proof_facts FINAL WHERE event_type = 'lineage.declared'")
        == 1
    )


def test_a_corrupt_body_in_a_good_block_reaches_the_dlq_alone(store: ClickHouseStore) -> None:
    events = [factories.tool_invoked(n=i) for i in range(8)]
    raws = [CODEC.encode(e) for e in events]
    bad = raws[3]
    raws[3] = bad[:10] + bad[10:-20] + b"\xff" * 20  # valid header, garbage at the end
    records = [LogRecord(LogPosition("events", 0, i), None, v) for i, v in enumerate(raws)]
    letters: list[DeadLetter] = []

    class Letters:
        def publish(self, dead: Sequence[DeadLetter]) -> None:
            letters.extend(dead)

    class Commits:
        def commit(self, upto: Mapping[tuple[str, int], int]) -> None:
            self.upto = dict(upto)

    # the decode step only reads headers for the facts plane: the body reaches ClickHouse
    decoded = decode(CODEC, records, Needs.of([FactsProjection(CODEC)]))
    assert not decoded.rejected
    commits = Commits()
    checkpoint = Checkpoint(
        FactsProjection(CODEC), store, Letters(), commits, retry=RetryPolicy(0.001, 0.01)
    )
    result = checkpoint.run(decoded)
    assert [d.record.position.offset for d in letters] == [3]
    assert letters[0].error == "PermanentError" and "land_tool_invoked" in letters[0].reason
    assert result.applied == 7
    assert _ids(store) == {str(e.event_id) for i, e in enumerate(events) if i != 3}
    assert commits.upto == {("events", 0): 7}


def test_a_rejected_block_is_a_permanent_error(store: ClickHouseStore) -> None:
    raw = CODEC.encode(factories.tool_invoked())
    broken = raw[:12] + b"\x7f" * 8  # truncated body
    projection = FactsProjection(CODEC)
    batch = batch_for(projection, [LogRecord(LogPosition("events", 0, 0), None, broken)])
    with pytest.raises(PermanentError, match="rejected 1 record"):
        store.write(projection.project(batch), batch.upto)


# --- idempotence ---------------------------------------------------------------------


def test_duplicate_batch_changes_nothing(store: ClickHouseStore) -> None:
    records = records_of([run_started(0, o) for o in range(30)])
    apply(store, records)
    apply(store, records[10:20])  # a differently cut redelivery: collapsed by FINAL
    apply(store, records)
    assert _count(store, "SELECT count() FROM proof_facts FINAL") == 30
    assert _count(store, "SELECT uniqExact(event_id) FROM proof_facts") == 30
    assert _count(store, "SELECT count() FROM runs FINAL") == 30


def test_dedup_token_drops_the_exact_same_block_before_it_is_written(
    store: ClickHouseStore,
) -> None:
    records = records_of([run_started(0, o) for o in range(12)])
    apply(store, records)
    apply(store, records)
    # Without FINAL: the second insert never became a part, thanks to the token,
    # in the views' target tables too.
    assert _count(store, "SELECT count() FROM proof_facts") == 12
    assert _count(store, "SELECT count() FROM runs") == 12


def test_block_tokens_name_exactly_the_positions() -> None:
    projection = FactsProjection(CODEC)
    events = [run_started(0, o) for o in range(10)]
    full = projection.project(batch_for(projection, records_of(events)))
    (block,) = full.blocks
    assert ":v1:events:0:0-9:" in block.token
    gapped = records_of(events)
    del gapped[4]
    (other,) = projection.project(batch_for(projection, gapped)).blocks
    assert other.token != block.token
    assert (
        FactsProjection(CODEC, version=2)
        .project(batch_for(projection, records_of(events)))
        .blocks[0]
        .token
        != block.token
    )


# --- migrations and settings ------------------------------------------------------------


def test_migrations_and_ingest_views_are_idempotent_on_reopen(tmp_path: Path) -> None:
    first = _open(tmp_path)
    try:
        versions = [m.version for m in load_migrations()]
        assert versions == sorted(versions) and versions[:2] == [1, 2]
        assert apply_migrations(first.client) == []  # everything already applied
        views = _count(first, "SELECT count() FROM system.tables WHERE name LIKE 'mv\\_%'")
        assert views == len(CODEC.catalog.event_types) + 9  # proof_facts per type + typed
    finally:
        first.close()
    second = _open(tmp_path)  # re-running on open is a no-op too
    try:
        assert _count(second, "SELECT count() FROM schema_migrations") == len(versions)
        assert _count(second, "SELECT count() FROM ingest_pipelines") == 1
    finally:
        second.close()


def test_a_replaced_pipeline_is_dropped_through_the_layouts_ddl(store: ClickHouseStore) -> None:
    """On a cluster the layout's DDL adds ON CLUSTER: the drops of a replaced pipeline
    must go through it too, or the other nodes keep their old views."""
    client = store.client
    seen: list[str] = []

    def ddl(statement: str) -> list[str]:
        seen.append(statement)
        return [statement]

    statements = pipeline_statements(CODEC.catalog, 1, column_types(client))
    assert ensure_pipeline(client, "", statements, "another checksum", ddl)
    drops = [s for s in seen if s.startswith("DROP")]
    names = [name for name, _ in statements]
    assert drops == [
        f"DROP TABLE IF EXISTS `{n}`"
        for n in [
            *(n for n in names if n.startswith("mv_")),
            *(n for n in names if not n.startswith("mv_")),
        ]
    ]
    views = _count(store, "SELECT count() FROM system.tables WHERE name LIKE 'mv\\_%'")
    assert views == len(CODEC.catalog.event_types) + 9  # recreated, as before


def test_rebuilding_on_a_cluster_is_refused_before_anything_is_made(
    store: ClickHouseStore,
) -> None:
    clustered = ClickHouseStore(store.client, owns_client=False, cluster="proofstream")
    generations = ClickHouseGenerations(clustered, CODEC.catalog, 1)
    with pytest.raises(ConfigError, match="cluster proofstream is not supported"):
        generations.allocate(1)
    assert [g.number for g in generations.generations()] == [0]
    assert _count(store, "SELECT count() FROM system.tables WHERE name LIKE '%\\_\\_g%'") == 0


def test_too_many_parts_is_an_outage_not_a_refusal(store: ClickHouseStore) -> None:
    """A server whose merges are behind refuses inserts with TOO_MANY_PARTS (252): the
    rows are good, so the checkpoint must retry the insert, not dead-letter them."""
    client = store.client
    client.command("SYSTEM STOP MERGES proof_facts")
    client.command(
        "ALTER TABLE proof_facts"
        " MODIFY SETTING parts_to_throw_insert = 1, parts_to_delay_insert = 0"
    )
    apply(store, records_of([factories.tool_invoked(n=0)]))
    second = records_of([factories.tool_invoked(n=1)], start=1)
    with pytest.raises(SinkUnavailableError, match="Too many parts"):
        apply(store, second)
    client.command("ALTER TABLE proof_facts MODIFY SETTING parts_to_throw_insert = 3000")
    apply(store, second)  # the retry, with the same dedup token, lands once
    assert _count(store, "SELECT count() FROM proof_facts FINAL") == 2
    assert _count(store, "SELECT count() FROM tool_calls FINAL") == 2


def test_the_transient_codes_are_the_servers_own(store: ClickHouseStore) -> None:
    codes = sorted(TRANSIENT_CODES)
    sql = "SELECT " + ", ".join(f"errorCodeToName({c})" for c in codes)
    names = _rows(store, sql)[0]
    assert dict(zip(codes, names, strict=True)) == dict(TRANSIENT_CODES)
    assert is_unavailable(DatabaseError("x", code=252))
    assert not is_unavailable(DatabaseError("x", code=62))  # SYNTAX_ERROR: refused for good
    assert not is_unavailable(DatabaseError("x"))


def test_changed_migration_is_refused(store: ClickHouseStore) -> None:
    changed = [m.model_copy(update={"checksum": "0" * 64}) for m in load_migrations()]
    with pytest.raises(ConfigError, match="changed after it was applied"):
        apply_migrations(store.client, changed)


def test_dsn_parsing(tmp_path: Path) -> None:
    assert ClickHouseSettings().resolve_dsn(tmp_path) == f"chdb://{tmp_path.resolve()}/clickhouse"
    assert backend_of("chdb:///var/lib/proofstream/clickhouse") == "chdb"
    assert backend_of("http://default@127.0.0.1:8123/proofstream") == "http"
    assert backend_of("https://ch.example.org:8443") == "http"
    remote = ClickHouseSettings(dsn="https://ch.example.org:8443")
    assert remote.resolve_dsn(tmp_path) == "https://ch.example.org:8443"
    for bad in ("chdb://relative/dir", "tcp://host:9000", "http://", "/plain/path"):
        with pytest.raises(ConfigError):
            backend_of(bad)
    with pytest.raises(ConfigError):
        ClickHouseSettings(dsn="mysql://h").resolve_dsn(tmp_path)


def test_a_password_in_the_dsn_is_refused_and_never_echoed() -> None:
    # refused when the settings are built, so no command ever starts with it
    with pytest.raises(ValidationError) as info:
        ClickHouseSettings(dsn="http://default:hunter2@127.0.0.1:8123")
    assert "hunter2" not in str(info.value)
    assert "clickhouse__password" in str(info.value)


def test_closed_store_is_unavailable(tmp_path: Path) -> None:
    from schemas.errors import SinkUnavailableError

    closed = _open(tmp_path)
    closed.close()
    with pytest.raises(SinkUnavailableError):
        closed.write(FactsProjection(CODEC).project(Batch()), {})


TITLES = [
    "Fixes #12",
    "closes: other/repo#3 and more",
    "Resolved #4",
    "Refers to #12",
    "FIX   a.b/c-d#77 then closes #8",
    "prefixfixes #5",
    "no keyword here",
]


def test_the_sql_closing_rule_answers_like_the_python_one(store: ClickHouseStore) -> None:
    from schemas.events import PullRequestOpened
    from schemas.refs import closes_issue_ref

    repo = facts_scenario.REPO
    events = [
        PullRequestOpened(
            producer=factories.producer(),
            actor=factories.agent("committer"),
            subject=factories.subject(),
            github_app_installation_id=1,
            delivery_identity="fractalops[bot]",
            pr_ref=f"{repo}#{100 + i}",
            title=title,
            head_sha="a" * 40,
            base_ref="main",
            attributes={"issue_ref": "x/y#9"} if i == 0 else {},
        )
        for i, title in enumerate(TITLES)
    ]
    apply(store, records_of(events))
    got = dict(_rows(store, "SELECT ref, closes_issue_ref FROM deliveries FINAL"))
    expected = {
        e.pr_ref: closes_issue_ref(e.attributes, e.title, e.subject.repository) for e in events
    }
    assert got == expected
    assert expected[f"{repo}#100"] == "x/y#9" and expected[f"{repo}#103"] is None
